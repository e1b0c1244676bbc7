"""The derivation of a result: for each rule, its formula, the values substituted and, for
every fact it reads, the file:line it came from and its source.

Two readings: derivation() gives every step in evaluation order (the JSON's `derivation`, the
API's Result.derivation()); top_down() gives the reading order of `--explain`: from the total
down, each rule once, under the first rule that reads it, with the rules that do not shape the
answer folded: those whose value is zero, and those read only on a branch of a conditional
that was not taken (`a if cond else b`).

A data file's place is given relative to the data folder of its layer, whatever folder the run
starts in and wherever the package is installed: `built-in:rules/default.yaml:154:14` for the
built-in data; an overlay's file (--data DIR, VRAMRULES_DATA) as Location shows it, relative to
the current folder when it lies inside it (org-data/assumptions.yaml:3:12), else absolute."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..language.rules import TOTAL
from ..reading.datadir import builtin_data_dir
from .live import live_names

BUILTIN = "built-in"


def data_where(loc) -> str:
    """A Location as --explain and the JSON show it: 'built-in:models.yaml:152:17' for a file of
    the built-in data, else str(loc)."""
    text = str(loc)
    f = getattr(loc, "file", "")
    if not f or not os.path.isabs(f):
        return text
    base = os.path.normcase(os.path.abspath(builtin_data_dir())) + os.sep
    if not os.path.normcase(f).startswith(base):
        return text
    rel = f[len(base):].replace(os.sep, "/")
    return f"{BUILTIN}:{rel}" + (f":{loc.line}:{loc.col}" if loc.line else "")


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


def in_layer(where: str, layer: str) -> str:
    """A value's place (str(Location), as `show` rows give it) relative to the data folder of
    its layer, for a text that names the layer beside it: 'models.yaml:141:11' in the built-in
    data, 'assumptions.yaml:3:12' in --data org; anything else (--set, schema default) as it is."""
    if layer == BUILTIN:
        folder = builtin_data_dir()
    elif layer.startswith("--data ") or layer.startswith("VRAMRULES_DATA:"):
        folder = layer.split(" ", 1)[1] if layer.startswith("--data ") else layer.split(":", 1)[1]
    else:
        return where
    from ..errors import shown

    for base in {os.path.abspath(folder), shown(os.path.abspath(folder))}:
        base = base.rstrip(os.sep) + os.sep
        if where.startswith(base):
            return where[len(base):].replace(os.sep, "/")
    return where


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
        return Input(name, value, dim, data_where(a.location), a.source)
    if head == "group":  # the model's layer groups: one value per group
        loc = sc.model.fact_where.get(name)
        where = data_where(loc) if loc else "derived from num_layers, sliding_window(_layers) and moe.dense_layers (catalog.layer_groups)"
        return Input(name, value, dim, where, sc.model.source if loc else "", sc.model.id)
    if head == "device":  # the placement: one value per GPU type
        if rest == "count":
            return Input(name, value, dim, "--gpu and --gpus (the placement)", "", sc.placement)
        wheres = sorted({data_where(g.fact_where[rest]) if g.fact_where.get(rest) else f"schema default (schemas/{g.kind}s)" for g, _c in sc.devices})
        return Input(name, value, dim, "; ".join(wheres), "; ".join(sorted({g.source for g, _c in sc.devices})), sc.placement)
    entry = sc.by_prefix[head]
    loc = entry.fact_where.get(rest)
    if loc is None:
        return Input(name, value, dim, f"schema default (schemas/{entry.kind}s)", "", entry.id)
    return Input(name, value, dim, data_where(loc), entry.source, entry.id)


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
        steps.append(Step(name, rule.label, " ".join(rule.text.split()), data_where(rule.location), value,
                          comp.dims.get(name, ""), rule.doc, rule.source, inputs))
    return steps


def _needed(comp, targets) -> set:
    from ..language.rules import closure

    return closure(comp.deps, [t for t in targets if t in comp.order], set(comp.order))


# ---------------------------------------------------------------- the reading order of --explain

ZERO, NOT_TAKEN = "zero", "branch not taken"


def top_down(result) -> tuple[list, dict, dict]:
    """(steps, folded, untaken): the steps --explain shows, from the total down: the total, then
    each rule the first time a shown rule reads it (depth first, in the order its formula names
    them); then, the same way, what no rule reads: the fit verdict, the figures, the warnings
    that hold, the rest in evaluation order. `folded`: {rule: ZERO | NOT_TAKEN} for every rule
    computed but not shown: its value is zero (a warning that does not hold counts as zero), or
    the shown rules read it only on a branch not taken; the rules read only through a folded rule
    are folded with it, for its reason. `untaken`: {shown rule: the names it reads only on a
    branch not taken}."""
    from ..language.rules import report_names

    comp = result.compiled
    values = result.values
    steps = {s.name: s for s in derivation(result)}
    live = _live_reads(result)
    reads = {n: (list(comp.components) if n == TOTAL else list(comp.deps.get(n, []))) for n in comp.order}
    readers: dict = {}
    for name in comp.order:
        for n in reads[name]:
            readers.setdefault(n, []).append(name)
    rs = result.catalog.rulesets[comp.ruleset]
    first = [n for n in ["fits"] + report_names(rs, rs.modes[comp.mode]) + list(comp.warnings) if n in steps]
    roots = [TOTAL] + list(dict.fromkeys(first + [n for n in comp.order if not readers.get(n)]))
    shown: list = []
    seen: set = set()
    why: dict = {}
    for root in roots:
        if root in seen:
            continue
        if root != TOTAL and (_is_zero(values[root]) or (root in comp.warnings and values[root] is False)):
            why[root] = ZERO
            continue
        stack = [root]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            shown.append(steps[name])
            children = []
            for n in reads[name]:
                if n not in steps or n in seen:
                    continue
                if n not in live[name]:
                    why.setdefault(n, NOT_TAKEN)
                elif _is_zero(values[n]):
                    why.setdefault(n, ZERO)
                else:
                    children.append(n)
            stack.extend(reversed(children))
    folded: dict = {}
    for n in reversed(comp.order):  # a rule's readers come after it: theirs are known first
        if n not in seen:
            folded[n] = why.get(n) or next((folded[r] for r in readers.get(n, []) if r in folded), ZERO)
    folded = {n: folded[n] for n in comp.order if n in folded}
    untaken = {s.name: {n for n in reads[s.name] if n not in live[s.name]} for s in shown}
    return shown, folded, {k: v for k, v in untaken.items() if v}


def _is_zero(v) -> bool:
    if isinstance(v, bool) or isinstance(v, str):
        return False
    if isinstance(v, list):
        return bool(v) and all(not isinstance(x, (bool, str)) and x == 0 for x in v)
    return v == 0


def _live_reads(result) -> dict:
    """{rule: the names it reads on the branches its conditionals took}."""
    from ..backends.compiler import _unit_values, per_names
    from ..backends.interpreter import Interpreted
    from ..language.ir import to_ir
    from ..language.operators import AXES

    comp, sc = result.compiled, result.scenario
    env = {**sc.facts(comp.leaves), **result.values}
    groups = per_names(comp.rules, comp.order)
    units = _unit_values(comp.rules)

    def items(axis):
        return [None] if axis is None else range(len(env[AXES[axis]]))

    out: dict = {TOTAL: set(comp.components)}
    for name in comp.order:
        if name == TOTAL:
            continue
        rule = comp.rules[name]
        f = rule.formula
        try:
            ir = f.ir if f.tree is None and f.ir is not None else to_ir(f)
            interp = Interpreted(ir, units, groups, rule.per)
        except Exception:  # noqa: BLE001  (a tree the interpreter refuses: every name counts)
            out[name] = set(comp.deps.get(name, []))
            continue

        out[name] = live_names(ir, lambda node, i, interp=interp: interp._ev(node, env, i), items, rule.per)
    return out
