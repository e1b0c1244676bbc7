"""What the command modules share: options, small helpers. No arithmetic."""
from __future__ import annotations

import sys

import click

from .completion import completer

UNITS = ("GiB", "GB", "MiB", "MB", "TiB", "TB", "B")

mode_option = click.option("--mode", default=None, metavar="MODE", shell_complete=completer("mode"),
                           help="inference, train-full, train-lora, train-qlora, serve (vramrules list modes). "
                                "Default: inference, or the mode --engine implies (serve).")
rules_option = click.option("--rules", default=None, metavar="SET", shell_complete=completer("ruleset"),
                            help="Rule set: default, or thumb (the classic rules of thumb). Default: default, or the one --engine selects "
                                 "(llama.cpp: llamacpp).")
set_option = click.option("--set", "sets", multiple=True, metavar="assume.NAME=VALUE",
                          help="Override an assumption for this run, e.g. --set assume.cuda_context='1 GiB' (repeatable).")
units_option = click.option("--units", type=click.Choice(UNITS), default="GiB", show_default=True,
                            help="Display unit (GiB = 2^30 B, GB = 10^9 B).")
data_option = click.option("--data", "data", multiple=True, type=click.Path(file_okay=False), metavar="DIR",
                           help="Overlay an organization's data directory (repeatable; also VRAMRULES_DATA).")


def _catalog(data):
    from ..api import load_catalog

    return load_catalog(tuple(data))


def _csv(value):
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _progress():
    """A progress line on a terminal; nothing when piped."""
    if not sys.stderr.isatty():
        return None

    def show(i, n):
        click.echo(f"\r  evaluating {i}/{n}", err=True, nl=(i == n))
    return show
