"""--format json: stable, documented keys (see README 'JSON output'); every quantity is
{"value", "unit"} plus "bytes": whole bytes, rounded up for what is needed and down for what a GPU
offers and the headroom (reading/quantity.py says why). Integer inputs are JSON integers."""
from __future__ import annotations

from ..reading.quantity import available, needed, whole_bytes
from ..reading.units import DISPLAY_UNITS
from ..version import __version__
from .explain import derivation

SCHEMA_VERSION = 1
# the rules (engine contract names) whose memory is what a GPU offers or leaves, not what is
# needed: rounded down
AVAILABLE = frozenset({"usable_memory_per_gpu", "usable_per_device", "headroom"})


def quantity(nbytes: float, unit: str, down: bool = False) -> dict:
    """{"value", "unit", "bytes"}: `bytes` whole (needed: rounded up; `down`: rounded down), and
    `value` that many bytes in `unit`."""
    whole = available(nbytes) if down else needed(nbytes)
    return {"value": round(whole / DISPLAY_UNITS[unit], 6), "unit": unit, "bytes": whole}


def plain(x, dim: str, unit: str, down: bool = False):
    if isinstance(x, list):  # a per-layer-group value: {"per_group": [...]} of the same shapes
        return {"per_group": [plain(v, dim, unit, down) for v in x]}
    if isinstance(x, (bool, str)):
        return x
    if dim == "[information]":
        whole = whole_bytes(x, down)  # one element's size below 1 KiB keeps its fraction
        return {"value": round(whole / DISPLAY_UNITS[unit], 6), "unit": unit, "bytes": whole}
    if dim == "[information] / [time]":
        return {"value": x, "unit": "B/s"}
    return {"value": x, "unit": "1"}


def _integers(values: dict, vocab) -> dict:
    """The inputs with those the vocabulary declares `kind: integer` as JSON integers (2048, not
    2048.0: the engine computes on floats), and a per-device input (`kind: numbers`) as a list."""
    out = dict(values)
    for name, v in values.items():
        spec = vocab.inputs.get(name)
        if spec is not None and spec.decl == "integer" and isinstance(v, float) and v == int(v):
            out[name] = int(v)
        elif isinstance(v, tuple):
            out[name] = list(v)
    return out


def _input_value(i, unit: str, vocab):
    """A derivation input's value: an integer input as an integer count."""
    if i.name.startswith("input."):
        spec = vocab.inputs.get(i.name[len("input."):])
        if spec is not None and spec.decl == "integer" and isinstance(i.value, float) and i.value == int(i.value):
            return {"value": int(i.value), "unit": "1"}
    return plain(i.value, i.dim, unit, i.name in AVAILABLE)


def _host_verdict(result, unit: str) -> dict:
    """With --host-ram and a rule set that gives the host's verdict: the host's usable RAM,
    need, headroom and whether it holds its part (`fit.fits` is the whole plan's)."""
    h = result.host_verdict()
    if h is None:
        return {}
    return {"ram": quantity(h["ram"], unit, down=True), "usable": quantity(h["usable"], unit, down=True),
            "needed": quantity(h["needed"], unit), "headroom": quantity(h["headroom"], unit, down=True), "fits": h["fits"]}


def document(result, unit: str = "GiB", explain: bool = False) -> dict:
    sc = result.scenario
    comp = result.compiled
    from ..language.rules import report_names

    rs = result.catalog.rulesets[comp.ruleset]
    vocab = result.catalog.vocabulary
    inputs = _integers(sc.inputs, vocab)
    doc = {
        "vramrules": __version__,
        "schema": SCHEMA_VERSION,
        "model": {"id": sc.model.id, "name": sc.model.name},
        "mode": sc.mode,
        "rules": sc.ruleset,
        "units": unit,
        "inputs": {**{k: e.id for k, e in sc.selections.items()}, **inputs},
        "input_origin": dict(sc.origin),
        "components": [
            {"name": c.name, "label": c.label, "memory": quantity(c.memory.bytes, unit), "share": round(c.share, 6),
             **({"role": c.role} if c.role else {})}
            for c in result.components
        ],
        # the per-GPU breakdown by role (the mode's roles:), in the components' order; [] when it declares none
        "roles": [{"role": r, "memory": quantity(b, unit), "components": names} for r, b, names in result.roles()],
        "total": quantity(result.total.bytes, unit),
        "layout": {k: inputs[k] for k in ("gpus", "tp", "cp", "pp", "dp", "ep", "zero", "fsdp", "sequence_parallel", "offload")},
        "host": {"components": [{"name": h.name, "label": h.label, "memory": quantity(h.memory.bytes, unit)} for h in result.host],
                 "per_rank": quantity(sum(h.memory.bytes for h in result.host), unit), **_host_verdict(result, unit)},
        "figures": {n: plain(result.values[n], comp.dims.get(n, ""), unit, n in AVAILABLE) for n in report_names(rs, rs.modes[comp.mode])
                    if comp.rules[n].per != "device"},  # a per-device figure is in fit.devices
        "fit": None,
        "warnings": list(result.warnings),
        "overrides": {f"assume.{n}": {"value": now, "was": was} for n, (was, now) in result.catalog.overrides.items()},
    }
    from .engine_command import command, ollama
    from .engines import of as engine_of

    engine = engine_of(sc)  # the serving engine whose accounting the answer follows, if any
    doc["engine"] = None if engine is None else {"id": engine.id.partition("@")[0], "name": engine.name,
                                                 "release": engine.raw.get("release")}
    engine_command = command(result)  # only a llama.cpp profile's result has one (evaluation/engine_command.py)
    if engine_command is not None:
        doc["command"] = engine_command
        doc["ollama"] = ollama(result)  # the Ollama settings that start the same llama-server, or why none do
    from .launch_command import launchers

    # the framework command lines that run this plan (the rule set's launchers: TRL, verl); absent when none applies
    launch = launchers(result)
    if launch:
        doc["launch"] = launch
    from .serve_command import command as serve_command
    from .serve_command import plan

    serving = plan(result) if engine is not None else None  # a serving engine's: vllm serve ..., and what it prints
    if serving is not None:
        doc["command"] = serve_command(result)
        doc["command_notes"] = serving["notes"]
        doc["startup"] = serving["startup"]
    from .uncertainty import bounds, verdict_note

    spread = bounds(result)  # a serve answer's low / best / high (evaluation/uncertainty.py)
    if spread is not None:
        ends = ("low", "best", "high")
        doc["uncertainty"] = {
            "terms": [{"name": t["name"], **{e: plain(t[e], t["dim"], unit) for e in ends}, "source": t["source"]} for t in spread["terms"]],
            "figures": {n: {e: plain(v[e], comp.dims.get(n, ""), unit, n in AVAILABLE) for e in ends} for n, v in spread["figures"].items()},
            "fits": spread["fits"], "verdict": verdict_note(spread), "calibrated": spread["calibrated"],
        }
    if result.fit:
        f = result.fit
        doc["fit"] = {
            "gpu": f.gpu, "gpu_name": f.gpu_name, "gpus": f.gpus,
            "capacity_marketed": quantity(f.capacity_marketed.bytes, unit, down=True),
            "usable_per_gpu": quantity(f.capacity_per_gpu.bytes, unit, down=True),
            "needed_per_gpu": quantity(f.needed_per_gpu.bytes, unit),
            "headroom_per_gpu": quantity(f.headroom_per_gpu.bytes, unit, down=True),
            "fits": f.fits, "gpus_needed": f.gpus_needed, "gpus_total": f.gpus_total,
            # GPUs besides the layout's (a rollout engine on GPUs of its own): each group's per-GPU need and verdict
            "groups": [{"name": g.name, "label": g.label, "gpus": g.gpus, "needed_per_gpu": quantity(g.needed_per_gpu.bytes, unit),
                        "fits": g.fits,
                        "components": [{"name": c.name, "label": c.label, "memory": quantity(c.memory.bytes, unit), "share": round(c.share, 6)}
                                       for c in g.components]}
                       for g in f.groups],
            # the placement: each GPU type with its count (one entry on GPUs of one type)
            "devices": [{"gpu": g.id, "count": int(c) if c is not None else f.gpus,
                         "usable": quantity(u, unit, down=True) if isinstance(u, float) else None}
                        for (g, c), u in zip(sc.devices, result.values.get("usable_per_device") or [None] * len(sc.devices))],
        }
        per_device = result.device_plan()  # several GPUs, each with its own share (llama.cpp's layer split)
        if per_device is not None:
            for entry, d in zip(doc["fit"]["devices"], per_device):
                entry["plan"] = {
                    "components": [{"name": n, "label": label, "memory": quantity(b, unit)} for n, label, b in d["components"]],
                    "needed": quantity(d["needed"], unit), "usable": quantity(d["usable"], unit, down=True),
                    "headroom": quantity(d["headroom"], unit, down=True), "fits": d["fits"],
                    "figures": {n: (x if isinstance(x, bool) else plain(x, comp.dims.get(n, ""), unit)) for n, _label, x in d["figures"]}}
    if explain:
        doc["derivation"] = [
            {"rule": s.name, "label": s.label, "formula": s.formula, "location": s.where,
             "value": plain(s.value, s.dim, unit, s.name in AVAILABLE), "source": s.source,
             "inputs": [{"name": i.name, "value": _input_value(i, unit, vocab), "from": i.where, "entry": i.entry, "source": i.source}
                        for i in s.inputs]}
            for s in derivation(result)
        ]
    return doc
