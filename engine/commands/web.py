"""`vramrules web`: the policy as one self-contained HTML calculator."""
from __future__ import annotations

import click

from ..render.terminal import inert, shown
from .common import data_option, set_option


@click.command("web")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="File to write (calc.html).")
@data_option
@set_option
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def web_cmd(out, data, sets, force):
    """Write the calculator: one HTML file, no network, that evaluates the rules (compiled to
    JavaScript from the same checked formulas as the CLI) over the resolved catalog, with
    --data overlays and --set values built in. Open it from disk or publish it anywhere.

    \b
      vramrules web --out calc.html
      vramrules web --out org-calc.html --data org-data/ --set assume.cuda_context='1 GiB'
    """
    from ..api import load_catalog
    from ..render.web_page import render
    from ..writefile import atomic_write

    cat = load_catalog(tuple(data), sets=tuple(sets))
    label = "built-in data" + "".join(f" + --data {d}" for d in data)
    page = render(cat, label, tuple(sets), tuple(data))
    path = atomic_write(out, page, force=force)
    n = {k: len(cat.kind(k)) for k in ("model", "gpu")}
    modes = sum(len(rs.modes) for rs in cat.rulesets.values())
    click.echo(f"wrote {shown(inert(path))} ({len(page.encode('utf-8')) / 1e6:.2f} MB: {n['model']} models, {n['gpu']} GPUs, "
               f"{modes} modes compiled to JavaScript, {len(cat.assumptions)} assumptions)")
