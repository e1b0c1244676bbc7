"""The operator and function table of the rule language, one row each: its syntax, its dimension
rule, the Python it generates and what the interpreter calls. The checker, both backends and the
parser read these tables and nothing else; the limits bound every formula and cached tree."""
from __future__ import annotations

import ast
import math
import operator as _operator
from typing import NamedTuple

MAX_LENGTH = 2000
MAX_NODES = 400
MAX_CONSTANT = 1e30
MAX_EXPONENT = 8

# Rules evaluate on floats only: every constant, fact and function result is a float. Python
# ints grow without bound (`10 ** 8`, `r1 ** 8`, `r2 ** 8`, ... or ceil() of a product of
# products would run for minutes); a float is bounded work and overflows to an error or to inf,
# which compiler.run names with the rule's file:line.
def _ceil(x):
    return float(math.ceil(x))


def _floor(x):
    return float(math.floor(x))


def _round_up(x, multiple):
    return float(math.ceil(x / multiple)) * multiple


def _pow(base, exponent):
    """`**` on floats: an overflow raises OverflowError, and a fractional power of a negative
    number is an error rather than a complex number."""
    base = float(base)
    if base < 0 and exponent != int(exponent):
        raise ValueError(f"fractional power ({exponent:g}) of a negative number ({base:g})")
    return base ** exponent


def _group_range(counts):
    """The indices of the layer groups (generated code has no builtins)."""
    return range(len(counts))


def _prefix_range(i):
    """The items up to and including item i: the range of a prefix scan (generated code has no builtins)."""
    return range(int(i) + 1)


def _group_sum(values):
    return float(sum(values))


def _group_max(values):
    return max(values) if values else 0.0


def _group_min(values):
    return min(values) if values else 0.0


# Lists in the language. An axis is a list a scenario holds: the model's layer groups
# (group.FIELD) and the placement's devices (device.FIELD, one entry per GPU type with its
# count). A rule declared `per: AXIS` has one value per item; a reduction evaluates its argument
# once per item and reduces. axis -> the fact whose length is the number of items.
AXES = {"group": "group.count", "device": "device.count"}
AXIS_WORDS = {"group": "layer group", "device": "device of the placement"}
# reduction -> (axis, function)
REDUCTIONS = {"group_sum": ("group", _group_sum), "group_max": ("group", _group_max),
              "device_sum": ("device", _group_sum), "device_max": ("device", _group_max), "device_min": ("device", _group_min)}
# prefix scan -> (axis, function): in a rule `per: AXIS`, the reduction of its argument over the
# items up to and including this one (device_prefix_sum(device.split) is the split point of
# this device, as llama.cpp's cumulative --tensor-split). A scan is read only in a rule per its
# axis, and holds no reduction or scan.
SCANS = {"device_prefix_sum": ("device", _group_sum)}
GROUP_PREFIX = "group."
GROUP_COUNT = AXES["group"]


RANGE_OF = {"group": "_gi", "device": "_di"}  # the generated code's name for an axis's range


def axis_of(name: str, per_names) -> str | None:
    """The axis a name has one value per (a per-axis rule, or AXIS.FIELD), or None."""
    a = per_names.get(name) if isinstance(per_names, dict) else None
    if a:
        return a
    head = name.partition(".")[0]
    return head if head in AXES and "." in name else None

class Function(NamedTuple):
    """One row of the function table: arity, what is called, and the dimension rule (same:
    the arguments share a dimension, which the result has; plain: a plain number in and out;
    reduce: a reduction over a list axis, its argument's dimension; scan: a prefix reduction, one
    value per item of its axis, its argument's dimension)."""

    lo: int
    hi: int
    fn: object
    dims: str


FUNCTIONS = {
    "min": Function(2, 8, min, "same"),
    "max": Function(2, 8, max, "same"),
    "ceil": Function(1, 1, _ceil, "plain"),
    "floor": Function(1, 1, _floor, "plain"),
    "round_up": Function(2, 2, _round_up, "same"),
    **{name: Function(1, 1, fn, "reduce") for name, (_axis, fn) in REDUCTIONS.items()},
    **{name: Function(1, 1, fn, "scan") for name, (_axis, fn) in SCANS.items()},
}
# The JavaScript column of the function table (a column of its own: the rows above are unpacked
# by arity): each function's helper in the generated page, which backends/javascript.RUNTIME
# defines with the Python function's semantics (min/max keep the first of equals, ceil/floor of
# a non-finite number fail, sums add in Python's order).
FUNCTION_JS = {name: "_fn_" + name for name in FUNCTIONS}

class Operator(NamedTuple):
    """One row of the operator table: everything the language knows of an operator."""

    syntax: type      # its ast node type (what parse() admits)
    dims: str         # the dimension rule: same (both sides alike) | product | quotient | count | power
    source: str       # generated Python, {a} and {b} the operands
    fn: object        # what the interpreter calls
    js: str = ""      # generated JavaScript (backends/javascript), with Python's float semantics


# The binary operators of the language: the checker, code generation and the interpreter read
# this table and nothing else. `**` goes through _pow (floats only, a located overflow) and its
# exponent is a constant of at most MAX_EXPONENT (checked at parse and in cached trees).
BINARY = {
    "+": Operator(ast.Add, "same", "({a} + {b})", _operator.add, "({a} + {b})"),
    "-": Operator(ast.Sub, "same", "({a} - {b})", _operator.sub, "({a} - {b})"),
    "*": Operator(ast.Mult, "product", "({a} * {b})", _operator.mul, "({a} * {b})"),
    "/": Operator(ast.Div, "quotient", "({a} / {b})", _operator.truediv, "_div({a}, {b})"),
    "//": Operator(ast.FloorDiv, "count", "({a} // {b})", _operator.floordiv, "_floordiv({a}, {b})"),
    "%": Operator(ast.Mod, "same", "({a} % {b})", _operator.mod, "_mod({a}, {b})"),
    "**": Operator(ast.Pow, "power", "_pow({a}, {b})", _pow, "_pow({a}, {b})"),
}
COMPARISONS = {
    "<": Operator(ast.Lt, "same", "<", _operator.lt, "<"), "<=": Operator(ast.LtE, "same", "<=", _operator.le, "<="),
    ">": Operator(ast.Gt, "same", ">", _operator.gt, ">"), ">=": Operator(ast.GtE, "same", ">=", _operator.ge, ">="),
    "==": Operator(ast.Eq, "same", "==", _operator.eq, "==="), "!=": Operator(ast.NotEq, "same", "!=", _operator.ne, "!=="),
}
# the unary operators: `not` on booleans, signs on numbers (`sign`: the dimension is kept)
UNARY = {
    "-": Operator(ast.USub, "sign", "(-{a})", _operator.neg, "(-{a})"),
    "+": Operator(ast.UAdd, "sign", "(+{a})", _operator.pos, "(+{a})"),
    "not": Operator(ast.Not, "boolean", "(not {a})", _operator.not_, "(!{a})"),
}
BOOLEAN_OPS = {"and": ast.And, "or": ast.Or}
SYNTAX_OF_BINARY = {op.syntax: sym for sym, op in BINARY.items()}
SYNTAX_OF_COMPARISON = {op.syntax: sym for sym, op in COMPARISONS.items()}
SYNTAX_OF_UNARY = {op.syntax: sym for sym, op in UNARY.items()}

