"""What an answer really reads: the names a rule reads on the branches its conditionals took
(live_names), and, for the header of `eval`, the inputs reached from the components through such
branches and through terms that are not zero (header_reads). Kept apart from explain so that a
plain `eval` imports nothing more than it needs."""
from __future__ import annotations


def _is_zero(v) -> bool:
    if isinstance(v, bool) or isinstance(v, str):
        return False
    if isinstance(v, list):
        return bool(v) and all(not isinstance(x, (bool, str)) and x == 0 for x in v)
    return v == 0


def live_names(ir, ev, items, per: str | None = None) -> set:
    """The names a formula's tree reads on the branches taken: at `a if test else b`, the test is
    evaluated (`ev(node, item)` for each of `items(axis)`: [None] outside an axis, every item of
    the axis inside a reduction over it or in a rule `per` it) and only the branches some item
    takes are walked. A test that cannot be evaluated takes both."""
    from ..language.operators import REDUCTIONS

    out: set = set()
    stack = [(ir, per)]  # (node, the axis it is inside): a loop, not a call per node (the header walks ~80 rules a run)
    while stack:
        n, inside = stack.pop()
        tag = n[0]
        if tag == "n":
            out.add(n[1])
        elif tag == "op":
            stack.append((n[2], inside))
            stack.append((n[3], inside))
        elif tag == "u":
            stack.append((n[2], inside))
        elif tag == "bool" or tag == "cmp":
            for v in n[2]:
                stack.append((v, inside))
        elif tag == "if":
            stack.append((n[1], inside))
            try:
                tests = [bool(ev(n[1], i)) for i in items(inside)]
            except Exception:  # noqa: BLE001  (any failure: both branches count as taken)
                tests = [True, False]
            if any(tests):
                stack.append((n[2], inside))
            if not all(tests):
                stack.append((n[3], inside))
        elif tag == "call":
            axis = REDUCTIONS[n[1]][0] if n[1] in REDUCTIONS else inside
            for a in n[2]:
                stack.append((a, axis))
    return out


def header_reads(result, wanted) -> set:
    """The names `wanted(name)` picks that the answer really reads: reached from the components
    through the branches their conditionals took, and through rules whose value is not zero (a
    zero term reads nothing that counts: a LoRA rank that only a zero LoRA term reads, as in full
    training, is not an input of the answer). Each reached rule's branches are evaluated once."""
    comp, values = result.compiled, result.values
    live = _LiveReads(result)
    seen: set = set()
    stack = [n for n in comp.components if n in comp.deps]
    reached: set = set()
    deps = comp.deps
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        names = live(name)
        reached |= names
        for n in names:
            if n in deps and n not in seen and not _is_zero(values.get(n, 1)):
                stack.append(n)
    return {n for n in reached if wanted(n)}  # each name asked once


class _LiveReads:
    """live(rule): the names one rule reads on the branches taken, found when first asked. A
    branch's test is evaluated on the run's values by _test_value (no interpreter is built); a
    test it cannot evaluate (a per-group name, a function call, a quantity literal) takes both."""

    def __init__(self, result):
        self.comp = result.compiled
        self.env = {**result.scenario.facts(self.comp.leaves), **result.values}
        self.memo: dict = {}

    def __call__(self, name: str) -> set:
        if name not in self.memo:
            rule = self.comp.rules.get(name)
            f = rule.formula if rule is not None else None
            ir = None if f is None else f.ir if f.tree is None and f.ir is not None else None
            if ir is None and f is not None:
                from ..language.ir import to_ir

                ir = to_ir(f)
            env = self.env
            self.memo[name] = (set(self.comp.deps.get(name, [])) if ir is None else
                               live_names(ir, lambda node, _i: _test_value(node, env), lambda _axis: [None]))
        return self.memo[name]


_CMP = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
_BIN = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}


def _test_value(node, env):
    """A conditional's test on the run's values: constants, names, + - * /, not, and/or, comparisons;
    anything else raises (the caller then takes both branches)."""
    tag = node[0]
    if tag in ("b", "s"):
        return node[1]
    if tag == "c":
        return float(node[1])   # floats, as the backends compute: bounded work whatever the formula
    if tag == "n":
        v = env[node[1]]
        if isinstance(v, list):
            raise ValueError(node[1])
        return v if isinstance(v, (bool, str)) else float(v)
    if tag == "op" and node[1] in _BIN:
        return _BIN[node[1]](_test_value(node[2], env), _test_value(node[3], env))
    if tag == "u":
        v = _test_value(node[2], env)
        return (not v) if node[1] == "not" else -v
    if tag == "bool":
        vals = (_test_value(v, env) for v in node[2])
        return all(vals) if node[1] == "and" else any(vals)
    if tag == "cmp":
        vals = [_test_value(v, env) for v in node[2]]
        return all(_CMP[op](a, b) for op, a, b in zip(node[1], vals, vals[1:]))
    raise ValueError(tag)
