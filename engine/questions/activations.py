"""`vramrules check-measurements`, the activations part (issue 16): the activation rules against
what autograd saved for backward in real transformers and PEFT layers (harness/activations.py;
its summary ships as data/activations-measured.json, an overlay folder may add its own).

Per architecture and regime measured, each decoder layer's bytes per token are compared with the
rules' estimate under the activation profile that models the run (`hf`), and Korthikanti's
accounting (`megatron`) is shown beside it; eager attention's s x s part (bytes per token per
context token) is compared with it; the part outside the layers (final norm, lm_head input, ids,
labels, rotary cos/sin, the loss's fp32 log-softmax) likewise. The scenario of each regime is in
the data (train-full or train-lora, --attention, --recompute, --adapter-precision, --dropout,
--autocast); the harness's CPU-only behaviour is the file's `set` (assumption overrides)."""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass

from ..errors import DataError, Location, Problem

FILE = "activations-measured.json"
SCHEMA = "vramrules-activations-measured/1"


@dataclass
class LayerCheck:
    entry: str
    regime: str
    layer: str
    mlp: str
    kind: str
    measured: int          # bytes per token
    hf: float
    megatron: float
    context_measured: int  # bytes per token per context token (eager's s x s tensors)
    context_hf: float
    tolerance: float
    gap: str
    source: str

    @property
    def error(self) -> float:
        return self.hf / self.measured - 1

    @property
    def megatron_error(self) -> float:
        return self.megatron / self.measured - 1

    @property
    def context_error(self) -> float | None:
        return self.context_hf / self.context_measured - 1 if self.context_measured else None

    @property
    def ok(self) -> bool:
        if abs(self.error) > self.tolerance:
            return False
        if self.gap:   # a named gap excuses the s x s part its reason explains
            return True
        ce = self.context_error
        return self.context_hf == 0 if ce is None else abs(ce) <= self.tolerance


@dataclass
class OutsideCheck:
    entry: str
    regime: str
    measured: int
    hf: float
    tolerance: float
    gap: str

    @property
    def error(self) -> float:
        return self.hf / self.measured - 1

    @property
    def ok(self) -> bool:
        return abs(self.error) <= self.tolerance


def load(data=()) -> tuple[dict, list]:
    """The built-in summary with each overlay folder's entries (by name) over it: (document, [(file, entry names)])."""
    from ..evaluation.load import data_dirs

    doc: dict = {}
    files = []
    for i, (folder, _label) in enumerate(data_dirs(tuple(data))):
        path = os.path.join(str(folder), FILE)
        if not os.path.isfile(path):
            continue
        shown = f"built-in:{FILE}" if i == 0 else path
        try:
            with open(path, encoding="utf-8") as f:
                got = json.load(f)
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError([Problem(Location(shown), "", f"cannot read: {exc}")]) from None
        except json.JSONDecodeError as exc:
            raise DataError([Problem(Location(shown, exc.lineno, exc.colno), "", f"not JSON: {exc.msg}",
                                     "regenerate it with harness/activations_summary.py")]) from None
        if not isinstance(got, dict) or got.get("schema") != SCHEMA or not isinstance(got.get("entries"), dict):
            raise DataError([Problem(Location(shown, 1, 1), "/schema", f"not a {SCHEMA} document",
                                     "regenerate it with harness/activations_summary.py")])
        if not doc:
            doc = got
        else:
            doc = {**doc, "entries": {**doc["entries"], **got["entries"]}, "gaps": {**doc.get("gaps", {}), **got.get("gaps", {})}}
        files.append((shown, sorted(got["entries"])))
    return doc, files


def catalog_for(name: str, entry: dict, data, sets):
    """A catalog holding the measured model, imported from the config the harness built it from."""
    from ..evaluation.load import load_catalog
    from ..importers.model_entry import config_entry, config_from_bytes, document

    shown = f"{FILE}#/entries/{name}/model_config"
    raw = json.dumps(entry["model_config"], indent=1).encode("utf-8")
    ident = "measured-" + "".join(c if c.isalnum() or c == "." else "-" for c in name.lower())
    model = config_entry(ident, config_from_bytes(raw, shown), shown, None, "", data, sets)
    return load_catalog(tuple(data), sets=sets, docs=(("models.yaml", document(ident, model, shown)),)), ident


def values(cat, ident: str, profile: str, scenario: dict, seq_len: int) -> dict:
    from ..evaluation.evaluate import evaluate_in

    sc = dict(scenario)
    r = evaluate_in(cat, ident, sc.pop("mode"), batch=1, seq_len=seq_len, activation_profile=profile, **sc)
    v = dict(r.values)
    raw = r.scenario.model.raw
    v["num_layers"] = raw["num_layers"]
    v["groups"] = [(g.get("recurrent", "none"), g["mlp"]) for g in raw.get("layers") or []]
    return v


def layer_estimate(v: dict, mlp: str, kind: str | None, layer: str, checkpointed: bool, seq_len: int) -> tuple[float, float]:
    """(bytes per token, bytes per token per context token) of one decoder layer from a scenario's values."""
    if checkpointed:   # a checkpointed layer keeps its input: activations_layers less the one re-materialized layer
        return (v["activations_layers"] - v["activations_per_layer"]) / v["act_tokens"] / v["num_layers"], 0.0
    est = v["act_moe_layer_per_token"] if mlp == "moe" else v["act_dense_layer_per_token"]
    scores = v.get("act_hf_scores_kept_per_token", 0.0)
    if kind == "linear_attention":   # a recurrent mixer's layer: its group's own figure (no s x s part)
        group = next(i for i, (rec, m) in enumerate(v["groups"]) if rec != "none" and m == mlp)
        est, scores = v["act_layer_per_token"][group], 0.0
    if v.get("act_first_layer_less_per_token") and layer == "0":
        est -= v["act_first_layer_less_per_token"]
    return est - scores, scores / seq_len


def megatron_estimate(v: dict, mlp: str, checkpointed: bool, seq_len: int) -> float:
    if checkpointed:
        return layer_estimate(v, mlp, None, "", True, seq_len)[0]
    return (v["act_moe_layer_per_token"] if mlp == "moe" else v["act_dense_layer_per_token"]) - v["act_scores_kept_per_token"]


def assumption_sets(doc: dict) -> tuple:
    """The file's `set` (what the harness's CPU run does differently from a GPU) as --set items."""
    return tuple(f"assume.{k}={str(s['value']).lower() if isinstance(s['value'], bool) else s['value']}"
                 for k, s in sorted((doc.get("set") or {}).items()))


_RUNS: dict = {}


def run(data=()) -> tuple[list[LayerCheck], list[OutsideCheck]]:
    """Every measured layer and regime, compared. The built-in data's answer is kept for the
    process (a test or a service asks it again): it depends only on the shipped files."""
    doc, files = load(data)
    if not doc:
        return [], []
    key = json.dumps(doc, sort_keys=True) if files == [(f"built-in:{FILE}", sorted(doc["entries"]))] and not data \
        and not os.environ.get("VRAMRULES_DATA") else None
    if key is not None and key in _RUNS:
        return _RUNS[key]
    out = _run(doc, data)
    if key is not None:
        _RUNS.clear()
        _RUNS[key] = out
    return out


def _run(doc: dict, data) -> tuple[list[LayerCheck], list[OutsideCheck]]:
    seq = int(doc.get("seq_len", 64))
    tol = doc.get("tolerance") or {}
    layer_tol, outside_tol = float(tol.get("layer", 0.05)), float(tol.get("outside", 0.10))
    sets = assumption_sets(doc)
    gaps = doc.get("gaps") or {}
    layers, outside = [], []
    for name, e in sorted(doc["entries"].items()):
        cat, ident = catalog_for(name, e, tuple(data), sets)
        for regime, r in sorted(e["regimes"].items()):
            sc = r["scenario"]
            ckpt = sc.get("recompute") == "full"
            hf = values(cat, ident, "hf", sc, seq)
            mg = values(cat, ident, "megatron", sc, seq)
            for layer, m in sorted(r["layers"].items()):
                info = e["layers"][int(layer)]
                est, ctx = layer_estimate(hf, info["mlp"], info.get("kind"), layer, ckpt, seq)
                gap = gaps.get(f"{name} {regime} {layer}") or {}
                layers.append(LayerCheck(name, regime, layer, info["mlp"], info.get("kind") or "", m["bytes_per_token"], est,
                                         megatron_estimate(mg, info["mlp"], ckpt, seq), m["bytes_per_token_per_context_token"],
                                         ctx, float(gap.get("tolerance", layer_tol)), gap.get("why", ""), e["source"]))
            # the loss keeps its fp32 log-softmax: one of logits_training's fp32 copies, over the reduced vocabulary
            gap = gaps.get(f"{name} {regime} outside") or {}
            outside.append(OutsideCheck(name, regime, r["outside_layers_bytes_per_token"],
                                        hf["act_outside_layers_per_token"] + e["vocab_size"] * 4,
                                        float(gap.get("tolerance", outside_tol)), gap.get("why", "")))
    return layers, outside


def _pct(e: float | None) -> str:
    return "-" if e is None else f"{100 * e:+.1f}%".replace("+0.0%", "0.0%").replace("-0.0%", "0.0%")


def summary(layers: list[LayerCheck], outside: list[OutsideCheck]) -> list[dict]:
    rows = []
    parts: tuple[tuple[str, list[LayerCheck | OutsideCheck]], ...] = (
        ("activations · per layer", list(layers)), ("activations · outside the layers", list(outside)))
    for group, cs in parts:
        if not cs:
            continue
        worst: LayerCheck | OutsideCheck = max(cs, key=lambda c: abs(c.error))
        rows.append({"group": group, "entries": len(cs), "median_abs_error": statistics.median(abs(c.error) for c in cs),
                     "worst": f"{worst.entry} {worst.regime}" + (f" layer {worst.layer}" if isinstance(worst, LayerCheck) else ""),
                     "worst_error": worst.error, "failing": sum(not c.ok for c in cs)})
    return rows


def markdown(layers: list[LayerCheck], outside: list[OutsideCheck]) -> str:
    """The README's activations table: per architecture and regime, each distinct layer's measured
    bytes per token and both profiles' estimates with their errors; then the part outside the layers."""
    if not layers:
        return ""
    out = ["| architecture | regime | layer (MLP) | measured, B per token | `hf` | error | `megatron` | error |",
           "|---|---|---|---|---|---|---|---|"]
    groups: dict = {}
    for c in layers:
        key = (c.entry, c.regime, c.measured, round(c.hf), round(c.megatron))
        groups.setdefault(key, []).append(c)
    for (name, regime, meas, est, before), cs in groups.items():
        mark = " (gap)" if any(c.gap for c in cs) else "" if all(c.ok for c in cs) else " ✗"
        out.append(f"| {name} | {regime} | {', '.join(f'{c.layer} ({c.mlp})' for c in cs)} | {meas:,} | {est:,} | "
                   f"{_pct(est / meas - 1)}{mark} | {before:,} | {_pct(before / meas - 1)} |")
    errs = [abs(c.error) for c in outside]
    failing = sum(not c.ok for c in outside)
    out += ["", f"Outside the layers (final norm, lm_head input, ids, labels, rotary cos/sin, the loss's fp32"
            f" log-softmax), `hf`: {len(outside)} regimes, largest error {_pct(max(errs) if errs else None)}"
            + (f", {failing} beyond {outside[0].tolerance:.0%} ✗." if failing else ".")]
    return "\n".join(out) + "\n"


def text(layers: list[LayerCheck], outside: list[OutsideCheck]) -> str:
    if not layers:
        return ""
    lines = [f"{'activations (B per token per layer)':36s} {'regime':30s} {'layer':>5s} {'measured':>10s} {'hf':>10s}  {'error':>7s}"
             f"  {'megatron':>10s} {'error':>7s}  tol"]
    for c in layers:
        lines.append(f"{c.entry:36s} {c.regime:30s} {c.layer:>5s} {c.measured:10,d} {c.hf:10,.0f}  {c.error:+7.1%}  "
                     f"{c.megatron:10,.0f} {c.megatron_error:+7.1%}  {c.tolerance:.0%}"
                     + ("  (gap)" if c.gap and c.ok else "" if c.ok else "  FAIL"))
    lines.append("")
    lines.append(f"{'outside the layers (B per token)':36s} {'regime':30s} {'':5s} {'measured':>10s} {'hf':>10s}  {'error':>7s}")
    for o in outside:
        lines.append(f"{o.entry:36s} {o.regime:30s} {'':5s} {o.measured:10,d} {o.hf:10,.0f}  {o.error:+7.1%}  {o.tolerance:.0%}"
                     + ("" if o.ok else "  FAIL"))
    lines.append("")
    for s in summary(layers, outside):
        lines.append(f"{s['group']}: {s['entries']} entries, median |error| {s['median_abs_error']:.1%}, worst {s['worst']}"
                     f" {s['worst_error']:+.1%}, failing {s['failing']}")
    return "\n".join(lines) + "\n"


def as_json(layers: list[LayerCheck], outside: list[OutsideCheck]) -> dict:
    return {"layers": [{"entry": c.entry, "regime": c.regime, "layer": c.layer, "mlp": c.mlp, "kind": c.kind,
                        "measured": {"bytes_per_token": c.measured, "bytes_per_token_per_context_token": c.context_measured},
                        "predicted": {"bytes_per_token": c.hf, "bytes_per_token_per_context_token": c.context_hf},
                        "megatron": {"bytes_per_token": c.megatron}, "error": c.error, "context_error": c.context_error,
                        "megatron_error": c.megatron_error, "tolerance": c.tolerance, "ok": c.ok, "gap": c.gap,
                        "source": c.source} for c in layers],
            "outside_layers": [{"entry": c.entry, "regime": c.regime, "measured": {"bytes_per_token": c.measured},
                                "predicted": {"bytes_per_token": c.hf}, "error": c.error, "tolerance": c.tolerance,
                                "ok": c.ok, "gap": c.gap} for c in outside],
            "summary": summary(layers, outside)}
