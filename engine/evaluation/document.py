"""--format json: stable, documented keys (see README 'JSON output'); every quantity is
{"value", "unit"} plus exact "bytes"."""
from __future__ import annotations

from ..reading.units import DISPLAY_UNITS
from ..version import __version__
from .explain import derivation

SCHEMA_VERSION = 1


def quantity(nbytes: float, unit: str) -> dict:
    return {"value": round(nbytes / DISPLAY_UNITS[unit], 6), "unit": unit, "bytes": nbytes}


def plain(x, dim: str, unit: str):
    if isinstance(x, list):  # a per-layer-group value: {"per_group": [...]} of the same shapes
        return {"per_group": [plain(v, dim, unit) for v in x]}
    if isinstance(x, (bool, str)):
        return x
    if dim == "[information]":
        return quantity(x, unit)
    if dim == "[information] / [time]":
        return {"value": x, "unit": "B/s"}
    return {"value": x, "unit": "1"}


def document(result, unit: str = "GiB", explain: bool = False) -> dict:
    sc = result.scenario
    comp = result.compiled
    from ..language.rules import report_names

    rs = result.catalog.rulesets[comp.ruleset]
    doc = {
        "vramrules": __version__,
        "schema": SCHEMA_VERSION,
        "model": {"id": sc.model.id, "name": sc.model.name},
        "mode": sc.mode,
        "rules": sc.ruleset,
        "units": unit,
        "inputs": {**{k: e.id for k, e in sc.selections.items()}, **sc.inputs},
        "input_origin": dict(sc.origin),
        "components": [
            {"name": c.name, "label": c.label, "memory": quantity(c.memory.bytes, unit), "share": round(c.share, 6)}
            for c in result.components
        ],
        "total": quantity(result.total.bytes, unit),
        "layout": {k: sc.inputs[k] for k in ("gpus", "tp", "pp", "dp", "ep", "zero", "fsdp", "sequence_parallel", "offload")},
        "host": {"components": [{"name": h.name, "label": h.label, "memory": quantity(h.memory.bytes, unit)} for h in result.host],
                 "per_rank": quantity(sum(h.memory.bytes for h in result.host), unit)},
        "figures": {n: plain(result.values[n], comp.dims.get(n, ""), unit) for n in report_names(rs, rs.modes[comp.mode])},
        "fit": None,
        "warnings": list(result.warnings),
        "overrides": {f"assume.{n}": {"value": now, "was": was} for n, (was, now) in result.catalog.overrides.items()},
    }
    if result.fit:
        f = result.fit
        doc["fit"] = {
            "gpu": f.gpu, "gpu_name": f.gpu_name, "gpus": f.gpus,
            "capacity_marketed": quantity(f.capacity_marketed.bytes, unit),
            "usable_per_gpu": quantity(f.capacity_per_gpu.bytes, unit),
            "needed_per_gpu": quantity(f.needed_per_gpu.bytes, unit),
            "headroom_per_gpu": quantity(f.headroom_per_gpu.bytes, unit),
            "fits": f.fits, "gpus_needed": f.gpus_needed,
            # the placement: each GPU type with its count (one entry on GPUs of one type)
            "devices": [{"gpu": g.id, "count": c if c is not None else f.gpus,
                         "usable": quantity(u, unit) if isinstance(u, float) else None}
                        for (g, c), u in zip(sc.devices, result.values.get("usable_per_device") or [None] * len(sc.devices))],
        }
    if explain:
        doc["derivation"] = [
            {"rule": s.name, "label": s.label, "formula": s.formula, "location": s.where,
             "value": plain(s.value, s.dim, unit), "source": s.source,
             "inputs": [{"name": i.name, "value": plain(i.value, i.dim, unit), "from": i.where, "entry": i.entry, "source": i.source}
                        for i in s.inputs]}
            for s in derivation(result)
        ]
    return doc
