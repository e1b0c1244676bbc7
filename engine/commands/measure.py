"""`check-measurements` and `calibrate`: the assumptions against measured runs."""
from __future__ import annotations

import sys

import click

from ..render.terminal import inert, shown
from .common import _csv, data_option
from .output import echo_json


@click.command("check-measurements")
@data_option
@click.option("--rules", default="default", show_default=True, metavar="SET")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
def check_measurements_cmd(data, rules, fmt):
    """Evaluate every measured run in measurements.yaml: predicted vs measured, signed error,
    median and worst per mode; then the activation rules against harness/activations.py's
    measurement (activations-measured.json: per decoder layer per token, and outside the layers).
    Exit 4 when an entry is off by more than its tolerance."""
    from ..api import load_catalog
    from ..questions import activations as A
    from ..questions import measurements as M

    cat = load_catalog(tuple(data), full=True)
    checks = M.run(cat, tuple(data), rules)
    layers, outside = A.run(tuple(data)) if rules == "default" else ([], [])
    if fmt == "json":
        echo_json({**M.as_json(checks), "activations": A.as_json(layers, outside)}, indent=2)
    elif fmt == "markdown":
        act = A.markdown(layers, outside)
        click.echo(shown(M.markdown(checks) + (f"\nActivations per decoder layer per token (`{A.FILE}`):\n\n{act}" if act else "")), nl=False)
    else:
        act = A.text(layers, outside)
        click.echo(shown(M.text(checks) + (f"\n{act}" if act else "")), nl=False)
    if any(not c.ok for c in checks) or any(not c.ok for c in (*layers, *outside)):
        sys.exit(4)


@click.command("calibrate")
@click.option("--fit", "names", required=True, metavar="NAME[,NAME...]", help="Assumptions to fit (each must declare bounds).")
@click.option("--out", type=click.Path(file_okay=False), metavar="DIR", help="Write the fitted overlay to DIR/assumptions.yaml (atomically).")
@click.option("--force", is_flag=True, help="Replace DIR/assumptions.yaml if it exists.")
@click.option("--include-gaps", is_flag=True, help="Also fit to measurements that declare a gap the rules do not model.")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="Date recorded in the overlay (default: today).")
@data_option
def calibrate_cmd(names, out, force, include_gaps, today, data):
    """Fit the named assumptions to the measurements (least squares on relative error, within
    their bounds); print old and new values and the before/after errors; write a sourced overlay."""
    import datetime
    from pathlib import Path

    from ..api import load_catalog
    from ..questions import calibrate as C

    cat = load_catalog(tuple(data), full=True)
    fit = C.run(cat, _csv(names), include_gaps=include_gaps)
    day = today.date() if today else datetime.date.today()
    for n, old, new in zip(fit.names, fit.old, fit.new):
        why = "  (no measurement depends on it: unchanged)" if n in fit.insensitive else ""
        click.echo(shown(f"assume.{inert(n)}: {inert(C.formatted(cat, n, old))} -> {inert(C.formatted(cat, n, new))}{why}"))
    click.echo(f"\n{'measurement':36s} {'before':>8s} {'after':>8s}")
    for mid in fit.used:
        click.echo(shown(f"{inert(mid):36s} {fit.before[mid]:+8.1%} {fit.after[mid]:+8.1%}"))
    import statistics

    def med(d):
        return statistics.median(abs(v) for v in d.values())
    click.echo(f"{'median |error|':36s} {med(fit.before):8.1%} {med(fit.after):8.1%}")
    for mid, why in fit.skipped.items():
        click.echo(shown(f"skipped {inert(mid)}: {inert(why)}"))
    if out:
        from ..writefile import atomic_write

        Path(out).mkdir(parents=True, exist_ok=True)
        path = atomic_write(Path(out) / "assumptions.yaml", C.overlay(cat, fit, day), force=force)
        click.echo(shown(f"\nwrote {inert(path)}; review it with: vramrules diff builtin {inert(out)}"))
