"""`vramrules calibrate --fit NAME[,NAME...]`: fit assumptions to the measured runs.

Least squares on the relative error (predicted / measured - 1) over the measurements, within
each assumption's declared `bounds`, by projected Gauss-Newton with a finite-difference Jacobian
(the rules are close to linear in overhead ratios and sizes). Each probe re-runs the compiled
rules with the assumption's fact replaced, so a fit costs a few hundred evaluations, not reloads.
Entries that declare a `gap` (something the rules do not model) are left out unless asked for;
entries `fitted_by` another setting (an engine profile's calibrated term) are left out: they
would count twice."""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from ..errors import UsageError


@dataclass
class Fit:
    names: list
    old: list          # canonical values before
    new: list          # canonical values after
    bounds: list       # [(lo, hi)] canonical
    used: list         # measurement ids
    before: dict       # id -> relative error
    after: dict
    skipped: dict = field(default_factory=dict)  # id -> why
    insensitive: list = field(default_factory=list)  # names no used measurement depends on


class _Problem:
    """One measurement as a function of the fitted assumptions' canonical values."""

    def __init__(self, cat, entry, mid, names):
        from ..evaluation.evaluate import compiled_mode
        from ..evaluation.scenario import resolve
        from ..reading.units import canonical, quantity

        sc = dict(entry["scenario"])
        self.id = mid
        ruleset = sc.pop("rules", "default")
        model, mode, gpu = sc.pop("model", None), sc.pop("mode"), sc.pop("gpu", None)
        params = sc.pop("params", None)
        self.scenario = resolve(cat, rules=ruleset, mode=mode, model=model, gpu=gpu, params=params, **sc)
        self.comp = compiled_mode(cat, ruleset, mode, self.scenario.gpu is not None)
        rule = cat.rulesets[ruleset].measures.get(entry["measures"])
        if rule not in self.comp.order:
            raise UsageError(f"measurement {mid}: no rule answers '{entry['measures']}'")
        self.index = self.comp.order.index(rule)
        self.device = entry.get("device")  # a per-device figure: that GPU's value of the rule (measurements.device_value)
        self.facts = self.scenario.facts(self.comp.leaves)
        for k, v in (entry.get("set") or {}).items():
            if f"assume.{k}" in self.facts:
                self.facts[f"assume.{k}"] = canonical(quantity(v))
        self.keys = [f"assume.{n}" for n in names]
        self.measured = canonical(quantity(entry["measured"]))

    def error(self, theta) -> float:
        f = dict(self.facts)
        for k, v in zip(self.keys, theta):
            if k in f:
                f[k] = v
        from .measurements import device_value

        return device_value(self.comp.fn(f)[self.index], self.device)[0] / self.measured - 1


def run(cat, names, include_gaps=False, iterations=12) -> Fit:
    from ..reading.units import canonical, quantity

    if not names:
        raise UsageError("--fit needs at least one assumption name")
    bounds = []
    for n in names:
        a = cat.assumptions.get(n)
        if a is None:
            from ..errors import unknown

            raise unknown("assumption", n, cat.assumptions)
        if a.kind != "number":
            raise UsageError(f"assume.{n} is not a number and cannot be fitted")
        b = a.raw.get("bounds")
        if not b:
            raise UsageError(f"assume.{n} declares no bounds; add `bounds: [low, high]` to it before fitting")
        bounds.append((canonical(quantity(b[0])), canonical(quantity(b[1]))))
    merged = cat.files.get("measurements.yaml")
    entries = ((merged.data or {}) if merged else {}).get("measurements") or {}
    problems, skipped = [], {}
    for mid, e in entries.items():
        if e.get("gap") and not include_gaps:
            skipped[mid] = "declares a gap the rules do not model"
            continue
        if e.get("fitted_by"):
            skipped[mid] = f"already a calibration point of {e['fitted_by']}"
            continue
        if any(n in (e.get("set") or {}) for n in names):
            skipped[mid] = "sets a fitted assumption itself"
            continue
        problems.append(_Problem(cat, e, mid, names))
    if not problems:
        raise UsageError("no measurements to fit (all skipped)")
    theta0 = [cat.assumptions[n].value for n in names]
    before = {p.id: p.error(theta0) for p in problems}
    insensitive = []
    for j, (lo, hi) in enumerate(bounds):
        t2 = list(theta0)
        t2[j] = hi if abs(hi - theta0[j]) > abs(lo - theta0[j]) else lo
        if all(abs(p.error(t2) - before[p.id]) < 1e-12 for p in problems):
            insensitive.append(names[j])
    theta = list(theta0)
    for _ in range(iterations):
        r = [p.error(theta) for p in problems]
        J = []
        for j, (lo, hi) in enumerate(bounds):
            h = max(abs(theta[j]) * 1e-3, (hi - lo) * 1e-4, 1e-12)
            t2 = list(theta)
            t2[j] = theta[j] + h
            J.append([(p.error(t2) - ri) / h for p, ri in zip(problems, r)])
        step = _solve(J, r)
        if step is None:
            break
        new = [min(max(t - s, lo), hi) for t, s, (lo, hi) in zip(theta, step, bounds)]
        if _sse(problems, new) > _sse(problems, theta):  # no improvement: try half steps
            new = [min(max(t - s / 2, lo), hi) for t, s, (lo, hi) in zip(theta, step, bounds)]
            if _sse(problems, new) >= _sse(problems, theta):
                break
        if max(abs(a - b) for a, b in zip(new, theta)) < 1e-9 * max(1.0, max(abs(x) for x in theta)):
            theta = new
            break
        theta = new
    after = {p.id: p.error(theta) for p in problems}
    return Fit(list(names), theta0, theta, bounds, [p.id for p in problems], before, after, skipped, insensitive)


def _sse(problems, theta) -> float:
    return sum(p.error(theta) ** 2 for p in problems)


def _solve(J, r):
    """Least squares step: (J J^T) x = J r, for a handful of parameters (Gaussian elimination)."""
    n = len(J)
    A = [[sum(a * b for a, b in zip(J[i], J[k])) for k in range(n)] for i in range(n)]
    y = [sum(a * b for a, b in zip(J[i], r)) for i in range(n)]
    for i in range(n):
        A[i][i] += 1e-12
    for c in range(n):
        piv = max(range(c, n), key=lambda i: abs(A[i][c]))
        if abs(A[piv][c]) < 1e-18:
            return None
        A[c], A[piv], y[c], y[piv] = A[piv], A[c], y[piv], y[c]
        for i in range(c + 1, n):
            f = A[i][c] / A[c][c]
            for k in range(c, n):
                A[i][k] -= f * A[c][k]
            y[i] -= f * y[c]
    x = [0.0] * n
    for i in reversed(range(n)):
        x[i] = (y[i] - sum(A[i][k] * x[k] for k in range(i + 1, n))) / A[i][i]
    return x


def formatted(cat, name, value) -> object:
    """A fitted canonical value written in the unit the assumption used ('612.4 MiB', 0.0731)."""
    from ..reading.units import unit

    text = str(cat.assumptions[name].text)
    parts = text.split()
    if len(parts) == 2:
        u = unit(parts[1])
        if u:
            return f"{value / u[0]:.4g} {parts[1]}"
    return float(f"{value:.4g}")


def overlay(cat, fit: Fit, today: datetime.date) -> str:
    """assumptions.yaml text recording the fit, the measurements used and the date as its source."""
    import yaml

    out: dict = {"assumptions": {}}
    for n, _old, new in zip(fit.names, fit.old, fit.new):
        a = cat.assumptions[n]
        entry = {"value": formatted(cat, n, new),
                 "summary": a.raw.get("summary", ""),
                 "source": (f"calibrated by `vramrules calibrate --fit {','.join(fit.names)}` on {today.isoformat()}: least squares on the "
                            f"relative error over {len(fit.used)} measurements ({', '.join(fit.used)}) within bounds {a.raw.get('bounds')}"),
                 "note": f"was {a.text} ({a.source})", "owner": "vramrules calibrate", "reviewed": today.isoformat(),
                 "bounds": a.raw.get("bounds")}
        out["assumptions"][n] = entry
    header = ("# Calibrated assumptions: an overlay (vramrules --data DIR). Review with\n"
              "#   vramrules diff builtin DIR\n")
    return header + yaml.safe_dump(out, sort_keys=False, allow_unicode=True, width=100)
