"""`vramrules check-measurements`: every entry of data/measurements.yaml evaluated, predicted
against measured, with the signed error and summary statistics per mode and overall."""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from ..errors import DataError, Problem, VramrulesError
from ..render.terminal import inert


@dataclass
class Check:
    id: str
    summary: str
    mode: str
    measures: str
    measured: float        # bytes
    measured_text: str
    predicted: float       # bytes
    tolerance: float
    framework: str
    source: str
    gap: str
    location: str
    engine: str = ""       # the serving engine or framework the run used (vllm, llama.cpp, torchtune, ...)

    @property
    def error(self) -> float:
        return self.predicted / self.measured - 1

    @property
    def ok(self) -> bool:
        return abs(self.error) <= self.tolerance


def run(cat, data=(), rules: str = "default") -> list[Check]:
    from ..evaluation.evaluate import evaluate_in
    from ..evaluation.load import load_catalog
    from ..reading.units import canonical, quantity

    merged = cat.files.get("measurements.yaml")
    entries = ((merged.data or {}) if merged else {}).get("measurements") or {}
    out, problems = [], []
    for mid, e in entries.items():
        where = merged.where(("measurements", mid))
        sc = dict(e["scenario"])
        sets = tuple(f"assume.{k}={v}" for k, v in (e.get("set") or {}).items())
        try:
            ecat = load_catalog(data, sets=sets) if sets else cat
            ruleset = sc.pop("rules", rules)
            config = sc.pop("model_config", None)
            if config is not None:  # a local config.json / checkpoint folder / GGUF, relative to the measurements file
                from pathlib import Path

                from ..importers.model_entry import catalog_with

                base = Path(where.file).parent
                ecat, ident = catalog_with(base / config, data, sets)
                sc["model"] = ident
            r = evaluate_in(ecat, sc.pop("model", None), sc.pop("mode"), rules=ruleset, **sc)
        except VramrulesError as exc:
            problems.append(Problem(merged.where(("measurements", mid, "scenario")), f"/measurements/{mid}/scenario", f"cannot evaluate: {exc}"))
            continue
        rule = ecat.rulesets[ruleset].measures.get(e["measures"])
        if rule is None or rule not in r.values:
            problems.append(Problem(where, f"/measurements/{mid}/measures", f"rule set '{ruleset}' says no rule answers '{e['measures']}'", "add it under `measures:` in the rule set"))
            continue
        predicted, why = device_value(r.values[rule], e.get("device"))
        if why:
            problems.append(Problem(where, f"/measurements/{mid}/device", f"'{e['measures']}' ({rule}): {why}",
                                    "give device: N (0 = CUDA0, in the order of --gpu) for a per-device figure, none for a whole-plan one"))
            continue
        out.append(Check(mid, e["summary"], r.scenario.mode, e["measures"], canonical(quantity(e["measured"])), e["measured"],
                         predicted, float(e["tolerance"]), e["framework"], e["source"], e.get("gap", ""), str(where),
                         _engine_of(ecat, e)))
    if problems:
        raise DataError(problems)
    return out


def device_value(value, device) -> tuple[float, str]:
    """A measured figure's prediction: a whole-plan rule's value, or with `device: N` the value of
    a per-device rule (one per GPU of the placement, llama.cpp's CUDA0, CUDA1, ...) on GPU N; a
    reason instead when the two do not go together."""
    per_device = isinstance(value, (list, tuple))
    if device is None:
        return (0.0, "a per-device rule (one value per GPU of the placement)") if per_device else (float(value), "")
    if not per_device:
        return 0.0, f"device: {device} names a GPU, but the rule has one value for the whole plan"
    if not 0 <= int(device) < len(value):
        return 0.0, f"device: {device}, but the placement has {len(value)} GPU{'s' if len(value) != 1 else ''}"
    return float(value[int(device)]), ""


def _engine_of(cat, e: dict) -> str:
    """The engine a measured run used: the scenario's --engine (its profile's id), else the first
    word of `framework` as the catalog's engines spell it (vLLM -> vllm, llama.cpp -> llama-cpp)."""
    named = (e.get("scenario") or {}).get("engine")
    word = str(named).partition("@")[0] if named else str(e.get("framework", "")).split(" ")[0].strip("(),")
    from ..reading.names import find

    try:
        return find("engine", word, cat.kind("engine")).id
    except VramrulesError:
        low = word.lower()
        return low if low.isascii() and low.replace(".", "").replace("-", "").isalnum() else "other"


def summary(checks: list[Check]) -> list[dict]:
    """Median |error| per mode, per engine and what it measures (weights, KV cache per token,
    KV pool: the components of the issue's fidelity goal), and overall."""
    groups: dict = {}
    for c in checks:
        groups.setdefault(c.mode, []).append(c)
    by_engine: dict = {}
    for c in checks:
        if c.measures.startswith("engine_"):
            by_engine.setdefault(f"{c.engine} · {c.measures}", []).append(c)
    rows = []
    for name, cs in sorted(groups.items()) + sorted(by_engine.items()) + [("all", checks)]:
        if not cs:
            continue
        errs = [abs(c.error) for c in cs]
        worst = max(cs, key=lambda c: abs(c.error))
        rows.append({"group": name, "entries": len(cs), "median_abs_error": statistics.median(errs),
                     "worst": worst.id, "worst_error": worst.error, "failing": sum(not c.ok for c in cs)})
    return rows


def _fmt(nbytes: float, like: str) -> str:
    from ..reading.quantity import memory

    unit = next((u for u in ("GiB", "MiB", "GB", "MB") if like.strip().endswith(u)), "GiB")
    return memory(nbytes, unit)


def _cell(x) -> str:
    """One Markdown table cell of data-provided text: inert (no control character, no newline
    that would end the row) and every `|` escaped (it would start a new cell)."""
    return inert(x).replace("|", "\\|")


def _link(source: str) -> str:
    """The source's URL (its first word, when it is one) as a Markdown link target: a `|`, a
    parenthesis, a bracket or a space cannot end the link or the cell."""
    if not source.startswith("http"):
        return ""
    url = inert(source.split()[0].strip(",;"))
    for ch in "|()[]<> ":
        url = url.replace(ch, f"%{ord(ch):02X}")
    return url


def markdown(checks: list[Check]) -> str:
    """The fidelity table; each data-provided field escaped on its own (_cell)."""
    lines = ["| measurement | setup | measures | measured | vramrules | error | known gap |",
             "|---|---|---|---|---|---|---|"]
    for c in checks:
        gap = c.gap.split(". Expected sign")[0] if c.gap else ""
        ident = _cell(c.id).replace("[", "\\[").replace("]", "\\]")
        lines.append(f"| [{ident}]({_link(c.source)}) | {_cell(c.summary)} ({_cell(c.framework)}) | {_cell(c.measures)} | "
                     f"{_cell(c.measured_text)} | {_fmt(c.predicted, c.measured_text)} | {c.error:+.1%}{'' if c.ok else ' ✗'} | {_cell(gap)} |")
    lines.append("")
    lines.append("| group | entries | median abs. error | worst |")
    lines.append("|---|---|---|---|")
    for s in summary(checks):
        lines.append(f"| {_cell(s['group'])} | {s['entries']} | {s['median_abs_error']:.1%} | {_cell(s['worst'])} ({s['worst_error']:+.1%}) |")
    return "\n".join(lines) + "\n"


def text(checks: list[Check]) -> str:
    """For a terminal: each data-provided field made inert on its own (a newline or an escape
    sequence in an id, a rule name or a measured figure cannot start a line or move the cursor)."""
    t = inert
    lines = []
    w = max(len(t(c.id)) for c in checks) if checks else 10
    lines.append(f"{'measurement'.ljust(w)}  {'measures':16s} {'measured':>14s} {'predicted':>14s}  {'error':>7s}  tol")
    for c in checks:
        lines.append(f"{t(c.id).ljust(w)}  {t(c.measures):16s} {t(c.measured_text):>14s} {_fmt(c.predicted, c.measured_text):>14s}  {c.error:+7.1%}  "
                     f"{c.tolerance:.0%}{'' if c.ok else '  FAIL'}")
    lines.append("")
    for s in summary(checks):
        lines.append(f"{t(s['group'])}: {s['entries']} entries, median |error| {s['median_abs_error']:.1%}, worst {t(s['worst'])} {s['worst_error']:+.1%}, failing {s['failing']}")
    return "\n".join(lines) + "\n"


def as_json(checks: list[Check]) -> dict:
    return {"measurements": [{"id": c.id, "summary": c.summary, "mode": c.mode, "measures": c.measures,
                              "measured": {"value": c.measured_text, "bytes": c.measured},
                              "predicted": {"bytes": c.predicted}, "error": c.error, "tolerance": c.tolerance, "ok": c.ok,
                              "framework": c.framework, "source": c.source, "gap": c.gap, "location": c.location} for c in checks],
            "summary": summary(checks)}
