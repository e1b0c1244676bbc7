"""`vramrules eval`: one workload, its breakdown and verdict."""
from __future__ import annotations

import sys

import click

from ..errors import UsageError
from .common import data_option, mode_option, rules_option, set_option, units_option
from .scenario_options import ScenarioCommand, split, values, vocabulary


@click.command("eval", cls=ScenarioCommand)
@click.option("--model-config", type=click.Path(exists=True), metavar="PATH", help="A Hugging Face config.json, a model folder (config.json + safetensors) or a .gguf file.")
@click.option("--params", type=float, metavar="N", help="Only a parameter count, e.g. 7e9 (KV cache and activations need an architecture).")
@mode_option
@rules_option
@data_option
@set_option
@units_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--explain", is_flag=True, help="Show the derivation of every component: formula, values, and each fact's file:line and source.")
@click.option("--check", is_flag=True, help="Exit 3 when it does not fit on --gpu.")
def eval_cmd(model_config, params, mode, rules, data, sets, units, fmt, explain, check, **scenario):
    """Estimate the memory of one workload, and whether it fits.

    \b
      vramrules eval --model llama3-70b --mode train-lora
      vramrules eval -m llama3.1-8b --gpu rtx-4090 --precision gguf-q4-k-m --seq-len 32768
      vramrules eval --params 7e9 --rules thumb --precision fp32
    """
    from ..api import evaluate

    vocab = vocabulary()
    model, gpu, options = split(vocab, values(vocab, scenario))
    if check and not gpu:
        raise UsageError("--check needs --gpu NAME (what should it fit on?)")
    result = evaluate(model, mode, gpu=gpu, rules=rules, data=tuple(data), sets=tuple(sets), params=params,
                      model_config=model_config, once=True, **options)
    if fmt == "json":
        from ..evaluation.document import document
        from .output import echo_json

        echo_json(document(result, units, explain), indent=2)
    else:
        from ..render.text import table

        click.echo(table(result, units, explain), nl=False)
    if check and not result.fit.fits:
        sys.exit(3)
