"""`list`, `validate`, `show`, `assumptions`: looking at the catalog."""
from __future__ import annotations

import sys

import click

from ..render.terminal import cells, for_stream, inert, width, wrap
from .common import _catalog, data_option
from .output import echo_json


def _cell(value) -> str:
    """A data-provided value as one line of terminal text: escapes shown, not obeyed (a name's
    ESC or newline cannot clear the screen or fake a line); fitting the stream's encoding."""
    return for_stream(inert(value))


def _echo(lines) -> None:
    """Lines built of inert() text, written in the stream's encoding."""
    for line in lines:
        click.echo(for_stream(line))


def _where(row) -> str:
    """'<- models.yaml:141:11 (built-in)': the file relative to its layer's data folder, then the layer."""
    from ..evaluation.explain import in_layer

    return f"<- {inert(in_layer(str(row['from']), str(row['layer'])))} ({inert(row['layer'])})"

LISTS = ("models", "gpus", "precisions", "modes", "optimizers", "lora-targets", "rulesets", "assumptions", "engines")


@click.command("list")
@click.argument("what", type=click.Choice(LISTS))
@click.option("--rules", default="default", show_default=True, metavar="SET", help="Rule set whose modes to list.")
@data_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_cmd(what, rules, data, fmt):
    """List catalog entries: models, gpus, precisions, modes, optimizers, lora-targets, rulesets, assumptions, engines."""
    from ..questions.listing import rows

    cat = _catalog(data)
    header, items = rows(cat, what, rules)
    if fmt == "json":
        echo_json(items, indent=2)
        return
    _echo(table_lines(header, [[inert(it.get(c, "")) for c in header] for it in items], width()))


NARROWEST = 24  # the fewest columns the last column of `list` wraps in beside its row


def table_lines(header, table, cols: int) -> list:
    """The `list` table in `cols` columns. Every column but the last (ids, numbers, units) is
    whole and aligned; the last (a name, a summary) wraps between its words under its own
    column, or, when the others leave it fewer than NARROWEST columns, on lines of its own below
    its row, indented. Nothing is cut: COLUMNS=200 gives one line per entry, --format json the
    data."""
    widths = [max([cells(c)] + [cells(r[i]) for r in table]) for i, c in enumerate(header)]
    # a middle column wider than half the width (a rule set's list of modes) goes below its row too
    below = [i for i in range(1, len(header) - 1) if widths[i] > cols // 2]
    kept = [i for i in range(len(header) - 1) if i not in below]
    start = sum(widths[i] + 2 for i in kept)
    beside = cols - start >= NARROWEST and not below

    def lines(values):
        head = "".join(values[i] + " " * (widths[i] - cells(values[i]) + 2) for i in kept)
        extra = [line for i in below if values[i] for line in wrap(values[i], cols, "    ", "      ")]
        if beside:
            return wrap(values[-1], cols, head, " " * start)
        return [head.rstrip()] + extra + (wrap(values[-1], cols, "    ") if values[-1] else [])

    out = [line.rstrip() for line in lines(list(header))]
    for r in table:
        out += [line.rstrip() for line in lines(r)]
    return out


@click.command("validate")
@data_option
@click.option("--only", is_flag=True, help="Validate the --data directories alone, without the built-in data beneath.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: a list of error objects {code, file, line, col, pointer, message, hint} ([] when valid).")
def validate_cmd(data, only, fmt):
    """Check every data file and rule set: schema, units, names, dimensions, cycles, and each
    model's derived parameter count against its published one. Exit 1 with every problem."""
    from ..api import load_catalog
    from ..errors import DataError
    from ..questions.validate import problems

    cat = load_catalog(tuple(data), builtin=not only)  # a cached catalog is one that passed every load check; only edits are checked again
    tol = cat.assumptions["param_count_tolerance"].value if "param_count_tolerance" in cat.assumptions else 0.005
    found = problems(cat, tol)
    if found:
        raise DataError(found)
    if fmt == "json":
        click.echo("[]")  # no problems: the same shape as a failing run's list of error objects
        return
    n = {k: len(v) for k, v in cat.entries.items()}
    click.echo(f"ok: {n.get('model', 0)} models, {n.get('gpu', 0)} GPUs, {n.get('precision', 0)} precisions, "
               f"{n.get('optimizer', 0)} optimizers, {len(cat.assumptions)} assumptions, rule sets: {_cell(', '.join(sorted(cat.rulesets)))}; "
               f"every derived parameter count within {tol:.1%} of the published one")


@click.command("show")
@click.argument("kind", type=click.Choice(["model", "gpu", "precision", "optimizer", "lora-target", "assumption", "rule"]))
@click.argument("ident", metavar="ID")
@click.option("--rules", default="default", show_default=True, metavar="SET", help="Rule set, for `show rule`.")
@data_option
@click.option("--set", "sets", multiple=True, metavar="assume.NAME=VALUE", help="Override an assumption, as for eval.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def show_cmd(kind, ident, rules, data, sets, fmt):
    """Print one resolved entry, each field with the file:line:col and layer it came from."""
    from ..api import load_catalog
    from ..questions.show import fields

    cat = load_catalog(tuple(data), sets=tuple(sets), full=True)
    if kind == "assumption" and ident.startswith("assume."):
        ident = ident[len("assume."):]
    rows = fields(cat, kind, ident, rules)
    if fmt == "json":
        echo_json(rows, indent=2, default=str)
        return
    _echo(show_lines(kind, ident, rows, width()))


def show_lines(kind, ident, rows, cols: int) -> list:
    """`show` in `cols` columns: each field, its value wrapped in the value column, and where it
    came from (relative to its layer's data folder). A value with a word too long for the value
    column (a URL), or any value when the field names leave that column fewer than 30 columns,
    goes on the lines below its field, indented."""
    out = [f"{kind} {inert(ident)}"]
    names = [inert(r["field"]) for r in rows]
    pad = max(cells(n) for n in names) if names else 0
    room = cols - pad - 4
    for name, r in zip(names, rows):
        value = inert(r["value"])
        if room >= 30 and all(cells(w) <= room for w in value.split(" ")):
            hang = " " * (pad + 4)
            out += wrap(value, cols, f"  {name}{' ' * (pad - cells(name))}  ", hang)
        else:
            hang = "      "
            out += [f"  {name}"] + wrap(value, cols, hang)
        out += wrap(_where(r), cols, hang + "  ", hang + "     ")
    return out


@click.command("assumptions")
@data_option
@click.option("--set", "sets", multiple=True, metavar="assume.NAME=VALUE", help="Override an assumption, as for eval.")
@click.option("--stale", type=click.IntRange(min=0), metavar="DAYS", help="Only those not reviewed within DAYS (or never); exit 4 if there are any.")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="Date to measure review age from (default: today).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def assumptions_cmd(data, sets, stale, today, fmt):
    """List the assumptions with value, owner, review date and source; --stale DAYS for CI."""
    import datetime

    from ..api import load_catalog
    from ..questions.show import assumptions

    cat = load_catalog(tuple(data), sets=tuple(sets))
    day = today.date() if today else datetime.date.today()
    rows = assumptions(cat, day, stale)
    if fmt == "json":
        echo_json(rows, indent=2)
    else:
        cols = width()
        for r in rows:
            age = "never reviewed" if r["age_days"] is None else f"reviewed {inert(r['reviewed'])} ({r['age_days']} days ago)"
            _echo(wrap(f"{inert(r['name'])} = {inert(r['value'])}   [{inert(r['owner'] or 'no owner')}; {age}]", cols, "", "    "))
            _echo(wrap(inert(r["source"]), cols, "    "))
            _echo(wrap(_where(r), cols, "    ", "       "))
        if stale is not None:
            click.echo(f"{len(rows)} assumption(s) not reviewed within {stale} days" if rows else f"every assumption reviewed within {stale} days")
    if stale is not None and rows:
        sys.exit(4)
