"""The interpreter of the intermediate form: a rule evaluated straight from its validated tree,
for a run that evaluates a scenario once. Cheaper than generating and compiling code (~10 ms a
mode) when there is one evaluation to do. The tree is validated once, when the interpreter is
made (language.ir.validate, the check code generation applies too): a tree that would not become
code does not become an interpreter either, and evaluating re-checks nothing."""
from __future__ import annotations

from ..language.ir import validate
from ..language.operators import AXES, BINARY, COMPARISONS, FUNCTIONS, REDUCTIONS, SCANS, UNARY
from ..language.syntax import FormulaError


class Interpreted:
    __slots__ = ("axes", "ir", "per", "units")

    def __init__(self, ir, unit_value, per_names=None, per: str | None = None):
        self.axes = validate(ir, per_names, per)  # raises FormulaError; the tree's per-axis names, found once
        self.ir, self.units, self.per = ir, unit_value, per

    def __call__(self, env, i=None):
        """The value; `i`: the item (layer group, device) a per-axis rule is evaluated for."""
        try:
            return self._ev(self.ir, env, i)
        except RecursionError:
            raise FormulaError("cached formula is malformed: too deep") from None
        except (IndexError, KeyError, AttributeError):
            raise FormulaError("cached formula is malformed: shape") from None

    def _ev(self, n, env, i=None):  # noqa: C901  (one branch per node kind)
        tag = n[0]
        if tag == "c":
            return float(n[1])
        if tag == "b" or tag == "s":
            return n[1]
        if tag == "n":
            if n[1] in self.axes:
                return env[n[1]][i]
            v = env.get(n[1])
            if v is None:
                u = self.units(n[1])
                if u is None:
                    raise FormulaError(f"name {n[1]!r} has no value")
                return u
            return v
        if tag == "op":
            a, b = self._ev(n[2], env, i), self._ev(n[3], env, i)
            return BINARY[n[1]].fn(a, b)
        if tag == "u":
            return UNARY[n[1]].fn(self._ev(n[2], env, i))
        if tag == "if":
            return self._ev(n[2], env, i) if self._ev(n[1], env, i) else self._ev(n[3], env, i)
        if tag == "bool":
            if n[1] == "and":
                return all(self._ev(v, env, i) for v in n[2])
            return any(self._ev(v, env, i) for v in n[2])
        if tag == "cmp":
            left = self._ev(n[2][0], env, i)
            for op, c in zip(n[1], n[2][1:]):
                right = self._ev(c, env, i)
                if not COMPARISONS[op].fn(left, right):
                    return False
                left = right
            return True
        if n[1] in REDUCTIONS:  # "call" of a reduction: over every item of its axis
            axis, fn = REDUCTIONS[n[1]]
            return fn([self._ev(n[2][0], env, g) for g in range(len(env[AXES[axis]]))])
        if n[1] in SCANS:  # a prefix scan: over the items up to and including this one
            return SCANS[n[1]][1]([self._ev(n[2][0], env, g) for g in range(int(i) + 1)])
        return FUNCTIONS[n[1]].fn(*[self._ev(a, env, i) for a in n[2]])
