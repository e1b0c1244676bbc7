"""Rows for `vramrules list`: plain dicts, rendered as a table or JSON by the CLI."""
from __future__ import annotations

from ..errors import unknown
from ..reading.quantity import auto, count


def rows(cat, what: str, rules: str = "default"):
    if what == "models":
        items = []
        for mid, m in cat.kind("model").items():
            f = m.facts
            items.append({"id": mid, "name": m.name, "params": count(f["params"]),
                          "layers": int(f["num_layers"]), "heads": f"{int(f['num_attention_heads'])}/{int(f['num_kv_heads'])}",
                          "context": int(f["max_context"]), "moe": f"{int(f['moe.num_experts'])}x{int(f['moe.experts_per_token'])}" if f["moe.num_experts"] else "",
                          "source": m.source})
        return ["id", "params", "layers", "heads", "context", "moe", "name"], items
    if what == "gpus":
        items = []
        for gid, g in cat.kind("gpu").items():
            items.append({"id": gid, "name": g.name, "vendor": g.raw["vendor"], "memory": g.raw["memory"],
                          "reported": g.raw.get("memory_reported", ""), "usable": auto(g.facts["memory_reported"] * g.facts["usable_fraction"]),
                          "source": g.source})
        return ["id", "memory", "reported", "usable", "vendor", "name"], items
    if what == "precisions":
        items = [{"id": pid, "name": p.name, "kind": p.raw["kind"], "bits": p.raw["bits"],
                  "bits_per_weight": round(p.facts["bits"] * 8, 6), "source": p.source} for pid, p in cat.kind("precision").items()]
        return ["id", "bits", "kind", "name"], items
    if what == "optimizers":
        items = [{"id": oid, "name": o.name, "state_bytes_per_param": o.raw["state_bytes_per_param"], "source": o.source}
                 for oid, o in cat.kind("optimizer").items()]
        return ["id", "state_bytes_per_param", "name"], items
    if what == "lora-targets":
        items = [{"id": lid, "name": l.name, "modules": ",".join(k for k in ("q", "k", "v", "o", "mlp") if l.facts[k]), "source": l.source}
                 for lid, l in cat.kind("lora_targets").items()]
        return ["id", "modules", "name"], items
    if what == "engines":
        from ..evaluation.engines import known

        items = [{"id": eid, "name": e.name, "rules": e.raw["rules"], "mode": e.raw["mode"], "releases": known(e),
                  "aliases": ", ".join(e.raw.get("aliases") or []), "source": e.source} for eid, e in cat.kind("engine").items()]
        return ["id", "name", "releases", "rules", "mode", "aliases"], items
    if what == "rulesets":
        items = [{"id": n, "modes": ", ".join(rs.modes), "summary": rs.summary} for n, rs in cat.rulesets.items()]
        return ["id", "modes", "summary"], items
    if what == "assumptions":
        items = [{"name": n, "value": str(a.text), "summary": a.raw.get("summary", ""), "reviewed": a.raw.get("reviewed", ""),
                  "owner": a.raw.get("owner", ""), "source": a.source, "location": str(a.location)} for n, a in cat.assumptions.items()]
        return ["name", "value", "reviewed", "summary"], items
    rs = cat.rulesets.get(rules)
    if rs is None:
        raise unknown("rule set", rules, cat.rulesets)
    items = [{"id": n, "components": ", ".join(m.components), "summary": m.summary, "defaults": m.defaults} for n, m in rs.modes.items()]
    return ["id", "summary"], items
