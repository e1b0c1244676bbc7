"""The intermediate form: a checked formula's tree as nested lists (JSON), the only input of every
backend (backends/codegen: generated Python; backends/interpreter) and what the catalog cache
stores. Node kinds, by their first item:

    ["c", number]  ["b", bool]  ["s", choice]  ["n", dotted.name]
    ["op", "+", a, b]  ["u", "-", a]  ["bool", "and", [a, b, ...]]  ["cmp", ["<", ...], [a, b, ...]]
    ["if", test, then, else]  ["call", "min", [args]]  (a reduction or a prefix scan is a "call" too)

validate() checks a tree node by node against the same allow-list as the parser, because a tree
may come from a cache file rather than from parse(): a backend is given only validated trees."""
from __future__ import annotations

import ast
import math
import re

from .operators import (
    AXES,
    BINARY,
    COMPARISONS,
    FUNCTIONS,
    MAX_CONSTANT,
    MAX_EXPONENT,
    MAX_NODES,
    REDUCTIONS,
    SCANS,
    SYNTAX_OF_BINARY,
    SYNTAX_OF_COMPARISON,
    SYNTAX_OF_UNARY,
    UNARY,
)
from .syntax import Formula, FormulaError, dotted

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
MAX_DEPTH = 60
_NAMES_OK: set = set()  # names that matched NAME (a run's ~170 trees read the same few hundred names ~1,600 times)
MAX_NAMES_OK = 65536


def to_ir(formula: Formula) -> list:
    """The checked tree as nested lists (JSON), so the catalog cache needs no parsing."""

    def conv(node):
        if isinstance(node, ast.Constant):
            v = node.value
            return ["b", v] if isinstance(v, bool) else ["s", v] if isinstance(v, str) else ["c", v]
        if isinstance(node, (ast.Name, ast.Attribute)):
            return ["n", dotted(node)]
        if isinstance(node, ast.BinOp):
            return ["op", SYNTAX_OF_BINARY[type(node.op)], conv(node.left), conv(node.right)]
        if isinstance(node, ast.UnaryOp):
            return ["u", SYNTAX_OF_UNARY[type(node.op)], conv(node.operand)]
        if isinstance(node, ast.BoolOp):
            return ["bool", "and" if isinstance(node.op, ast.And) else "or", [conv(v) for v in node.values]]
        if isinstance(node, ast.Compare):
            return ["cmp", [SYNTAX_OF_COMPARISON[type(o)] for o in node.ops], [conv(node.left)] + [conv(c) for c in node.comparators]]
        if isinstance(node, ast.IfExp):
            return ["if", conv(node.test), conv(node.body), conv(node.orelse)]
        if isinstance(node, ast.Call):
            return ["call", node.func.id, [conv(a) for a in node.args]]
        raise AssertionError(type(node))

    return conv(formula.ast)


def bounded_number(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and abs(v) <= MAX_CONSTANT


def small_exponent(e) -> bool:
    """The exponent of ** in the data form: a constant (or its negation) of at most MAX_EXPONENT."""
    e = e[2] if isinstance(e, list) and len(e) == 3 and e[:2] == ["u", "-"] else e
    return isinstance(e, list) and len(e) == 2 and e[0] == "c" and bounded_number(e[1]) and abs(e[1]) <= MAX_EXPONENT


def validate(ir, per_names=None, per: str | None = None) -> dict:  # noqa: C901  (one branch per node kind)
    """Check a tree node by node: the allow-list's node kinds and operators, bounded constants,
    small constant exponents, choice names, and per-axis names (`per_names`, AXIS.FIELD) only
    inside a reduction over their axis or in a rule that is `per` that axis; no reduction inside
    another, no prefix scan inside another. Raises FormulaError; returns {name: axis} of the
    tree's per-axis names.

    (Every run validates the trees it reads from the cache, ~160 a warm `eval`: the walk is a
    loop over a stack, the checks inline, in the order a recursive walk would meet the nodes.)"""
    per_names = per_names if isinstance(per_names, dict) else dict(per_names or {})
    axes: dict = {}
    name_ok, names_ok = NAME.match, _NAMES_OK
    count = 0
    stack = [(ir, 0, per, False)]  # (node, depth, the axis it is inside, inside a prefix scan)

    def bad(what):
        raise FormulaError(f"cached formula is malformed: {what}")

    while stack:
        n, depth, inside, scanning = stack.pop()
        count += 1
        if count > MAX_NODES or depth > MAX_DEPTH or type(n) is not list or not n:
            bad("shape")
        tag, d = n[0], depth + 1
        size = len(n)
        if tag == "n" and size == 2:
            name = n[1]
            if type(name) is not str:
                bad(f"node {str(tag)[:10]!r}")
            if name not in names_ok:
                if not name_ok(name):
                    bad(f"node {str(tag)[:10]!r}")
                if len(names_ok) < MAX_NAMES_OK:
                    names_ok.add(name)
            axis = per_names.get(name)
            if not axis:
                head, dot, _rest = name.partition(".")
                axis = head if dot and head in AXES else None
            if axis is not None:
                if inside != axis:
                    bad(f"a per-{axis} name outside a reduction over it")
                axes[name] = axis
        elif tag == "c" and size == 2:
            v = n[1]
            if not ((type(v) is float or type(v) is int) and -MAX_CONSTANT <= v <= MAX_CONSTANT):  # (a NaN fails both)
                bad("number")
        elif tag == "op" and size == 4 and n[1] in BINARY:
            if n[1] == "**" and not small_exponent(n[3]):
                bad("exponent")
            stack.append((n[3], d, inside, scanning))
            stack.append((n[2], d, inside, scanning))
        elif tag == "b" and size == 2 and isinstance(n[1], bool):
            pass
        elif tag == "s" and size == 2 and isinstance(n[1], str) and len(n[1]) <= 64 and n[1].replace("-", "").replace("_", "").isalnum():
            pass
        elif tag == "u" and size == 3 and n[1] in UNARY:
            stack.append((n[2], d, inside, scanning))
        elif tag == "bool" and size == 3 and n[1] in ("and", "or") and type(n[2]) is list and len(n[2]) >= 2:
            for v in reversed(n[2]):
                stack.append((v, d, inside, scanning))
        elif tag == "cmp" and size == 3 and type(n[1]) is list and type(n[2]) is list and len(n[2]) == len(n[1]) + 1 and n[1]:
            for o in n[1]:
                if type(o) is not str or o not in COMPARISONS:
                    bad(f"node {str(tag)[:10]!r}")
            for c in reversed(n[2]):
                stack.append((c, d, inside, scanning))
        elif tag == "if" and size == 4:
            stack.append((n[3], d, inside, scanning))
            stack.append((n[2], d, inside, scanning))
            stack.append((n[1], d, inside, scanning))
        elif tag == "call" and size == 3 and isinstance(n[1], str) and n[1] in REDUCTIONS and type(n[2]) is list and len(n[2]) == 1:
            if inside is not None:
                bad("a reduction inside a reduction")
            stack.append((n[2][0], d, REDUCTIONS[n[1]][0], scanning))
        elif tag == "call" and size == 3 and isinstance(n[1], str) and n[1] in SCANS and type(n[2]) is list and len(n[2]) == 1:
            if inside != SCANS[n[1]][0] or scanning:
                bad("a prefix scan outside a rule per its axis")
            stack.append((n[2][0], d, inside, True))
        elif tag == "call" and size == 3 and isinstance(n[1], str) and n[1] in FUNCTIONS and type(n[2]) is list:
            lo, hi, _fn, _dims = FUNCTIONS[n[1]]
            if not lo <= len(n[2]) <= hi:
                bad("arguments")
            for a in reversed(n[2]):
                stack.append((a, d, inside, scanning))
        else:
            bad(f"node {str(tag)[:10]!r}")
    return axes
