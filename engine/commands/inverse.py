"""`fit` and `sweep`: the inverse questions, and many scenarios at once."""
from __future__ import annotations

import re
import sys

import click

from ..errors import UsageError
from ..evaluation.engines import frame
from .common import _csv, _progress, data_option, mode_option, rules_option, set_option, units_option
from .scenario_options import HumanInt, ScenarioCommand, _vocabulary, params, split, values, vocabulary

SWEEP_LISTS = ("model", "gpu", "precision")  # sweep takes these slots as comma-separated lists


@click.command("fit", cls=ScenarioCommand)
@click.option("--model-config", type=click.Path(exists=True), metavar="PATH", help="A Hugging Face config.json, a model folder (config.json + safetensors) or a .gguf file.")
@click.option("--params", type=float, metavar="N", help="Only a parameter count, e.g. 7e9.")
@mode_option
@click.option("--max", "maximize", type=click.Choice(["seq-len", "batch", "params", "n-gpu-layers"]),
              help="Largest context, batch, parameter count (a model known by its count: no --model), or (--rules llamacpp) layers on the GPU that fits on --gpu with the given layout.")
@click.option("--min", "minimize", type=click.Choice(["n-cpu-moe"]),
              help="Smallest (--rules llamacpp) --n-cpu-moe: how many layers' MoE experts must stay in host RAM for every layer to fit on --gpu.")
@click.option("--suggest/--no-suggest", default=True, show_default=True, help="When one GPU is not enough, also try the rule set's suggested changes.")
@rules_option
@data_option
@set_option
@units_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--explain", is_flag=True, help="List every probe the search evaluated.")
def fit_cmd(model_config, params, mode, maximize, minimize, suggest, rules, data, sets, units, fmt, explain, **scenario):
    """Answer the inverse questions: how many GPUs, which GPU, how long a context, how large a batch.

    \b
      vramrules fit --model llama3-70b --mode train-lora --gpu h100-sxm-80gb      # fewest GPUs (+ cheaper changes)
      vramrules fit --model llama3.1-8b --gpu rtx-4090 --max seq-len              # longest context on one card
      vramrules fit --model qwen2.5-7b --mode serve --gpu l4 --max batch          # most concurrent sequences
      vramrules fit --model mixtral-8x7b                                          # which GPUs fit it on one card
      vramrules fit --params 1 --mode train-full --gpu h100-sxm-80gb --dp 64 --zero 3 --max params   # the largest model
      vramrules fit --model llama3.1-8b --rules llamacpp --gpu rtx-3060-12gb --seq-len 32k --max n-gpu-layers   # -ngl
      vramrules fit --model qwen3-30b-a3b --rules llamacpp --gpu rtx-4090 --min n-cpu-moe     # experts to RAM
    """
    from ..api import scenario_catalog
    from ..questions import fit as F
    from ..render.fit_format import render

    vocab = vocabulary()
    model, gpu, opts = split(vocab, values(vocab, scenario))
    # the words a check command repeats so that, pasted, it evaluates in the same catalog
    from ..reading.names import source_of

    words = {"data": tuple(data), "sets": tuple(sets), "model_config": model_config, "gpu": gpu, "units": units,
             "model_source": model if source_of(model) else None}  # hf:/ollama:/lmstudio: names are repeated as given
    cat, model, gpu, gpus = scenario_catalog(tuple(data), tuple(sets), model, model_config, gpu, opts.get("gpus"), opts)
    if gpus is not None:
        opts["gpus"] = gpus
    rules, mode = frame(cat, opts.get("engine"), rules, mode)
    if maximize and minimize:
        raise UsageError("give --max or --min, not both")
    opts = F.with_search_defaults(cat, rules, opts)  # what the rule set holds while searching (llamacpp: -ngl all), unless given
    if maximize == "n-gpu-layers":
        opts.pop("n_gpu_layers", None)
    args = dict(rules=rules, params=params, base_options=opts)
    out = {"question": None}
    if gpu is None:
        if maximize or minimize:
            raise UsageError(f"--{'max' if maximize else 'min'} needs --gpu NAME")
        out = {"question": "gpus-that-fit", "rows": F.gpus_that_fit(cat, model, mode, **args)}
    elif maximize == "params":
        out = {"question": "max-params", "answer": F.max_params(cat, mode, gpu, rules=rules, model=model, base_options=opts), "name": "params"}
    elif maximize:
        name = maximize.replace("-", "_")
        out = {"question": f"max-{maximize}", "answer": F.max_value(cat, model, mode, gpu, name, **args), "name": name}
    elif minimize:
        name = minimize.replace("-", "_")
        out = {"question": f"min-{minimize}", "answer": F.min_value(cat, model, mode, gpu, name, **args), "name": name}
    else:
        from ..api import evaluate

        one = evaluate(model, mode, gpu=gpu, catalog=cat, needed=False, **args["base_options"], rules=rules, params=params)
        # the user's --tp/--pp/--dp stay as given: the search grows only the axes left out
        out = {"question": "min-gpus", "one": one, "answer": F.min_gpus(cat, model, mode, gpu, keep_layout=True, **args),
               "suggestions": F.suggestions(cat, model, mode, gpu, **args) if suggest and not one.fit.fits else []}
        a = out["answer"]
        if a is not None and a.value is not None and any(mode in l["modes"] for l in cat.rulesets[rules].launchers):
            # the framework command lines that run the answer (the rule set's launchers: TRL, verl)
            out["answer_result"] = evaluate(model, mode, gpu=gpu, catalog=cat, needed=False, rules=rules, params=params,
                                            **{**args["base_options"], **a.options})
    out.update(model=model, params=params, mode=mode, gpu=gpu, options=opts, rules=rules, words=words, vocabulary=vocab)
    text, doc = render(out, units, explain)
    if fmt == "json":
        from .output import echo_json

        echo_json(doc, indent=2)
    else:
        click.echo(text)


FLUSH_ROWS = 2048   # rows formatted before they are written
MAX_AXIS = 100_000  # values in one axis of a grid: more is a typo (1..1e12), not a plan
_RANGE = re.compile(r"^\s*([^.*+]+?)\s*\.\.\s*([^.*+]+?)\s*(?:([*+])\s*([^.*+]+?)\s*)?$")


def grid_values(text: str, spec) -> list:
    """The values of one grid option: comma-separated items, each a value (32k, 32K) or a range
    LO..HI (step +1), LO..HI*F (geometric) or LO..HI+S (arithmetic), HI included when reached."""
    number = HumanInt(getattr(spec, "names", None)) if spec.decl == "integer" else None  # a spec without named values too

    def one(t):
        if number is not None:
            try:
                return number.convert(t.strip(), None, None)
            except click.BadParameter as exc:
                raise UsageError(f"{spec.option}: {exc.message}") from None
        try:
            return float(t)
        except ValueError:
            raise UsageError(f"{spec.option}: {t.strip()!r} is not a number") from None

    out: list = []
    for item in (x for x in text.split(",") if x.strip()):
        m = _RANGE.match(item) if ".." in item else None
        if ".." in item and m is None:
            raise UsageError(f"{spec.option} {item.strip()!r}: write a range as LO..HI, LO..HI*FACTOR or LO..HI+STEP (1k..128k*2, 1..64+8)")
        if m is None:
            out.append(one(item))
            continue
        lo, hi, op, step = one(m.group(1)), one(m.group(2)), m.group(3) or "+", one(m.group(4)) if m.group(4) else 1
        if hi < lo or (op == "*" and not (step > 1 and lo > 0)) or (op == "+" and not step > 0):
            raise UsageError(f"{spec.option} {item.strip()!r}: a range goes up from LO to HI, by a step > 0 (+S) or a factor > 1 (*F)")
        v = lo
        while v <= hi:
            out.append(v)
            if len(out) > MAX_AXIS:
                raise UsageError(f"{spec.option} {text[:40]!r} has more than {MAX_AXIS:,} values; use a coarser step")
            v = v * step if op == "*" else v + step
    if not out:
        raise UsageError(f"{spec.option} {text!r} gives no values")
    return out


class SweepCommand(ScenarioCommand):
    """sweep's options: every slot takes a comma-separated list and every numeric or choice input
    a grid (a list, or a range for numbers); the text is parsed by the command (grid_values)."""

    def parse_args(self, ctx, args):
        vocab = _vocabulary(args, ctx.resilient_parsing or "--help" in args or "-h" in args)
        own = {p.name for p in self._own}
        derived = []
        for p in params(vocab, tuple(vocab.slots)):
            if p.name in own:
                continue
            spec = vocab.inputs.get(p.name or "")
            if spec is not None and spec.decl in ("integer", "number", "choice") and not p.is_flag:
                kind = "choice" if spec.decl == "choice" else "number"
                p = click.Option([*p.opts, p.name], metavar="A,B" if kind == "choice" else "GRID",
                                 help=f"{spec.description} A grid: {'A,B' if kind == 'choice' else '1k,4k,32k or 1k..128k*2 or 1..64+8'}.")
            derived.append(p)
        self.params = self._own + derived
        ctx.meta["vramrules.vocabulary"] = vocab
        # the grid's axes nest in the order they are given: the first given is the outermost
        seen = [a.partition("=")[0] for a in args]
        ctx.meta["vramrules.sweep.order"] = sorted((p.name for p in derived if p.name),
                                                   key=lambda n: min((seen.index(o) for o in self._spellings(n) if o in seen), default=len(seen)))
        return click.Command.parse_args(self, ctx, args)

    def _spellings(self, name):
        return next((p.opts + p.secondary_opts for p in self.params if p.name == name), [])


@click.command("sweep", cls=SweepCommand, lists=SWEEP_LISTS)
@click.option("--mode", "--modes", "mode", metavar="A,B", help="Default: every mode of the rule set.")
@click.option("--models", "models", metavar="A,B", hidden=True, help="The same as --model A,B.")
@click.option("--precisions", "precisions", metavar="A,B", hidden=True, help="The same as --precision A,B.")
@rules_option
@data_option
@set_option
@units_option
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "json"]), default="csv", show_default=True,
              help="csv and jsonl: one line per row; json: one array. All are written row by row.")
@click.option("--backend", type=click.Choice(["python", "numpy"]), default="python", show_default=True,
              help="python: the generated loop; numpy: the same rules on arrays (pip install 'vramrules[numpy]').")
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file (atomically; --force to replace) instead of stdout.")
@click.option("--force", is_flag=True)
def sweep_cmd(mode, models, precisions, rules, data, sets, units, fmt, backend, out, force, **scenario):
    """Evaluate models x modes x precisions x grids of inputs x GPUs in one process, one row each.

    Every numeric input takes a grid: a list (--seq-len 1k,4k,32k) or a range (--batch 1..64*2,
    --lora-rank 8..64+8); slots and choices take lists (--kv-precision bf16,fp8). Each grid input
    becomes a column. Rows stream out as they are computed, in constant memory.

    \b
      vramrules sweep --mode inference --precision bf16,fp8,gguf-q4-k-m --gpu rtx-4090,l4 > fits.csv
      vramrules sweep --model llama3.1-8b --mode serve --seq-len 1k..128k*2 --batch 1..64*2 --format jsonl
    """
    from ..api import load_catalog
    from ..questions import sweep as S

    vocab = vocabulary()
    opts = values(vocab, scenario)
    models = _csv(models or opts.pop(vocab.by_role["model"].name, None))
    gpu_list = _csv(opts.pop(vocab.by_role["gpu"].name, None))
    precisions = _csv(precisions or opts.pop("precision", None))
    axes: dict = {}
    engines = opts.get("engine")  # one engine, or a list (a grid axis below): each decides the rule set
    order = click.get_current_context().meta.get("vramrules.sweep.order", [])
    for name in sorted(opts, key=lambda n: order.index(n) if n in order else len(order)):
        v, spec = opts[name], vocab.inputs.get(name)
        if not isinstance(v, str) or not ("," in v or ".." in v):
            if spec is not None and spec.decl in ("integer", "number") and isinstance(v, str):
                opts[name] = grid_values(v, spec)[0]
            continue
        del opts[name]
        axes[name] = grid_values(v, spec) if spec is not None and spec.decl in ("integer", "number") else _csv(v)
    if backend == "numpy":
        try:
            import numpy  # noqa: F401
        except ImportError:
            raise UsageError("--backend numpy needs numpy: pip install 'vramrules[numpy]'") from None
    cat = load_catalog(tuple(data), sets=tuple(sets))
    rules, mode = _sweep_frame(cat, engines, rules, mode)
    grid = S.grid(cat, models, _csv(mode), precisions, gpu_list, rules)
    compiled, resolved = S.split_axes(cat, axes)  # a bad grid value is refused before anything is written
    names = list(resolved) + list(compiled)  # the columns in the order the rows nest: resolved axes outside
    blocks = S.blocks(cat, *grid, rules=rules, options=opts, progress=_progress(), axes=axes, backend=backend)
    if out:
        from ..writefile import atomic_stream

        with atomic_stream(out, force) as stream:
            _write_rows(stream, blocks, fmt, units, names)
    else:
        _write_rows(sys.stdout, blocks, fmt, units, names)


def _write_rows(stream, blocks, fmt: str, units: str, axis_names: list) -> None:
    """The sweep's rows, written block by block: nothing but one block is ever held."""
    import csv
    import json

    from ..reading.units import DISPLAY_UNITS

    f = DISPLAY_UNITS[units]
    w = None
    if fmt == "csv":
        w = csv.writer(stream, lineterminator="\n")
        w.writerow(["model", "mode", "precision", *axis_names, "gpu", f"total_{units}", f"usable_{units}", "fits", "components", "error"])
    elif fmt == "json":
        stream.write("[")
    first = True
    for b in blocks:
        at = {n: i for i, n in enumerate(b.names)}
        lines: list = []
        shown: dict = {}  # a block repeats most values (what no axis reads): each is formatted once per block
        for k, _s, total, usable, fits, comps, error in b.iter_rows():
            inputs = [_shown_value(b.fixed[n]) if n in b.fixed else _shown_value(k[at[n]]) for n in axis_names]
            if fmt == "csv":
                text = " ".join([shown.get(cv) or shown.setdefault(cv, f"{cv[0]}={cv[1] / f:.4f}") for cv in comps.items()])
                lines.append([b.model, b.mode, b.precision, *inputs, k[-1], shown.get(total) or shown.setdefault(total, f"{total / f:.4f}"),
                              shown.get(usable) or shown.setdefault(usable, f"{usable / f:.4f}"), "yes" if fits else "no", text, error])
            else:
                row = {"model": b.model, "mode": b.mode, "precision": b.precision, "gpu": k[-1]}
                if axis_names:
                    row["inputs"] = dict(zip(axis_names, inputs))
                row.update({"total": {"value": round(total / f, 6), "unit": units, "bytes": total},
                            "usable": {"value": round(usable / f, 6), "unit": units, "bytes": usable}, "fits": fits,
                            "components": {c: {"value": round(v / f, 6), "unit": units, "bytes": v} for c, v in comps.items()}, "error": error})
                lines.append(json.dumps(row, ensure_ascii=True))
            if len(lines) >= FLUSH_ROWS:
                first = _flush(stream, w, fmt, lines, first)
                lines = []
        first = _flush(stream, w, fmt, lines, first)
    if fmt == "json":
        stream.write("]\n")
    stream.flush()


def _flush(stream, w, fmt, lines, first) -> bool:
    if fmt == "csv":
        w.writerows(lines)
    elif lines:
        sep = "\n" if fmt == "jsonl" else ",\n"
        stream.write(("" if first or fmt == "jsonl" else sep) + sep.join(lines) + ("\n" if fmt == "jsonl" else ""))
        return False
    return first


def _shown_value(v):
    """A grid value as written: 4096, not 4096.0."""
    return int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 2**53 else v


def _sweep_frame(cat, engines, rules, mode) -> tuple:
    """(rule set, modes) of a sweep: every engine of an --engine list must be modelled by one
    rule set (vllm,sglang,trtllm are; llama.cpp is another); without --mode, the mode they imply."""
    if engines is None:
        return rules or "default", mode
    frames = {frame(cat, e, rules, None) for e in _csv(engines) or [engines]}
    if len(frames) > 1:
        raise UsageError(f"--engine {engines}: these engines are modelled by different rule sets "
                         f"({', '.join(sorted({r for r, _m in frames}))}): sweep them one rule set at a time")
    (wants, implied), = frames
    return wants, mode or implied
