"""`diff` and `report`: reviewing a change to the assumptions."""
from __future__ import annotations

import sys

import click

from ..errors import UsageError
from ..render.terminal import inert, shown
from .common import UNITS, _csv, _progress, data_option
from .output import echo_json


@click.command("diff")
@click.argument("base")
@click.argument("new")
@click.option("--models", metavar="A,B", help="Only these models (default: the whole catalog).")
@click.option("--modes", metavar="A,B", help="Only these modes (default: every mode).")
@click.option("--gpus", "gpu_list", metavar="A,B", help="Reference GPUs (default: h100-sxm-80gb,a100-40gb,rtx-4090,l4).")
@click.option("--matrix", "matrix_file", type=click.Path(dir_okay=False), help="YAML file: scenarios: [{model, mode, gpu, ...options}].")
@click.option("--rules", default="default", show_default=True, metavar="SET")
@click.option("--units", type=click.Choice(UNITS), default="GiB", show_default=True)
@click.option("--limit", type=int, default=20, show_default=True, help="Moved estimates to list.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--every", is_flag=True, help="Evaluate every scenario on both sides, also those no changed entry reaches "
              "(by default a scenario whose model and GPU are written the same on both sides, with nothing else changed, keeps its answer).")
@click.option("--fail-on", "fail_on", type=click.Choice(["flip", "move"]),
              help="Exit 4 when any verdict flips (move: or any estimate moves), and whenever a scenario could not be "
                   "evaluated on the new data (a gate never passes on scenarios it did not evaluate).")
def diff_cmd(base, new, models, modes, gpu_list, matrix_file, rules, units, limit, fmt, every, fail_on):
    """What changing the data does: BASE and NEW are data directories (overlaid on the built-in
    data), 'builtin', or git:REV:PATH (e.g. git:main:org-data/).

    \b
      vramrules diff git:main:org-data/ org-data/ --format markdown --fail-on flip
    """
    from ..questions.diff import impact
    from ..render import impact as R

    imp = impact(base, new, models=_csv(models), modes=_csv(modes), gpus=_csv(gpu_list), rules=rules,
                 matrix_file=matrix_file, progress=_progress() if fmt == "text" else None, every=every)
    if fmt == "json":
        echo_json(R.as_json(imp, units), indent=2, default=str)
    elif fmt == "markdown":
        click.echo(shown(R.markdown(imp, units, limit)))
    else:
        click.echo(R.text(imp, units, limit), nl=False)
    if fail_on and imp.unevaluated:
        n = len(imp.unevaluated)
        click.echo(shown(f"vramrules: --fail-on {fail_on}: {n} of {imp.scenarios} scenario(s) could not be evaluated "
                         f"(first: {inert(imp.unevaluated[0])}); a gate does not pass on scenarios it did not evaluate",
                         sys.stderr), err=True)
        sys.exit(4)
    if (fail_on == "flip" and imp.flips) or (fail_on == "move" and imp.moves):
        sys.exit(4)


@click.command("report")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="File to write (review.html or review.md).")
@click.option("--format", "fmt", type=click.Choice(["html", "markdown"]), help="Default: from the file's extension (.md = markdown).")
@data_option
@click.option("--base", metavar="DIR|builtin|git:REV:PATH", help="Add the impact diff from this base to the data given by --data.")
@click.option("--models", metavar="A,B")
@click.option("--modes", metavar="A,B")
@click.option("--gpus", "gpu_list", metavar="A,B", help="Reference GPUs for the capacity lines and verdicts.")
@click.option("--rules", default="default", show_default=True, metavar="SET")
@click.option("--units", type=click.Choice(UNITS), default="GiB", show_default=True)
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="Report date (default: today).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def report_cmd(out, fmt, data, base, models, modes, gpu_list, rules, units, today, force):
    """Write a policy-review report: assumptions with sources and review dates, the scenario
    matrix as stacked bars against each GPU's capacity, and with --base the impact diff.
    HTML is one self-contained file (no scripts, no network)."""
    from ..questions.report import build
    from ..writefile import atomic_write

    if base is not None and len(data) > 1:
        raise UsageError("--base compares against one --data directory; give at most one")
    fmt = fmt or ("markdown" if out.endswith((".md", ".markdown")) else "html")
    rep = build(tuple(data), base, _csv(models), _csv(modes), _csv(gpu_list), rules, today.date() if today else None, _progress())
    if fmt == "html":
        from ..render.html import render
    else:
        from ..render.report_markdown import render
    path = atomic_write(out, render(rep, units), force=force)
    click.echo(f"wrote {shown(inert(path))} ({len(rep.rows)} scenarios, {len(rep.assumptions)} assumptions"
               + (f", {len(rep.impact.flips)} flipped verdicts" if rep.impact is not None else "")
               + (f", {len(rep.impact.failed) + len(rep.impact.errors)} not evaluated" if rep.impact is not None and (rep.impact.failed or rep.impact.errors) else "")
               + ")")
