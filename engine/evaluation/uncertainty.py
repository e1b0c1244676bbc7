"""Low / best / high of a serve answer: the scenario evaluated again with every term that has a
measured spread at its low end, then at its high end.

A term is an assumption (data/assumptions.yaml) or a setting of the engine profile at the
selected release (data/engines.yaml) that declares `spread: {low, high, source}`, that the mode's
rules read, and that changes a figure of this answer. `best` is the answer itself; `low` puts
every term at its low end (the least non-KV memory: the largest pool), `high` at its high end.
A value the data moved outside its spread (an overlay, a calibration) widens that end to take it
in; an assumption given with --set is pinned (the user's figure, no spread). The settings
fitted to measurements (`calibrated_on`) are named with them. Arithmetic only: the compiled
mode runs again on the scenario's facts with those terms replaced."""
from __future__ import annotations

from ..reading import engine_profiles as ep
from .engines import of as engine_of

ENDS = ("low", "best", "high")


def _canonical(text):
    from ..reading.units import canonical, quantity

    return float(text) if isinstance(text, (int, float)) else canonical(quantity(text))


def terms(result) -> list[dict]:
    """The terms with a spread that this answer's rules read: {name, low, best, high (canonical),
    dim, texts (each end as written), source}."""
    comp, sc, cat = result.compiled, result.scenario, result.catalog
    leaves = set(comp.leaves)
    out = []
    for name, a in cat.assumptions.items():
        spread = a.raw.get("spread")
        if not isinstance(spread, dict) or f"assume.{name}" not in leaves or name in cat.overrides:
            continue
        out.append(_term(f"assume.{name}", a.value, a.text, a.dim, spread))
    engine = engine_of(sc)
    if engine is not None:
        types = cat.types.get("engine", {})
        for name, item in ep.held_items(engine.raw, engine.raw.get("release") or ep.default_release(engine.raw)).items():
            spread = item.get("spread")
            if isinstance(spread, dict) and f"engine.{name}" in leaves and name in types:
                out.append(_term(f"engine.{name}", engine.facts[name], item["value"], types[name].dim, spread))
    return out


def _term(name: str, best: float, best_text, dim: str, spread: dict) -> dict:
    """One term; an end the value lies beyond is the value (as written)."""
    low, high = _canonical(spread["low"]), _canonical(spread["high"])
    return {"name": name, "low": min(low, best), "best": best, "high": max(high, best), "dim": dim,
            "texts": {"low": str(spread["low"]) if low <= best else str(best_text), "best": str(best_text),
                      "high": str(spread["high"]) if high >= best else str(best_text)},
            "source": spread.get("source", "")}


def calibrated(result) -> list[dict]:
    """The engine settings at this release fitted to measurements: {name, value, measurements}."""
    engine = engine_of(result.scenario)
    if engine is None:
        return []
    out = []
    for name, item in ep.held_items(engine.raw, engine.raw.get("release") or ep.default_release(engine.raw)).items():
        if item.get("calibrated_on") and f"engine.{name}" in result.compiled.leaves:
            out.append({"name": f"engine.{name}", "value": item["value"], "measurements": list(item["calibrated_on"])})
    return out


def bounds(result) -> dict | None:
    """{'terms': [...], 'figures': {name: {low, best, high}}, 'fits': {low, best, high},
    'calibrated': [...]} of a serve answer with a GPU, or None (another mode, no GPU)."""
    from ..backends.compiler import run
    from ..language.rules import report_names

    comp, sc = result.compiled, result.scenario
    mode = result.catalog.rulesets[comp.ruleset].modes[comp.mode]
    if mode.role != "serve" or result.fit is None:
        return None
    facts = sc.facts(comp.leaves)
    best = result.values

    def at(replaced: dict) -> dict:
        return run(comp, {**facts, **replaced})

    names = ["per_gpu_total"] + [n for n in report_names(result.catalog.rulesets[comp.ruleset], mode) if n != "per_gpu_total"]
    kept = []
    for term in terms(result):  # a term that changes no figure at either end is left out
        if any(_moves(at({term["name"]: term[end]}), best, names) for end in ("low", "high")):
            kept.append(term)
    ends = {"best": best}
    for end in ("low", "high"):
        ends[end] = at({t["name"]: t[end] for t in kept}) if kept else best
    figures = {n: {e: ends[e][n] for e in ENDS} for n in names
               if n in best and not isinstance(best[n], (bool, str, list)) and len({ends[e][n] for e in ENDS}) > 1}
    return {"terms": kept, "figures": figures, "fits": {e: bool(ends[e]["fits"]) for e in ENDS}, "calibrated": calibrated(result)}


def _moves(values: dict, best: dict, names: list) -> bool:
    return values["fits"] != best["fits"] or any(values.get(n) != best.get(n) for n in names if n in best)


def verdict_note(b: dict | None) -> str:
    """'at best, not at high' when the ends disagree with the answer; '' when all three agree."""
    if not b:
        return ""
    fits = b["fits"]
    if fits["best"] and not fits["high"]:
        return "at best, not at high"
    if not fits["best"] and fits["low"]:
        return "not at best; fits at low"
    return ""
