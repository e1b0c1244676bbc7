"""`fit` and `sweep`: the inverse questions, and many scenarios at once."""
from __future__ import annotations

import click

from ..errors import UsageError
from .common import _csv, _progress, data_option, mode_option, rules_option, set_option, units_option
from .scenario_options import ScenarioCommand, split, values, vocabulary

SWEEP_LISTS = ("model", "gpu", "precision")  # sweep takes these slots as comma-separated lists


@click.command("fit", cls=ScenarioCommand)
@click.option("--model-config", type=click.Path(exists=True), metavar="PATH", help="A Hugging Face config.json, a model folder (config.json + safetensors) or a .gguf file.")
@click.option("--params", type=float, metavar="N", help="Only a parameter count, e.g. 7e9.")
@mode_option
@click.option("--max", "maximize", type=click.Choice(["seq-len", "batch"]), help="Largest context or batch that fits on --gpu (with the given layout).")
@click.option("--suggest/--no-suggest", default=True, show_default=True, help="When one GPU is not enough, also try the rule set's suggested changes.")
@rules_option
@data_option
@set_option
@units_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--explain", is_flag=True, help="List every probe the search evaluated.")
def fit_cmd(model_config, params, mode, maximize, suggest, rules, data, sets, units, fmt, explain, **scenario):
    """Answer the inverse questions: how many GPUs, which GPU, how long a context, how large a batch.

    \b
      vramrules fit --model llama3-70b --mode train-lora --gpu h100-sxm-80gb      # fewest GPUs (+ cheaper changes)
      vramrules fit --model llama3.1-8b --gpu rtx-4090 --max seq-len              # longest context on one card
      vramrules fit --model qwen2.5-7b --mode serve --gpu l4 --max batch          # most concurrent sequences
      vramrules fit --model mixtral-8x7b                                          # which GPUs fit it on one card
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
    args = dict(rules=rules, params=params, base_options=opts)
    out = {"question": None}
    if gpu is None:
        if maximize:
            raise UsageError("--max needs --gpu NAME")
        out = {"question": "gpus-that-fit", "rows": F.gpus_that_fit(cat, model, mode, **args)}
    elif maximize:
        name = maximize.replace("-", "_")
        out = {"question": f"max-{maximize}", "answer": F.max_value(cat, model, mode, gpu, name, **args), "name": name}
    else:
        from ..api import evaluate

        one = evaluate(model, mode, gpu=gpu, catalog=cat, needed=False, **args["base_options"], rules=rules, params=params)
        # the user's --tp/--pp/--dp stay as given: the search grows only the axes left out
        out = {"question": "min-gpus", "one": one, "answer": F.min_gpus(cat, model, mode, gpu, keep_layout=True, **args),
               "suggestions": F.suggestions(cat, model, mode, gpu, **args) if suggest and not one.fit.fits else []}
    out.update(model=model, params=params, mode=mode, gpu=gpu, options=opts, rules=rules, words=words, vocabulary=vocab)
    text, doc = render(out, units, explain)
    if fmt == "json":
        from .output import echo_json

        echo_json(doc, indent=2)
    else:
        click.echo(text)


@click.command("sweep", cls=ScenarioCommand, lists=SWEEP_LISTS)
@click.option("--mode", "--modes", "mode", metavar="A,B", help="Default: every mode of the rule set.")
@click.option("--models", "models", metavar="A,B", hidden=True, help="The same as --model A,B.")
@click.option("--precisions", "precisions", metavar="A,B", hidden=True, help="The same as --precision A,B.")
@rules_option
@data_option
@set_option
@units_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file (atomically; --force to replace) instead of stdout.")
@click.option("--force", is_flag=True)
def sweep_cmd(mode, models, precisions, rules, data, sets, units, fmt, out, force, **scenario):
    """Evaluate models x modes x precisions x GPUs in one process; CSV or JSON, one row each.

    \b
      vramrules sweep --mode inference --precision bf16,fp8,gguf-q4-k-m --gpu rtx-4090,l4 > fits.csv
    """
    import csv
    import io

    from ..api import load_catalog
    from ..questions import sweep as S
    from ..reading.units import DISPLAY_UNITS

    vocab = vocabulary()
    opts = values(vocab, scenario)
    models = _csv(models or opts.pop(vocab.by_role["model"].name, None))
    gpu_list = _csv(opts.pop(vocab.by_role["gpu"].name, None))
    precisions = _csv(precisions or opts.pop("precision", None))
    cat = load_catalog(tuple(data), sets=tuple(sets))
    grid = S.grid(cat, models, _csv(mode), precisions, gpu_list, rules)
    rows = S.run(cat, *grid, rules=rules, options=opts, progress=_progress())
    f = DISPLAY_UNITS[units]
    buf = io.StringIO()
    if fmt == "csv":
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["model", "mode", "precision", "gpu", f"total_{units}", f"usable_{units}", "fits", "components", "error"])
        for r in rows:
            w.writerow([r.model, r.mode, r.precision, r.gpu, f"{r.total / f:.4f}", f"{r.usable / f:.4f}", "yes" if r.fits else "no",
                        " ".join(f"{k}={v / f:.4f}" for k, v in r.components.items()), r.error])
    else:
        from .output import json_text

        buf.write(json_text([{"model": r.model, "mode": r.mode, "precision": r.precision, "gpu": r.gpu,
                               "total": {"value": round(r.total / f, 6), "unit": units, "bytes": r.total},
                               "usable": {"value": round(r.usable / f, 6), "unit": units, "bytes": r.usable}, "fits": r.fits,
                               "components": {k: {"value": round(v / f, 6), "unit": units, "bytes": v} for k, v in r.components.items()},
                               "error": r.error} for r in rows], stream=buf, indent=1))
        buf.write("\n")
    if out:
        from ..writefile import atomic_write

        atomic_write(out, buf.getvalue(), force=force)
    else:
        click.echo(buf.getvalue(), nl=False)
