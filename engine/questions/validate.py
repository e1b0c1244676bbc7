"""`vramrules validate`: everything the loader checks, plus the meaning checks that need the
rules: every model's architecture-derived parameter count against its published count."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import Problem, coded


@dataclass
class ParamCheck:
    model: str
    derived: float
    published: float
    source: str

    @property
    def error(self) -> float:
        return self.derived / self.published - 1


def param_checks(cat, ruleset: str = "default") -> list[ParamCheck]:
    """Every model's derived parameter count beside its published one. A model read in parts is
    remembered on disk by the hash of its text, under a key naming the rule set, the assumptions
    and what every entry depends on: validate after a one-entry edit evaluates that entry alone."""
    from ..evaluation import catalog_cache
    from ..evaluation.evaluate import evaluate_in
    from ..reading import cache

    key = _memo_key(cat, ruleset)
    memo = cache.read_json(key) if key else None
    memo = memo if isinstance(memo, dict) else {}
    kept: dict = {}
    out = []
    models = cat.kind("model")
    for mid in models:
        h = catalog_cache.text_hash(cat, "model", mid)
        row = memo.get(h) if h else None
        if not (isinstance(row, list) and len(row) == 3):
            m = models[mid]
            row = [evaluate_in(cat, mid, "inference", rules=ruleset).values["params_total"], m.facts["params"], m.raw.get("params_source", "")]
        if h:
            kept[h] = row
        out.append(ParamCheck(mid, row[0], row[1], row[2]))
    if key and kept != memo:
        cache.write_json(key, kept)
    return out


def _memo_key(cat, ruleset: str) -> str:
    """'' when the catalog was not built with its entries' text hashes (cache off, a full load)."""
    import hashlib
    import json

    from ..evaluation.catalog_cache import dump

    context = getattr(cat, "context", "")
    if not context or ruleset not in cat.rulesets:
        return ""
    h = hashlib.sha256(context.encode())
    h.update(json.dumps(dump(cat.rulesets[ruleset]), sort_keys=True, default=str).encode())
    h.update(json.dumps({n: [a.value, a.dim] for n, a in sorted(cat.assumptions.items())}, default=str).encode())
    h.update(json.dumps(getattr(cat.vocabulary, "raw", None), sort_keys=True, default=str).encode())  # inputs' defaults
    return "params-" + h.hexdigest()[:32]


def unread_assumptions(cat) -> list[Problem]:
    """An assumption no rule reads is a policy nobody applies: reviewers would weigh a number
    that changes nothing."""
    read: set = set()
    for rs in cat.rulesets.values():
        rules = list(rs.rules.values()) + rs.warnings + rs.constraints
        for m in rs.modes.values():
            rules += list(m.rules.values()) + m.warnings + m.constraints
        for r in rules:
            if r.formula is not None:
                read.update(n[len("assume."):] for n in r.formula.names if n.startswith("assume."))
    return [Problem(a.location, f"/assumptions/{name}", f"no rule reads assume.{name}", "use it in a rule, or remove it")
            for name, a in cat.assumptions.items() if name not in read]


def undocumented_components(cat) -> list[Problem]:
    """A memory component without `doc` or `source` is a number a reviewer cannot check."""
    out, seen = [], set()
    for rs in cat.rulesets.values():
        for m in rs.modes.values():
            for c in m.components:
                rule = m.rules.get(c) or rs.rules.get(c)
                if rule is None or rule.doc or rule.source or (rule.location, c) in seen:
                    continue
                seen.add((rule.location, c))
                out.append(Problem(rule.location, "", f"component '{c}' of mode '{rs.name}/{m.name}' has neither doc nor source",
                                   "say what it counts (doc:) and where the formula comes from (source:)"))
    return out


def problems(cat, tolerance: float) -> list[Problem]:
    """Every mode of every rule set checked (code rule_error; a run checks only the modes it
    uses), then validate's policy checks (code policy_error)."""
    from ..language.rules import check_modes

    broken = [p for rs in cat.rulesets.values() for p in check_modes(cat, rs)]
    if broken:
        return broken
    out = unread_assumptions(cat) + undocumented_components(cat)
    for c in param_checks(cat):
        if abs(c.error) > tolerance:
            m = cat.kind("model")[c.model]
            out.append(Problem(m.fact_where["params"] or m.location, f"/models/{c.model}/params",
                               f"architecture gives {c.derived:,.0f} parameters, {c.error:+.2%} from the published {c.published:,.0f} (tolerance {tolerance:.1%})",
                               "a field is probably wrong (head_dim, intermediate_size, tied embeddings, biases), or params counts parts the fields do not describe (extra_params)"))
    return coded(out, "policy_error")
