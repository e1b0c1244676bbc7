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
    axis_of,
)
from .syntax import Formula, FormulaError, dotted

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
MAX_DEPTH = 60


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
    another. Raises FormulaError; returns {name: axis} of the tree's per-axis names."""
    count = [0]
    scanning = [False]
    per_names = dict(per_names or {})
    axes: dict = {}

    def bad(what):
        raise FormulaError(f"cached formula is malformed: {what}")

    def walk(n, depth, inside):
        count[0] += 1
        if count[0] > MAX_NODES or depth > MAX_DEPTH or not isinstance(n, list) or not n:
            bad("shape")
        tag, d = n[0], depth + 1
        if tag == "c" and len(n) == 2:
            if not bounded_number(n[1]):
                bad("number")
        elif tag == "b" and len(n) == 2 and isinstance(n[1], bool):
            pass
        elif tag == "s" and len(n) == 2 and isinstance(n[1], str) and len(n[1]) <= 64 and n[1].replace("-", "").replace("_", "").isalnum():
            pass
        elif tag == "n" and len(n) == 2 and isinstance(n[1], str) and NAME.match(n[1]):
            axis = axis_of(n[1], per_names)
            if axis is not None:
                if inside != axis:
                    bad(f"a per-{axis} name outside a reduction over it")
                axes[n[1]] = axis
        elif tag == "op" and len(n) == 4 and n[1] in BINARY:
            if n[1] == "**" and not small_exponent(n[3]):
                bad("exponent")
            walk(n[2], d, inside)
            walk(n[3], d, inside)
        elif tag == "u" and len(n) == 3 and n[1] in UNARY:
            walk(n[2], d, inside)
        elif tag == "bool" and len(n) == 3 and n[1] in ("and", "or") and isinstance(n[2], list) and len(n[2]) >= 2:
            for v in n[2]:
                walk(v, d, inside)
        elif tag == "cmp" and len(n) == 3 and isinstance(n[1], list) and isinstance(n[2], list) and len(n[2]) == len(n[1]) + 1 \
                and n[1] and all(isinstance(o, str) and o in COMPARISONS for o in n[1]):
            for c in n[2]:
                walk(c, d, inside)
        elif tag == "if" and len(n) == 4:
            for v in n[1:]:
                walk(v, d, inside)
        elif tag == "call" and len(n) == 3 and isinstance(n[1], str) and n[1] in REDUCTIONS and isinstance(n[2], list) and len(n[2]) == 1:
            if inside is not None:
                bad("a reduction inside a reduction")
            walk(n[2][0], d, REDUCTIONS[n[1]][0])
        elif tag == "call" and len(n) == 3 and isinstance(n[1], str) and n[1] in SCANS and isinstance(n[2], list) and len(n[2]) == 1:
            if inside != SCANS[n[1]][0] or scanning[0]:
                bad("a prefix scan outside a rule per its axis")
            scanning[0] = True
            walk(n[2][0], d, inside)
            scanning[0] = False
        elif tag == "call" and len(n) == 3 and isinstance(n[1], str) and n[1] in FUNCTIONS and isinstance(n[2], list):
            lo, hi, _fn, _dims = FUNCTIONS[n[1]]
            if not lo <= len(n[2]) <= hi:
                bad("arguments")
            for a in n[2]:
                walk(a, d, inside)
        else:
            bad(f"node {str(tag)[:10]!r}")

    walk(ir, 0, per)
    return axes
