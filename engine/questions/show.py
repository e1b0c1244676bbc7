"""`vramrules show KIND ID`: a resolved entry, field by field, with where each value came from
(file:line:col and layer), including schema defaults; and `vramrules assumptions`."""
from __future__ import annotations

import datetime

from ..errors import unknown

KINDS = {"model": ("models.yaml", "models", "model"), "gpu": ("gpus.yaml", "gpus", "gpu"),
         "precision": ("precisions.yaml", "precisions", "precision"), "optimizer": ("optimizers.yaml", "optimizers", "optimizer"),
         "lora-target": ("assumptions.yaml", "lora_targets", "lora_targets"), "assumption": ("assumptions.yaml", "assumptions", None),
         "rule": (None, None, None)}


def fields(cat, kind: str, ident: str, rules: str = "default") -> list[dict]:
    """Rows: {field, value, from, layer}."""
    if kind == "rule":
        return _rule_fields(cat, ident, rules)
    fname, section, ekind = KINDS[kind]
    merged = cat.files[fname]
    entries = (merged.data or {}).get(section) or {}
    if ident not in entries:
        raise unknown(kind, ident, entries)
    rows = []

    def walk(value, pointer, prefix):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, pointer + (k,), prefix + k + ".")
            return
        rows.append({"field": prefix[:-1], "value": value, "from": str(merged.where(pointer)), "layer": merged.layer(pointer)})

    walk(entries[ident], (section, ident), "")
    if ekind:
        entry = cat.kind(ekind)[ident]
        for name, loc in entry.fact_where.items():
            if loc is None and not any(r["field"] == name for r in rows):
                rows.append({"field": name, "value": entry.facts[name], "from": "schema default", "layer": "schema"})
    return rows


def _rule_fields(cat, name, rules):
    rs = cat.rulesets.get(rules)
    if rs is None:
        raise unknown("rule set", rules, cat.rulesets)
    found = [(None, rs.rules[name])] if name in rs.rules else []
    found += [(m.name, m.rules[name]) for m in rs.modes.values() if name in m.rules]
    if not found:
        every = set(rs.rules) | {r for m in rs.modes.values() for r in m.rules}
        raise unknown("rule", name, every)
    rows = []
    for mode, r in found:
        scope = f"mode {mode}" if mode else f"rule set {rules}"
        rows.append({"field": f"formula ({scope})", "value": " ".join(r.text.split()), "from": str(r.location), "layer": r.layer})
        for f in ("unit", "label", "doc", "source"):
            v = getattr(r, f)
            if v:
                rows.append({"field": f, "value": v, "from": str(r.location), "layer": r.layer})
    return rows


def assumptions(cat, today: datetime.date, stale_days: int | None = None) -> list[dict]:
    out = []
    for name, a in cat.assumptions.items():
        reviewed = a.raw.get("reviewed")
        age = None
        if reviewed:
            try:
                age = (today - datetime.date.fromisoformat(reviewed)).days
            except ValueError:
                age = None
        row = {"name": f"assume.{name}", "value": a.text, "owner": a.raw.get("owner", ""), "reviewed": reviewed or "",
               "age_days": age, "source": a.source, "from": str(a.location), "layer": a.layer}
        if stale_days is None or age is None or age > stale_days:
            out.append(row)
    for eid, e in cat.kind("engine").items():  # an engine profile's settings, one row per release range
        for setting, items in (e.raw.get("settings") or {}).items():
            for i, item in enumerate(items):
                age = _age(today, item.get("reviewed"))
                row = {"name": f"engine.{eid}.{setting}", "value": f"{item['value']} (from {e.name} {item['since']})", "owner": "",
                       "reviewed": item.get("reviewed", ""), "age_days": age, "source": item.get("source", ""),
                       "from": str(e.fact_where.get(f"{setting}@{i}", e.location)), "layer": e.layer}
                if stale_days is None or age is None or age > stale_days:
                    out.append(row)
    return out


def _age(today: datetime.date, reviewed) -> int | None:
    try:
        return (today - datetime.date.fromisoformat(reviewed)).days if reviewed else None
    except ValueError:
        return None
