"""Generated Python, from the intermediate form: a validated tree becomes one expression over local
variables, written from the operator table's `source` column (never from the user's text). Names
with an axis hold one value per item: they are indexed by the item (`_i`) inside a reduction over
their axis, or everywhere in a rule that is `per` that axis (whose caller loops over the items);
a reduction becomes a loop over the axis's range (`_gi` for groups, `_di` for devices), a prefix
scan a loop over the items up to the rule's own item."""
from __future__ import annotations

from ..language.ir import to_ir, validate
from ..language.operators import BINARY, FUNCTIONS, RANGE_OF, REDUCTIONS, SCANS, UNARY, _group_range, _pow, _prefix_range
from ..language.syntax import Formula


def to_source(formula: Formula, local_of, unit_value, per_names=None, per: str | None = None) -> str:
    """The formula as Python source over local variables, from the data form of its checked tree."""
    return ir_source(formula.ir if formula.ir is not None else to_ir(formula), local_of, unit_value, per_names, per)


def ir_source(ir, local_of, unit_value, per_names=None, per: str | None = None) -> str:
    """Python source from a tree; the tree is validated first (it may come from the cache), so
    nothing but numbers, quoted choices, generated names and allowed operators reaches the source.
    Raises FormulaError."""
    axes = validate(ir, per_names, per)

    def conv(n):
        tag = n[0]
        if tag == "c":
            return repr(float(n[1]))
        if tag == "b":
            return "True" if n[1] else "False"
        if tag == "s":
            return repr(n[1])
        if tag == "n":
            if n[1] in axes:
                return f"{local_of(n[1])}[_i]"
            u = unit_value(n[1])
            return repr(float(u)) if u is not None else local_of(n[1])
        if tag == "op":
            return BINARY[n[1]].source.format(a=conv(n[2]), b=conv(n[3]))
        if tag == "u":
            return UNARY[n[1]].source.format(a=conv(n[2]))
        if tag == "bool":
            return "(" + f" {n[1]} ".join(conv(v) for v in n[2]) + ")"
        if tag == "cmp":
            out = conv(n[2][0])
            for o, c in zip(n[1], n[2][1:]):
                out += f" {o} {conv(c)}"
            return f"({out})"
        if tag == "if":
            return f"({conv(n[2])} if {conv(n[1])} else {conv(n[3])})"
        if n[1] in REDUCTIONS:  # "call" of a reduction: a loop over its axis
            return f"_fn_{n[1]}([{conv(n[2][0])} for _i in {RANGE_OF[REDUCTIONS[n[1]][0]]}])"
        if n[1] in SCANS:  # a prefix scan in a rule per its axis: the items up to this one (the
            # inner comprehension's range is evaluated in the outer one, where _i is this item)
            return f"_fn_{n[1]}([{conv(n[2][0])} for _i in _prefix_range(_i)])"
        return f"_fn_{n[1]}(" + ", ".join(conv(a) for a in n[2]) + ")"

    return conv(ir)


def function_globals() -> dict:
    """The only globals a compiled rule function sees."""
    g = {"__builtins__": {}, "_pow": _pow, "_group_range": _group_range, "_prefix_range": _prefix_range}
    for name, row in FUNCTIONS.items():
        g["_fn_" + name] = row.fn
    return g
