"""The derivation of a result: for each rule, its formula, the values substituted and, for
every fact it reads, the file:line it came from and its source."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..language.rules import TOTAL


@dataclass(eq=False)
class Input:
    name: str
    value: object
    dim: str
    where: str          # 'data/models.yaml:12:5', 'rule', 'option', 'mode default', 'schema default'
    source: str = ""
    entry: str = ""     # the catalog entry id it belongs to (bf16, llama3-70b)


@dataclass(eq=False)
class Step:
    name: str
    label: str
    formula: str
    where: str
    value: object
    dim: str
    doc: str = ""
    source: str = ""
    inputs: list = field(default_factory=list)


def fact_dim(cat, name: str) -> str:
    vocab = cat.vocabulary
    head, _, rest = name.partition(".")
    if head in vocab.prefixes:
        ft = cat.types.get(vocab.prefixes[head].selects, {}).get(rest)
        return ft.dim if ft else ""
    if head == "assume":
        a = cat.assumptions.get(rest)
        return a.dim if a else ""
    if head == "input":
        spec = vocab.inputs.get(rest)
        return spec.dim if spec else ""
    if head == "device":
        ft = cat.types.get("gpu", {}).get(rest)
        return ft.dim if ft else ""
    return ""


def describe_fact(result, name: str) -> Input:
    sc, cat = result.scenario, result.catalog
    head, _, rest = name.partition(".")
    facts = sc.facts([name])
    value = facts[name]
    dim = fact_dim(cat, name)
    if head == "input":
        return Input(name, value, dim, sc.origin.get(rest, "default"), "")
    if head == "assume":
        a = cat.assumptions[rest]
        return Input(name, value, dim, str(a.location), a.source)
    if head == "group":  # the model's layer groups: one value per group
        loc = sc.model.fact_where.get(name)
        where = str(loc) if loc else "derived from num_layers, sliding_window(_layers) and moe.dense_layers (catalog.layer_groups)"
        return Input(name, value, dim, where, sc.model.source if loc else "", sc.model.id)
    if head == "device":  # the placement: one value per GPU type
        if rest == "count":
            return Input(name, value, dim, "--gpu and --gpus (the placement)", "", sc.placement)
        wheres = sorted({str(g.fact_where.get(rest) or f"schema default (schemas/{g.kind}s)") for g, _c in sc.devices})
        return Input(name, value, dim, "; ".join(wheres), "; ".join(sorted({g.source for g, _c in sc.devices})), sc.placement)
    entry = sc.by_prefix[head]
    loc = entry.fact_where.get(rest)
    if loc is None:
        return Input(name, value, dim, f"schema default (schemas/{entry.kind}s)", "", entry.id)
    return Input(name, value, dim, str(loc), entry.source, entry.id)


def derivation(result, only=None) -> list[Step]:
    """Steps in evaluation order for every rule the result computed (or those `only` needs)."""
    comp = result.compiled
    wanted = set(comp.order) if only is None else _needed(comp, only)
    steps = []
    for name in comp.order:
        if name not in wanted:
            continue
        value = result.values[name]
        if name == TOTAL:
            steps.append(Step(name, "total", " + ".join(comp.components), "sum of the mode's components", value, "[information]",
                              inputs=[Input(c, result.values[c], "[information]", "rule") for c in comp.components]))
            continue
        rule = comp.rules[name]
        inputs = []
        for n in comp.deps.get(name, []):
            if n in comp.rules or n == TOTAL:
                inputs.append(Input(n, result.values[n], comp.dims.get(n, ""), "rule"))
            elif "." in n:
                inputs.append(describe_fact(result, n))
        steps.append(Step(name, rule.label, " ".join(rule.text.split()), str(rule.location), value,
                          comp.dims.get(name, ""), rule.doc, rule.source, inputs))
    return steps


def _needed(comp, targets) -> set:
    from ..language.rules import closure

    return closure(comp.deps, [t for t in targets if t in comp.order], set(comp.order))
