"""`vramrules check-measurements`: every entry of data/measurements.yaml evaluated, predicted
against measured, with the signed error and summary statistics per mode and overall."""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from ..errors import DataError, Problem, VramrulesError


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
        out.append(Check(mid, e["summary"], r.scenario.mode, e["measures"], canonical(quantity(e["measured"])), e["measured"],
                         float(r.values[rule]), float(e["tolerance"]), e["framework"], e["source"], e.get("gap", ""), str(where)))
    if problems:
        raise DataError(problems)
    return out


def summary(checks: list[Check]) -> list[dict]:
    groups: dict = {}
    for c in checks:
        groups.setdefault(c.mode, []).append(c)
    rows = []
    for name, cs in sorted(groups.items()) + [("all", checks)]:
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


def markdown(checks: list[Check]) -> str:
    lines = ["| measurement | setup | measures | measured | vramrules | error | known gap |",
             "|---|---|---|---|---|---|---|"]
    for c in checks:
        gap = c.gap.split(". Expected sign")[0] if c.gap else ""
        lines.append(f"| [{c.id}]({c.source.split()[0].strip(',;') if c.source.startswith('http') else ''}) | {c.summary} ({c.framework}) | {c.measures} | "
                     f"{c.measured_text} | {_fmt(c.predicted, c.measured_text)} | {c.error:+.1%}{'' if c.ok else ' ✗'} | {gap} |")
    lines.append("")
    lines.append("| group | entries | median abs. error | worst |")
    lines.append("|---|---|---|---|")
    for s in summary(checks):
        lines.append(f"| {s['group']} | {s['entries']} | {s['median_abs_error']:.1%} | {s['worst']} ({s['worst_error']:+.1%}) |")
    return "\n".join(lines) + "\n"


def text(checks: list[Check]) -> str:
    lines = []
    w = max(len(c.id) for c in checks) if checks else 10
    lines.append(f"{'measurement'.ljust(w)}  {'measures':16s} {'measured':>14s} {'predicted':>14s}  {'error':>7s}  tol")
    for c in checks:
        lines.append(f"{c.id.ljust(w)}  {c.measures:16s} {c.measured_text:>14s} {_fmt(c.predicted, c.measured_text):>14s}  {c.error:+7.1%}  "
                     f"{c.tolerance:.0%}{'' if c.ok else '  FAIL'}")
    lines.append("")
    for s in summary(checks):
        lines.append(f"{s['group']}: {s['entries']} entries, median |error| {s['median_abs_error']:.1%}, worst {s['worst']} {s['worst_error']:+.1%}, failing {s['failing']}")
    return "\n".join(lines) + "\n"


def as_json(checks: list[Check]) -> dict:
    return {"measurements": [{"id": c.id, "summary": c.summary, "mode": c.mode, "measures": c.measures,
                              "measured": {"value": c.measured_text, "bytes": c.measured},
                              "predicted": {"bytes": c.predicted}, "error": c.error, "tolerance": c.tolerance, "ok": c.ok,
                              "framework": c.framework, "source": c.source, "gap": c.gap, "location": c.location} for c in checks],
            "summary": summary(checks)}
