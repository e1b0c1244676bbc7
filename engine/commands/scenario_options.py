"""The scenario options of `eval`, `fit` and `sweep`, derived from the vocabulary of the data the
command runs with (data/vocabulary.yaml plus every overlay's): one declaration, three commands.

A ScenarioCommand finds `--data DIR` in its arguments before it parses them, loads that
catalog's vocabulary (from the catalog cache on a warm run) and adds one option per input and
slot, so an overlay that declares `pairs` or `ref_model` gets `--pairs` and `--ref-model`."""
from __future__ import annotations

import re

import click

from ..errors import UsageError
from .completion import completer

# Integer options take 32k (32,000) and 32K (32,768), as vLLM's --max-model-len does
# (vllm/engine/arg_utils.py, human_readable_int: lowercase decimal, uppercase binary multipliers).
_MULT = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "K": 2**10, "M": 2**20, "G": 2**30}
_HUMAN = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*$")  # a sign for inputs with a negative minimum (-ngl -2)


class HumanInt(click.ParamType):
    name = "integer"

    def __init__(self, names: dict | None = None):
        self.names = names or {}  # named values (vocabulary `names:`): -ngl auto = -1, all = -2

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if str(value).strip().lower() in self.names:
            return self.names[str(value).strip().lower()]
        m = _HUMAN.match(str(value)) if len(str(value)) <= 40 else None
        if m:
            n = float(m.group(1)) * _MULT[m.group(2)]
            if n > 1e15:
                self.fail(f"{str(value)[:20]}... is unreasonably large", param, ctx)
            if n == int(n):
                return int(n)
        named = f"; or {', '.join(self.names)}" if self.names else ""
        self.fail(f"{value!r} is not a whole number (32768, 32k = 32,000, 32K = 32,768{named})", param, ctx)


def _vocabulary(args, resilient: bool):
    """The vocabulary of the data named by --data in `args` (and VRAMRULES_DATA)."""
    from ..api import load_catalog

    data = []
    for i, a in enumerate(args):
        if a == "--":
            break
        if a == "--data" and i + 1 < len(args):
            data.append(args[i + 1])
        elif a.startswith("--data="):
            data.append(a[len("--data="):])
    try:
        return load_catalog(tuple(data)).vocabulary
    except Exception:
        if not resilient:
            raise
        return load_catalog(()).vocabulary  # completion and --help never fail on a broken overlay


def params(vocab, lists: tuple = ()) -> list:
    """One click option per CLI input and slot (and a switch pair where declared). `lists`: slots
    that take a comma-separated list (sweep)."""
    out: list = []
    for name, spec in vocab.slots.items():
        if not spec.cli:
            continue
        many = name in lists
        out.append(click.Option([spec.option, *spec.aliases, name], metavar="A,B" if many else "ID",
                                shell_complete=completer(spec.selects),
                                help=spec.description + (" Several, comma-separated." if many else "")))
    for name, spec in vocab.inputs.items():
        if not spec.cli:
            continue
        decls = [spec.option, *spec.aliases, name]
        if spec.decl == "boolean":
            neg = "--no-" + spec.option[2:]
            out.append(click.Option([f"{spec.option}/{neg}", name], default=None, help=spec.description))
            continue
        if spec.decl == "integer":
            rng = f"{spec.minimum:g}-{spec.maximum:g}" if spec.minimum is not None and spec.maximum is not None else "N"
            out.append(click.Option(decls, name, type=HumanInt(spec.names), metavar=rng, help=spec.description))
        elif spec.decl == "number":
            out.append(click.Option(decls, name, type=float, metavar="X", help=spec.description))
        elif spec.decl == "choice":
            out.append(click.Option(decls, name, type=click.Choice(list(spec.choices)), help=spec.description))
        else:
            out.append(click.Option(decls, name, metavar="QUANTITY", help=spec.description))
        if spec.switch:
            sw = spec.switch
            out.append(click.Option([f"{sw['on']}/{sw['off']}", f"{name}__switch"], default=None,
                                    help=f"{sw['on']} = {spec.option} {sw['on_value']}; {sw['off']} = {spec.option} {sw['off_value']}."))
    return out


def values(vocab, kwargs: dict) -> dict:
    """Take the scenario options out of a command's keyword arguments: {input or slot: value},
    unset ones left out. A switch and its choice option given together is a usage error."""
    out = {}
    for name, spec in vocab.inputs.items():
        v = kwargs.pop(name, None)
        sw = kwargs.pop(f"{name}__switch", None)
        if sw is not None:
            if v is not None:
                raise UsageError(f"give {spec.switch['on']} or {spec.option}, not both")
            v = spec.switch["on_value"] if sw else spec.switch["off_value"]
        if v is not None:
            out[name] = v
    for name in vocab.slots:
        v = kwargs.pop(name, None)
        if v is not None:
            out[name] = v
    return out


def split(vocab, options: dict) -> tuple:
    """(model, gpu, the other options): the two role slots are the evaluation's subjects."""
    rest = dict(options)
    return rest.pop(vocab.by_role["model"].name, None), rest.pop(vocab.by_role["gpu"].name, None), rest


class ScenarioCommand(click.Command):
    """A command whose scenario options come from the vocabulary (see the module's doc)."""

    def __init__(self, *args, lists: tuple = (), **kwargs):
        super().__init__(*args, **kwargs)
        self._own = list(self.params)
        self.lists = lists

    def parse_args(self, ctx, args):
        vocab = _vocabulary(args, ctx.resilient_parsing or "--help" in args or "-h" in args)
        own = {p.name for p in self._own}
        derived = [p for p in params(vocab, self.lists) if p.name not in own]
        self.params = self._own + derived
        ctx.meta["vramrules.vocabulary"] = vocab
        return super().parse_args(ctx, args)


def vocabulary(ctx=None):
    """The vocabulary the current command was parsed with."""
    return (ctx or click.get_current_context()).meta["vramrules.vocabulary"]
