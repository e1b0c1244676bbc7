"""The type and dimension check of a parsed formula: every name resolved (by the caller's
resolver), every operator and function applied by its table row's dimension rule, per-axis names
read only where they have one value. check(...) -> (kind, Pint quantity of magnitude 1)."""
from __future__ import annotations

import ast

from ..valuekinds import BOOL, ENUM, NUM
from .operators import AXIS_WORDS, BINARY, FUNCTIONS, REDUCTIONS, SCANS, SYNTAX_OF_BINARY, SYNTAX_OF_UNARY, UNARY, axis_of
from .syntax import Formula, dotted, fail

STR = "string"  # a quoted choice, compared with a choice-valued name


def check(formula: Formula, resolve, per: str | None = None, per_names=None):
    """Type-check a parsed formula. `resolve(name)` -> (kind, pint quantity or None) or raises
    FormulaError. Returns (kind, quantity-of-magnitude-1 carrying the dimension).
    `per_names`: {rule name: axis} of the rules declared `per: AXIS`. Those and AXIS.FIELD
    have one value per item of their axis: they may be read only inside a reduction over that
    axis (group_sum, device_min, ...), or anywhere in a rule that is itself `per` that axis
    (`per`), which may not reduce."""
    return _check(formula.ast, resolve, per, dict(per_names or {}))


def _dims_equal(a, b) -> bool:
    return a.dimensionality == b.dimensionality


def _dimtext(q) -> str:
    d = q.dimensionality
    return "dimensionless" if not d else str(d)


def _need_num(node, kind, what):
    if kind == BOOL:
        fail(node, f"{what} needs a number, got a boolean", "use `x if condition else y`")
    if kind != NUM:
        fail(node, f"{what} needs a number, got a choice", "compare it: model.mlp == 'gated'")


def _check(node, resolve, group=None, gnames=None):  # noqa: C901  (one branch per node kind of the allow-list)
    from ..reading.units import Dim

    one = Dim()
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):
            return STR, node.value
        return (BOOL, None) if isinstance(node.value, bool) else (NUM, one)
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = dotted(node) or ""
        axis = axis_of(name, gnames)
        if axis is not None and axis != group:
            fail(node, f"'{name}' has one value per {AXIS_WORDS[axis]}",
                  f"read it inside {axis}_sum(...) or {axis}_max(...), or in a rule with per: {axis}")
        return resolve(name, node)
    if isinstance(node, ast.UnaryOp):
        kind, q = _check(node.operand, resolve, group, gnames)
        sym = SYNTAX_OF_UNARY[type(node.op)]
        if UNARY[sym].dims == "boolean":
            if kind != BOOL:
                fail(node, f"`{sym}` needs a boolean")
            return BOOL, None
        _need_num(node, kind, "unary minus" if sym == "-" else "unary plus")
        return NUM, q
    if isinstance(node, ast.BinOp):
        lk, lq = _check(node.left, resolve, group, gnames)
        rk, rq = _check(node.right, resolve, group, gnames)
        sym = SYNTAX_OF_BINARY[type(node.op)]
        rule = BINARY[sym].dims
        _need_num(node, lk, f"'{sym}'")
        _need_num(node, rk, f"'{sym}'")
        if rule in ("same", "count"):
            if not _dims_equal(lq, rq):
                fail(node, f"cannot apply '{sym}' to {_dimtext(lq)} and {_dimtext(rq)}", "both sides need the same dimension")
            return NUM, (one if rule == "count" else lq)
        if rule == "product":
            return NUM, lq * rq
        if rule == "quotient":
            return NUM, lq / rq
        e = node.right  # power: by a constant exponent
        value = -e.operand.value if isinstance(e, ast.UnaryOp) else e.value
        return NUM, lq**value
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            k, _ = _check(v, resolve, group, gnames)
            if k != BOOL:
                fail(v, "`and`/`or` need booleans", "compare first, e.g. `x > 0 and y > 0`")
        return BOOL, None
    if isinstance(node, ast.Compare):
        items = [node.left] + list(node.comparators)
        checked = [_check(i, resolve, group, gnames) for i in items]
        if any(k in (ENUM, STR) for k, _ in checked):
            return _check_choice(node, items, checked)
        for (k, _q), item in zip(checked, items):
            if k != NUM and not all(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
                fail(item, "ordering comparisons need numbers")
        kinds = {k for k, _ in checked}
        if len(kinds) > 1:
            fail(node, "cannot compare a number with a boolean")
        if NUM in kinds:
            dimmed = [(q, i) for (k, q), i in zip(checked, items) if not _is_zero(i)]
            first = dimmed[0][0] if dimmed else checked[0][1]
            for q, _ in dimmed[1:]:
                if not _dims_equal(first, q):
                    fail(node, f"cannot compare {_dimtext(first)} with {_dimtext(q)}", "both sides need the same dimension")
        return BOOL, None
    if isinstance(node, ast.IfExp):
        tk, _ = _check(node.test, resolve, group, gnames)
        if tk != BOOL:
            fail(node.test, "the condition of `if` must be a boolean", "compare, e.g. `model.moe.num_experts > 0`")
        bk, bq = _check(node.body, resolve, group, gnames)
        ok, oq = _check(node.orelse, resolve, group, gnames)
        if bk != ok or bk not in (NUM, BOOL):
            fail(node, "both branches of `if` must be numbers, or both booleans")
        if bk == NUM and not _dims_equal(bq, oq):
            if not (_is_zero(node.body) or _is_zero(node.orelse)):
                fail(node, f"branches of `if` differ in dimension: {_dimtext(bq)} vs {_dimtext(oq)}", "both branches need the same dimension (a bare 0 matches any)")
            return NUM, (oq if _is_zero(node.body) else bq)
        return bk, bq
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in REDUCTIONS:
        fn = node.func.id
        if group is not None:
            fail(node, f"{fn}() cannot be used per {group} (inside another reduction or a rule with per: {group})",
                  f"reduce once, in a rule without per: {group}")
        kind, q = _check(node.args[0], resolve, REDUCTIONS[fn][0], gnames)
        _need_num(node.args[0], kind, f"{fn}()")
        return NUM, q
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SCANS:
        fn, axis = node.func.id, SCANS[node.func.id][0]
        if group != axis:
            fail(node, f"{fn}() has one value per {AXIS_WORDS[axis]}", f"use it in a rule with per: {axis}")
        if any(isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id in SCANS for c in ast.walk(node.args[0])):
            fail(node, f"{fn}() cannot hold another prefix scan", "scan once, in a rule of its own")
        kind, q = _check(node.args[0], resolve, group, gnames)
        _need_num(node.args[0], kind, f"{fn}()")
        return NUM, q
    if isinstance(node, ast.Call):
        fn = node.func.id
        checked = [_check(a, resolve, group, gnames) for a in node.args]
        for (k, _), a in zip(checked, node.args):
            _need_num(a, k, f"{fn}()")
        qs = [q for _, q in checked]
        if FUNCTIONS[fn].dims == "same":
            dimmed = [q for q, a in zip(qs, node.args) if not _is_zero(a)] or qs
            for q in dimmed[1:]:
                if not _dims_equal(dimmed[0], q):
                    fail(node, f"{fn}() arguments differ in dimension: {_dimtext(dimmed[0])} vs {_dimtext(q)}", "a bare 0 matches any dimension")
            return NUM, dimmed[0]
        if qs[0].dimensionality:
            fail(node, f"{fn}() needs a plain number, got {_dimtext(qs[0])}", "divide by a unit first, e.g. ceil(x / GiB) * GiB")
        return NUM, one
    fail(node, f"{type(node).__name__} is not allowed in a formula")  # pragma: no cover


def _check_choice(node, items, checked):
    """`model.mlp == "gated"`: an enum-valued name compared with one of its choices."""
    if len(items) != 2 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
        fail(node, "choices can only be compared with == or != against one name")
    (lk, lv), (rk, rv) = checked
    if {lk, rk} != {ENUM, STR}:
        fail(node, "compare a choice-valued name with a quoted choice, e.g. model.mlp == 'gated'")
    choices, text = (lv, rv) if lk == ENUM else (rv, lv)
    if text not in choices:
        from ..errors import did_you_mean

        fail(node, f"{text!r} is not one of: {', '.join(choices)}", did_you_mean(text, choices))
    return BOOL, None


def _is_zero(node) -> bool:
    return isinstance(node, ast.Constant) and not isinstance(node.value, bool) and node.value == 0
