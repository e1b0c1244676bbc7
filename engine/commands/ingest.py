"""`vramrules ingest`: serving-engine start-up logs to measurements entries."""
from __future__ import annotations

import sys

import click

from ..errors import UsageError
from ..render.terminal import inert, shown
from .common import data_option


@click.command("ingest")
@click.argument("logfiles", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))  # a missing log: a usage error (2), not a traceback
@click.option("--into", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="measurements.yaml to append to (created if missing; validated, written atomically).")
@click.option("--gpu", metavar="ID", help="The GPU the log ran on (required when the log does not name it).")
@click.option("--model", "model", metavar="ID", help="The catalog model (required when the log does not name one the catalog knows).")
@click.option("--precision", metavar="ID", help="Weight precision of the run (vramrules list precisions) when not the model's default.")
@click.option("--kv-precision", metavar="ID", help="KV cache precision when the log does not print it.")
@click.option("--tp", type=int, metavar="N", help="Tensor-parallel size when the log does not print it.")
@click.option("--engine", "engine", metavar="NAME@VERSION",
              help="The serving engine's release, when the log does not print it (vramrules list engines): the KV pool it sized is recorded too.")
@click.option("--source", metavar="TEXT", help="Where the log was published (URL or repository + path); default: the log's path.")
@click.option("--tolerance", type=float, default=0.05, show_default=True, help="Relative error the entries may show.")
@click.option("--dry-run", is_flag=True, help="Print the entries instead of appending them.")
@data_option
def ingest_cmd(logfiles, into, gpu, model, precision, kv_precision, tp, engine, source, tolerance, dry_run, data):
    """Read vLLM, SGLang, llama.cpp / llama-server and TensorRT-LLM start-up logs, recognize the
    scenario (model, engine and version, GPU, parallelism, context, dtypes) and append the
    measured weights and KV cache as measurements entries, each citing the log line it came from,
    and for vLLM, SGLang and TensorRT-LLM the KV pool the engine sized (engine_kv_pool) when its
    release is known (printed, or --engine NAME@VERSION).

    \b
      vramrules ingest vllm.log --into org-data/measurements.yaml --gpu h100-sxm-80gb
    """
    from pathlib import Path

    import yaml

    from ..api import load_catalog
    from ..evaluation.evaluate import evaluate_in
    from ..importers import engine_log as E
    from ..importers.yaml_append import append_entry
    from ..reading.names import find

    cat = load_catalog(tuple(data))
    existing = set()
    p = Path(into)
    if p.exists():
        from ..reading.loader import load_text

        doc = load_text(p.read_text(encoding="utf-8"), str(p))
        existing = set(((doc.data or {}).get("measurements") or {}) if isinstance(doc.data, dict) else {})
    planned = []
    for log in logfiles:
        rec = E.parse_file(log)
        if tp and rec.setting("tp") and rec.setting("tp") != tp:
            raise UsageError(f"{log}:{rec.settings['tp'].line}: the log says tensor parallel {rec.setting('tp')}, --tp says {tp}")
        if tp and not rec.setting("tp"):
            rec.settings["tp"] = E.Setting("tp", tp, 0)
        text = E.model_name(rec)
        name = model or text
        if not name:
            raise UsageError(f"{log}: the log does not name the model; pass --model ID")
        try:
            m = find("model", name, cat.kind("model"))
        except UsageError as exc:
            raise UsageError(f"{log}: the log's model {name!r}: {exc}; pass --model ID") from None
        gname = gpu or rec.setting("gpu")
        if not gname:
            raise UsageError(f"{log}: the log does not name the GPU; pass --gpu ID")
        try:
            g = find("gpu", str(gname), cat.kind("gpu"))
        except UsageError as exc:
            raise UsageError(f"{log}: the GPU {gname!r}: {exc}; pass --gpu ID") from None
        release = _release(cat, log, rec, engine)
        entries, unheld = E.plan(rec, m.id, gpu=g.id, precision=precision, kv_precision=kv_precision, source=source or "",
                                 tolerance=tolerance, digest_of=Path(log).read_text(encoding="utf-8", errors="replace"),
                                 engine=release)
        for pl in list(entries):
            sc = dict(pl.entry["scenario"])
            try:
                evaluate_in(cat, sc.pop("model"), sc.pop("mode"), **sc)
            except UsageError as exc:
                if pl.entry["measures"] == "engine_kv_pool":  # e.g. a release the profile does not cover: the other entries still hold
                    entries.remove(pl)
                    unheld.insert(0, f"engine_kv_pool: {exc}")
                    continue
                raise UsageError(f"{log}:{pl.figure.line}: the scenario {pl.entry['scenario']} does not evaluate: {exc}") from None
        planned.append((log, rec, entries, unheld))
    for log, rec, entries, unheld in planned:
        click.echo(shown(f"{inert(log)}: {rec.engine}" + (f" {inert(rec.setting('version'))}" if rec.setting("version") else "")), err=True)
        for pl in entries:
            if pl.ident in existing:
                click.echo(shown(f"  {inert(pl.ident)}: already in {inert(into)}, not appended again"), err=True)
                continue
            if dry_run:
                click.echo(yaml.safe_dump({pl.ident: pl.entry}, sort_keys=False, allow_unicode=True, width=120), nl=False)
            else:
                append_entry(into, "measurements", pl.ident, pl.entry, schema="measurements")
                existing.add(pl.ident)
                click.echo(shown(f"  appended {inert(pl.ident)}: {pl.entry['measures']} {inert(pl.entry['measured'])}"), err=True)
        for why in unheld:
            click.echo(shown(f"  not recorded: {inert(why)}"), err=True)
    sys.stdout.flush()


def _release(cat, log, rec, engine) -> str | None:
    """'vllm@0.15.1': the serving-engine profile of the log's engine at the release --engine or
    the log names; None when the engine has no serving profile or no release is known. An
    --engine of another engine than the log's is a usage error."""
    from ..importers import engine_log as E
    from ..reading.names import find

    try:
        prof = find("engine", rec.engine, cat.kind("engine"))
    except UsageError:
        prof = None
    if prof is not None and prof.raw.get("mode") != "serve":
        prof = None
    version = None
    if engine:
        name, _, version = str(engine).partition("@")
        given = find("engine", name, cat.kind("engine"))
        if prof is None or given.id != prof.id:
            raise UsageError(f"{log}: the log is {rec.engine}'s, --engine says {engine}")
        version = version or None
    version = version or E.release_number(rec.setting("version"))
    return f"{prof.id}@{version}" if prof is not None and version else None
