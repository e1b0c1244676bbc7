"""A model entry from local files: a config.json (or a folder with one, plus safetensors shards)
or a GGUF file. The parameter count comes from the checkpoint's tensors when there are any,
else from the rules (params_total), and says which."""
from __future__ import annotations

import math
import re
from pathlib import Path

from ..errors import DataError, Location, Problem, UsageError
from ..reading.loader import Document


def _is_gguf(path: Path) -> bool:
    return path.suffix.lower() == ".gguf" and not path.is_dir()


def ident_for(path: Path) -> str:
    from .gguf_file import SPLIT

    split = SPLIT.match(path.name)
    base = path.name if path.is_dir() else path.parent.name if path.name == "config.json" else split["stem"] if split else path.stem
    ident = re.sub(r"[^a-z0-9.]+", "-", base.lower()).strip("-.") or "imported"
    return ident if ident[0].isalnum() else "m-" + ident


def document(ident: str, entry: dict, shown: str, layer: str = "--model-config") -> Document:
    return Document(path=shown, data={"models": {ident: entry}}, layer=layer)


def from_path(path, ident: str | None = None, data=(), sets=(), precision_given: bool = False) -> tuple[str, dict, str]:
    """(id, entry, display path). The entry validates against schemas/models.schema.json.
    `precision_given`: the user chose the precision (a quantization the data lacks is no error)."""
    from . import hf_config, safetensors

    p = Path(path)
    try:
        p.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise UsageError(f"{path}: no such file or folder") from None
    except (OSError, RuntimeError) as exc:
        raise DataError([Problem(Location(str(p)), "", f"cannot read: {getattr(exc, 'strerror', None) or exc}")]) from None
    ident = ident or ident_for(p)
    if _is_gguf(p):  # by name: a pipe or device called x.gguf is refused by the GGUF reader, not read as JSON
        from .gguf_file import SPLIT, read

        m = SPLIT.match(p.name)  # the first part of a split: every part, each one required
        more = f" and its {int(m['total']) - 1} other part(s)" if m and int(m["total"]) > 1 else ""
        return ident, gguf_entry(read(p), p.name + more), str(p)
    cfg, shown = hf_config.read(p)
    folder = p if p.is_dir() else p.parent
    summary = safetensors.summarize(folder, hf_config.packed_bits(cfg, shown)) if folder.is_dir() else None
    where = f"in {folder} ({len(summary['files'])} file(s))" if summary else ""
    return ident, config_entry(ident, cfg, shown, summary, where, data, sets, precision_given), shown


def gguf_entry(entry: dict, file: str) -> dict:
    """A GGUF importer's entry (gguf_file.entry_of) completed: its source, the parameter count
    of its tensor table, bf16 where it names no native precision. `file` names the file."""
    entry["source"] = f"GGUF metadata and tensor table of {file}"
    entry["params"] = entry["checkpoint_params"]
    entry["params_source"] = f"counted from the GGUF tensor table of {file}"
    if "native_precision" not in entry:
        entry["native_precision"] = "bf16"
    return entry


def config_from_bytes(raw: bytes, shown: str):
    """config.json's bytes as hf_config.read gives a file's: a jsondoc.Doc that keeps its text."""
    from . import hf_config, jsondoc

    cfg, text = jsondoc.load(raw, shown, "config.json")
    if not isinstance(cfg, dict):
        raise hf_config.ConfigProblem(shown, "config.json must hold a JSON object")
    doc = jsondoc.Doc(cfg)
    doc.text, doc.shown = text, shown
    return doc


def config_entry(ident: str, cfg, shown: str, summary: dict | None, counted: str, data=(), sets=(), precision_given: bool = False,
                 source: str | None = None) -> dict:
    """The entry of a config.json (`cfg`, read from `shown`) and what safetensors.summarize or
    safetensors.count found in its checkpoint (`summary`, None when there are no tensors to
    weigh); `counted` says where they were counted ('in FOLDER (N file(s))')."""
    from . import hf_config, safetensors

    entry = hf_config.convert(cfg, shown, precision_given=True)  # a format the data lacks: decided below
    entry["source"] = source or f"{shown} (imported by vramrules)"
    if summary:
        summary, mtp = safetensors.without_mtp(summary, entry.get("num_layers", 0), entry.get("mtp"))
        if mtp:  # the NextN modules the config names, stored beside the model: weighed apart, loaded only with --mtp
            entry["mtp"]["checkpoint_bytes"] = f"{mtp['bytes']} B"
            entry["mtp"]["checkpoint_params"] = mtp["params"]
        entry["checkpoint_bytes"] = f"{summary['bytes']} B"
        entry["checkpoint_params"] = summary["params"]
        entry["checkpoint_dtypes"] = {k: f"{v} B" for k, v in sorted(summary["dtypes"].items())}
        entry["params"] = summary["params"]
        entry["params_source"] = f"counted from the safetensors headers {counted}" + (
            f"; its MTP modules' {mtp['params']:,} parameters apart (mtp.checkpoint_params)" if mtp else "")
    else:
        if not precision_given and "native_precision" not in entry:
            hf_config.quantized_precision(hf_config.config_fields(cfg, shown))  # no tensors to weigh: an unknown format is an error
        entry["params"] = derived_params(ident, entry, shown, data, sets)
        entry["params_source"] = "derived: params_total of the default rules over this config's fields"
    return entry


def derived_params(ident, entry, shown, data=(), sets=()) -> int:
    from ..evaluation.evaluate import evaluate_in
    from ..evaluation.load import load_catalog

    probe = dict(entry, params=1, params_source="placeholder while deriving")
    cat = load_catalog(tuple(data), sets=tuple(sets), docs=(("models.yaml", document(ident, probe, shown)),))
    r = evaluate_in(cat, ident, "inference")
    total = r.values["params_total"]
    if not (isinstance(total, (int, float)) and math.isfinite(total) and total >= 0.5):
        raise DataError([Problem(Location(shown), "", f"the rules derive {total!r} parameters from this config",
                                 "check the config's sizes, or write the models.yaml entry by hand")])
    return round(total)


def catalog_with(path, data=(), sets=(), ident=None):
    """(catalog holding the imported model, its id)."""
    from ..evaluation.load import load_catalog

    ident, entry, shown = from_path(path, ident, data, sets)
    cat = load_catalog(tuple(data), sets=tuple(sets), docs=(("models.yaml", document(ident, entry, shown)),))
    return cat, ident
