"""`import` and `record`: bringing models and measured runs into data files."""
from __future__ import annotations

import sys

import click

from ..render.terminal import inert, shown
from .common import data_option
from .completion import completer


@click.command("import")
@click.argument("path", metavar="PATH|hf:ORG/NAME|ollama:NAME|lmstudio:PUB/REPO")
@click.option("--id", "ident", metavar="ID", help="Catalog id for the model (default: from the folder, file or repo name).")
@click.option("--into", type=click.Path(dir_okay=False), metavar="FILE", help="Append the entry to this models.yaml (atomically, keeping its comments).")
@click.option("--force", is_flag=True, help="Replace an entry with the same id in --into.")
@data_option
def import_cmd(path, ident, into, force, data):
    """Turn a config.json, a model folder (config.json + safetensors), a GGUF file, or a model
    on the Hub (hf:ORG/NAME[@REVISION][:FILE.gguf]), in Ollama or in LM Studio into a models.yaml
    entry: printed, or appended to --into."""
    from ..importers.joined import import_entry
    from ..importers.yaml_append import append_model, entry_yaml

    ident, entry, _ = import_entry(path, ident, tuple(data))
    if into is None:  # the path inert: its newline cannot end the comment and add YAML of its own
        click.echo(shown(f"# vramrules import {inert(path)}\nmodels:\n") + entry_yaml(ident, entry), nl=False)
        return
    append_model(into, ident, entry, force=force)
    click.echo(shown(f"added model '{inert(ident)}' to {inert(into)}"))


@click.command("record", context_settings={"ignore_unknown_options": True})
@click.option("--into", required=True, type=click.Path(dir_okay=False), help="measurements.yaml to append the run to.")
@click.option("--model", "-m", required=True, metavar="NAME", shell_complete=completer("model"))
@click.option("--mode", default="train-lora", show_default=True, metavar="MODE")
@click.option("--measures", type=click.Choice(["peak_reserved", "peak_allocated"]), default="peak_reserved", show_default=True)
@click.option("--id", "ident", metavar="ID", help="Entry id (default: model-mode-timestamp).")
@click.option("--batch", "-b", type=int)
@click.option("--seq-len", "-s", type=int)
@click.option("--precision", metavar="ID")
@click.option("--optimizer", metavar="ID")
@click.option("--lora-rank", "-r", type=int)
@click.option("--lora-targets", metavar="SET")
@click.option("--gradient-checkpointing/--no-gradient-checkpointing", default=None)
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED)
def record_cmd(into, model, mode, measures, ident, batch, seq_len, precision, optimizer, lora_rank, lora_targets,
               gradient_checkpointing, script, script_args):
    """Run a Python training or inference script in this process, measure its peak GPU memory
    (torch.cuda; optional extra vramrules[torch]) and append the run to --into as a measurement.

    \b
      vramrules record --into org-data/measurements.yaml --model llama3.1-8b --mode train-lora -b 4 -- train.py --lr 1e-4
    """
    import runpy

    from ..importers.record import record

    recompute = None if gradient_checkpointing is None else ("full" if gradient_checkpointing else "none")
    scenario = {k: v for k, v in dict(batch=batch, seq_len=seq_len, precision=precision, optimizer=optimizer, lora_rank=lora_rank,
                                      lora_targets=lora_targets, recompute=recompute).items() if v is not None}
    old_argv = sys.argv
    sys.argv = [script, *script_args]
    try:
        with record(into, model=model, mode=mode, measures=measures, ident=ident, **scenario):
            runpy.run_path(script, run_name="__main__")
    finally:
        sys.argv = old_argv
    click.echo(shown(f"recorded {inert(model)} {inert(mode)} into {inert(into)}", sys.stderr), err=True)
