"""The rule language: Python expression syntax, parsed with `ast`, walked with an allow-list.

parse(text)   -> Formula (syntax allow-list; no user text is ever eval'd)
check(...)    -> the formula's type and dimension, with Pint quantities of magnitude 1
to_python(...)-> a Python `ast` expression over local variables, for compiler.compile_mode

Allowed: numbers, + - * / // % ** (constant, small exponent), comparisons, and/or/not,
`a if c else b`, parentheses, dotted names (model.hidden_size, assume.cuda_context, rule
names), unit names as values (GiB, byte) and the functions in FUNCTIONS.
"""
from __future__ import annotations

import ast
import math
import operator as _operator
import re
import warnings
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
    reduce: a reduction over a list axis, its argument's dimension)."""

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
}


class Poisoned(Exception):
    """A name whose own rule already failed: stay silent instead of cascading errors."""


class FormulaError(ValueError):
    """The rule language's own error: a message, a hint and a column in the formula."""

    def __init__(self, message: str, hint: str = "", col: int = 0):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.col = col


class Formula:
    __slots__ = ("ir", "names", "text", "tree")

    def __init__(self, text: str, tree: ast.expr | None, names: list | None = None, ir: list | None = None):
        self.text = text
        self.tree = tree                               # None until first needed (catalog cache loads lazily)
        self.names = [] if names is None else names    # dotted names in order of first use
        self.ir = ir                                   # the checked tree as plain data (to_ir), from the cache

    def __repr__(self):
        return f"Formula({self.text!r})"

    @property
    def ast(self) -> ast.expr:
        if self.tree is None:
            self.tree = parse(self.text).tree
        assert self.tree is not None
        return self.tree


class Operator(NamedTuple):
    """One row of the operator table: everything the language knows of an operator."""

    syntax: type      # its ast node type (what parse() admits)
    dims: str         # the dimension rule: same (both sides alike) | product | quotient | count | power
    source: str       # generated Python, {a} and {b} the operands
    fn: object        # what the interpreter calls


# The binary operators of the language: the checker, code generation and the interpreter read
# this table and nothing else. `**` goes through _pow (floats only, a located overflow) and its
# exponent is a constant of at most MAX_EXPONENT (checked at parse and in cached trees).
BINARY = {
    "+": Operator(ast.Add, "same", "({a} + {b})", _operator.add),
    "-": Operator(ast.Sub, "same", "({a} - {b})", _operator.sub),
    "*": Operator(ast.Mult, "product", "({a} * {b})", _operator.mul),
    "/": Operator(ast.Div, "quotient", "({a} / {b})", _operator.truediv),
    "//": Operator(ast.FloorDiv, "count", "({a} // {b})", _operator.floordiv),
    "%": Operator(ast.Mod, "same", "({a} % {b})", _operator.mod),
    "**": Operator(ast.Pow, "power", "_pow({a}, {b})", None),  # _pow, defined above
}
COMPARISONS = {
    "<": Operator(ast.Lt, "same", "<", _operator.lt), "<=": Operator(ast.LtE, "same", "<=", _operator.le),
    ">": Operator(ast.Gt, "same", ">", _operator.gt), ">=": Operator(ast.GtE, "same", ">=", _operator.ge),
    "==": Operator(ast.Eq, "same", "==", _operator.eq), "!=": Operator(ast.NotEq, "same", "!=", _operator.ne),
}
_BINOPS = {op.syntax: sym for sym, op in BINARY.items()}
_CMPOPS = tuple(op.syntax for op in COMPARISONS.values())


def dotted(node) -> str | None:
    """'model.moe.num_experts' for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def parse(text) -> Formula:
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise FormulaError(f"a formula must be text or a number, not {type(text).__name__}")
    text = str(text)
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula is {len(text)} characters; the limit is {MAX_LENGTH}", "split it into named rules")
    if not text.strip():
        raise FormulaError("empty formula")
    source = " ".join(text.split())  # YAML folded scalars keep newlines on indented lines
    try:
        with warnings.catch_warnings():  # Python's own SyntaxWarnings are not the user's business
            warnings.simplefilter("ignore")
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"syntax error: {exc.msg}", "formulas use Python expression syntax", exc.offset or 0) from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise FormulaError("formula is nested too deeply or too large", "split it into named rules") from None
    names: list = []
    count = [0]
    _walk(tree.body, names, count, 0)
    return Formula(text=text, tree=tree.body, names=names)


def _fail(node, message, hint=""):
    raise FormulaError(message, hint, getattr(node, "col_offset", -1) + 1)


def _walk(node, names, count, depth, text_ok=False):  # noqa: C901  (one branch per node kind of the allow-list)
    count[0] += 1
    if count[0] > MAX_NODES:
        _fail(node, f"formula has more than {MAX_NODES} parts", "split it into named rules")
    if depth > 50:
        _fail(node, "formula is nested too deeply", "split it into named rules")
    d = depth + 1
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool):
            return
        if isinstance(v, str):
            if not text_ok:
                _fail(node, "quoted text is only allowed compared with a choice, e.g. model.mlp == 'gated'")
            if len(v) > 64 or not v.replace("-", "").replace("_", "").isalnum():
                _fail(node, f"string {v[:20]!r} is not a valid choice name")
            return
        if not isinstance(v, (int, float)) or isinstance(v, complex):
            _fail(node, f"{type(v).__name__} literals are not allowed", "only numbers, names and units")
        if not math.isfinite(v) or abs(v) > MAX_CONSTANT:
            _fail(node, f"number {v!r} is too large (limit {MAX_CONSTANT:g})")
        return
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = dotted(node)
        if name is None:
            _fail(node, "attribute access is only allowed on names (model.hidden_size)")
        if any(part.startswith("_") for part in name.split(".")):
            _fail(node, f"name '{name}' is not allowed: names may not start with '_'")
        if name not in names:
            names.append(name)
        return
    if isinstance(node, ast.BinOp):
        op = type(node.op)
        if op not in _BINOPS:
            _fail(node, f"operator {type(node.op).__name__} is not allowed", "allowed: + - * / // % **")
        if op is ast.Pow:
            e = node.right
            if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub) and isinstance(e.operand, ast.Constant):
                e = e.operand
            if not (isinstance(e, ast.Constant) and isinstance(e.value, (int, float)) and not isinstance(e.value, bool) and abs(e.value) <= MAX_EXPONENT):
                _fail(node, f"the exponent of ** must be a number between -{MAX_EXPONENT} and {MAX_EXPONENT}")
        _walk(node.left, names, count, d)
        _walk(node.right, names, count, d)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            _fail(node, f"operator {type(node.op).__name__} is not allowed")
        _walk(node.operand, names, count, d)
        return
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _walk(v, names, count, d)
        return
    if isinstance(node, ast.Compare):
        for op in node.ops:
            if not isinstance(op, _CMPOPS):
                _fail(node, f"comparison {type(op).__name__} is not allowed", "allowed: < <= > >= == !=")
        _walk(node.left, names, count, d, True)
        for c in node.comparators:
            _walk(c, names, count, d, True)
        return
    if isinstance(node, ast.IfExp):
        for v in (node.test, node.body, node.orelse):
            _walk(v, names, count, d)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            _fail(node, "method calls are not allowed", "allowed functions: " + ", ".join(FUNCTIONS))
        if node.func.id not in FUNCTIONS:
            _fail(node, f"function '{node.func.id}' is not allowed", "allowed functions: " + ", ".join(FUNCTIONS))
        if node.keywords:
            _fail(node, "keyword arguments are not allowed")
        lo, hi, _fn, _dims = FUNCTIONS[node.func.id]
        if any(isinstance(a, ast.Starred) for a in node.args):
            _fail(node, "*args is not allowed")
        if not lo <= len(node.args) <= hi:
            _fail(node, f"{node.func.id}() takes {lo if lo == hi else f'{lo} to {hi}'} arguments, got {len(node.args)}")
        for a in node.args:
            _walk(a, names, count, d)
        return
    _fail(node, f"{type(node).__name__} is not allowed in a formula", "formulas are arithmetic over names, numbers and units")


# ---------------------------------------------------------------- type and dimension check

NUM, BOOL, ENUM, STR = "number", "boolean", "enum", "string"


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
        _fail(node, f"{what} needs a number, got a boolean", "use `x if condition else y`")
    if kind != NUM:
        _fail(node, f"{what} needs a number, got a choice", "compare it: model.mlp == 'gated'")


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
            _fail(node, f"'{name}' has one value per {AXIS_WORDS[axis]}",
                  f"read it inside {axis}_sum(...) or {axis}_max(...), or in a rule with per: {axis}")
        return resolve(name, node)
    if isinstance(node, ast.UnaryOp):
        kind, q = _check(node.operand, resolve, group, gnames)
        if isinstance(node.op, ast.Not):
            if kind != BOOL:
                _fail(node, "`not` needs a boolean")
            return BOOL, None
        _need_num(node, kind, "unary minus")
        return NUM, q
    if isinstance(node, ast.BinOp):
        lk, lq = _check(node.left, resolve, group, gnames)
        rk, rq = _check(node.right, resolve, group, gnames)
        sym = _BINOPS[type(node.op)]
        rule = BINARY[sym].dims
        _need_num(node, lk, f"'{sym}'")
        _need_num(node, rk, f"'{sym}'")
        if rule in ("same", "count"):
            if not _dims_equal(lq, rq):
                _fail(node, f"cannot apply '{sym}' to {_dimtext(lq)} and {_dimtext(rq)}", "both sides need the same dimension")
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
                _fail(v, "`and`/`or` need booleans", "compare first, e.g. `x > 0 and y > 0`")
        return BOOL, None
    if isinstance(node, ast.Compare):
        items = [node.left] + list(node.comparators)
        checked = [_check(i, resolve, group, gnames) for i in items]
        if any(k in (ENUM, STR) for k, _ in checked):
            return _check_choice(node, items, checked)
        for (k, _q), item in zip(checked, items):
            if k != NUM and not all(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
                _fail(item, "ordering comparisons need numbers")
        kinds = {k for k, _ in checked}
        if len(kinds) > 1:
            _fail(node, "cannot compare a number with a boolean")
        if NUM in kinds:
            dimmed = [(q, i) for (k, q), i in zip(checked, items) if not _is_zero(i)]
            first = dimmed[0][0] if dimmed else checked[0][1]
            for q, _ in dimmed[1:]:
                if not _dims_equal(first, q):
                    _fail(node, f"cannot compare {_dimtext(first)} with {_dimtext(q)}", "both sides need the same dimension")
        return BOOL, None
    if isinstance(node, ast.IfExp):
        tk, _ = _check(node.test, resolve, group, gnames)
        if tk != BOOL:
            _fail(node.test, "the condition of `if` must be a boolean", "compare, e.g. `model.moe.num_experts > 0`")
        bk, bq = _check(node.body, resolve, group, gnames)
        ok, oq = _check(node.orelse, resolve, group, gnames)
        if bk != ok or bk not in (NUM, BOOL):
            _fail(node, "both branches of `if` must be numbers, or both booleans")
        if bk == NUM and not _dims_equal(bq, oq):
            if not (_is_zero(node.body) or _is_zero(node.orelse)):
                _fail(node, f"branches of `if` differ in dimension: {_dimtext(bq)} vs {_dimtext(oq)}", "both branches need the same dimension (a bare 0 matches any)")
            return NUM, (oq if _is_zero(node.body) else bq)
        return bk, bq
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in REDUCTIONS:
        fn = node.func.id
        if group is not None:
            _fail(node, f"{fn}() cannot be used per {group} (inside another reduction or a rule with per: {group})",
                  f"reduce once, in a rule without per: {group}")
        kind, q = _check(node.args[0], resolve, REDUCTIONS[fn][0], gnames)
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
                    _fail(node, f"{fn}() arguments differ in dimension: {_dimtext(dimmed[0])} vs {_dimtext(q)}", "a bare 0 matches any dimension")
            return NUM, dimmed[0]
        if qs[0].dimensionality:
            _fail(node, f"{fn}() needs a plain number, got {_dimtext(qs[0])}", "divide by a unit first, e.g. ceil(x / GiB) * GiB")
        return NUM, one
    _fail(node, f"{type(node).__name__} is not allowed in a formula")  # pragma: no cover


def _check_choice(node, items, checked):
    """`model.mlp == "gated"`: an enum-valued name compared with one of its choices."""
    if len(items) != 2 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
        _fail(node, "choices can only be compared with == or != against one name")
    (lk, lv), (rk, rv) = checked
    if {lk, rk} != {ENUM, STR}:
        _fail(node, "compare a choice-valued name with a quoted choice, e.g. model.mlp == 'gated'")
    choices, text = (lv, rv) if lk == ENUM else (rv, lv)
    if text not in choices:
        from ..errors import did_you_mean

        _fail(node, f"{text!r} is not one of: {', '.join(choices)}", did_you_mean(text, choices))
    return BOOL, None


def _is_zero(node) -> bool:
    return isinstance(node, ast.Constant) and not isinstance(node.value, bool) and node.value == 0


# ---------------------------------------------------------------- code generation

_SRC_BINOP = _BINOPS
_SRC_CMP = {op.syntax: sym for sym, op in COMPARISONS.items()}


def to_source(formula: Formula, local_of, unit_value, per_names=None, per: str | None = None) -> str:
    """The formula as Python source over local variables, written from the data form of its
    checked tree (the one input of every backend; never from the user's text)."""
    return ir_source(formula.ir if formula.ir is not None else to_ir(formula), local_of, unit_value, per_names, per)


# ---------------------------------------------------------------- the checked tree as data

_IR_BIN = BINARY
_IR_CMP = COMPARISONS
_IR_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


def to_ir(formula: Formula) -> list:
    """The checked tree as nested lists (JSON), so the catalog cache needs no parsing."""

    def conv(node):
        if isinstance(node, ast.Constant):
            v = node.value
            return ["b", v] if isinstance(v, bool) else ["s", v] if isinstance(v, str) else ["c", v]
        if isinstance(node, (ast.Name, ast.Attribute)):
            return ["n", dotted(node)]
        if isinstance(node, ast.BinOp):
            return ["op", _SRC_BINOP[type(node.op)], conv(node.left), conv(node.right)]
        if isinstance(node, ast.UnaryOp):
            return ["u", {ast.USub: "-", ast.UAdd: "+", ast.Not: "not"}[type(node.op)], conv(node.operand)]
        if isinstance(node, ast.BoolOp):
            return ["bool", "and" if isinstance(node.op, ast.And) else "or", [conv(v) for v in node.values]]
        if isinstance(node, ast.Compare):
            return ["cmp", [_SRC_CMP[type(o)] for o in node.ops], [conv(node.left)] + [conv(c) for c in node.comparators]]
        if isinstance(node, ast.IfExp):
            return ["if", conv(node.test), conv(node.body), conv(node.orelse)]
        if isinstance(node, ast.Call):
            return ["call", node.func.id, [conv(a) for a in node.args]]
        raise AssertionError(type(node))

    return conv(formula.ast)


def ir_source(ir, local_of, unit_value, per_names=None, per: str | None = None) -> str:  # noqa: C901  (one branch per node kind)
    """Python source from the data form of a checked tree. The data may come from the cache, so
    it is checked again here, node by node, against the same allow-list as parse(): anything
    else is a FormulaError, and nothing but numbers, quoted choices, generated names and allowed
    operators reaches the source. Names with an axis (`per_names`, AXIS.FIELD) hold one value
    per item: they are indexed by the item (`_i`) inside a reduction over their axis, or
    everywhere in a rule that is `per` that axis (whose caller loops over the items); a
    reduction becomes a loop over the axis's range (`_gi` for groups, `_di` for devices)."""
    count = [0]
    grouped = [per]
    per_names = dict(per_names or {})

    def bad(what):
        raise FormulaError(f"cached formula is malformed: {what}")

    def num(v):
        if not _bounded_number(v):
            bad("number")
        return repr(float(v))

    def conv(n, depth=0):
        count[0] += 1
        if count[0] > MAX_NODES or depth > 60 or not isinstance(n, list) or not n:
            bad("shape")
        tag = n[0]
        if tag == "c" and len(n) == 2:
            return num(n[1])
        if tag == "b" and len(n) == 2 and isinstance(n[1], bool):
            return "True" if n[1] else "False"
        if tag == "s" and len(n) == 2 and isinstance(n[1], str) and len(n[1]) <= 64 and n[1].replace("-", "").replace("_", "").isalnum():
            return repr(n[1])
        if tag == "n" and len(n) == 2 and isinstance(n[1], str) and _IR_NAME.match(n[1]):
            axis = axis_of(n[1], per_names)
            if axis is not None:
                if grouped[0] != axis:
                    bad(f"a per-{axis} name outside a reduction over it")
                return f"{local_of(n[1])}[_i]"
            u = unit_value(n[1])
            return repr(float(u)) if u is not None else local_of(n[1])
        if tag == "op" and len(n) == 4 and n[1] in _IR_BIN:
            if n[1] == "**" and not _small_exponent(n[3]):
                bad("exponent")
            return BINARY[n[1]].source.format(a=conv(n[2], depth + 1), b=conv(n[3], depth + 1))
        if tag == "u" and len(n) == 3 and n[1] in ("-", "+", "not"):
            return f"({'not ' if n[1] == 'not' else n[1]}{conv(n[2], depth + 1)})"
        if tag == "bool" and len(n) == 3 and n[1] in ("and", "or") and isinstance(n[2], list) and len(n[2]) >= 2:
            return "(" + f" {n[1]} ".join(conv(v, depth + 1) for v in n[2]) + ")"
        if tag == "cmp" and len(n) == 3 and isinstance(n[1], list) and isinstance(n[2], list) and len(n[2]) == len(n[1]) + 1 \
                and n[1] and all(o in _IR_CMP for o in n[1]):
            out = conv(n[2][0], depth + 1)
            for o, c in zip(n[1], n[2][1:]):
                out += f" {o} {conv(c, depth + 1)}"
            return f"({out})"
        if tag == "if" and len(n) == 4:
            return f"({conv(n[2], depth + 1)} if {conv(n[1], depth + 1)} else {conv(n[3], depth + 1)})"
        if tag == "call" and len(n) == 3 and n[1] in REDUCTIONS and isinstance(n[2], list) and len(n[2]) == 1:
            if grouped[0] is not None:
                bad("a reduction inside a reduction")
            axis = REDUCTIONS[n[1]][0]
            grouped[0] = axis
            inner = conv(n[2][0], depth + 1)
            grouped[0] = None
            return f"_fn_{n[1]}([{inner} for _i in {RANGE_OF[axis]}])"
        if tag == "call" and len(n) == 3 and n[1] in FUNCTIONS and isinstance(n[2], list):
            lo, hi, _fn, _dims = FUNCTIONS[n[1]]
            if not lo <= len(n[2]) <= hi:
                bad("arguments")
            return f"_fn_{n[1]}(" + ", ".join(conv(a, depth + 1) for a in n[2]) + ")"
        bad(f"node {str(tag)[:10]!r}")

    return conv(ir)


def _bounded_number(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and abs(v) <= MAX_CONSTANT


def _small_exponent(e) -> bool:
    """The exponent of ** in the data form: a constant (or its negation) of at most MAX_EXPONENT."""
    e = e[2] if isinstance(e, list) and len(e) == 3 and e[:2] == ["u", "-"] else e
    return isinstance(e, list) and len(e) == 2 and e[0] == "c" and _bounded_number(e[1]) and abs(e[1]) <= MAX_EXPONENT




class Interpreted:
    """A rule evaluated straight from the data form of its checked tree, for a run that evaluates
    a scenario once: cheaper than generating and compiling code (~10 ms a mode) when there is
    one evaluation to do. The tree is checked once, when it is made, by the same node-by-node
    check that code generation applies (ir_source: the allow-list's nodes, bounded constants,
    small constant exponents, per-axis names only where they may be read): a tree that would not
    become code does not become an interpreter either, and evaluating re-checks nothing."""

    __slots__ = ("groups", "ir", "units")

    def __init__(self, ir, unit_value, per_names=None, per: str | None = None):
        ir_source(ir, lambda n: "x", unit_value, per_names, per)  # raises FormulaError on anything else
        self.ir = ir
        self.units = unit_value
        axes: dict = {}  # the names of this tree that have an axis, found once (not per evaluation)
        stack = [ir]
        while stack:
            n = stack.pop()
            if isinstance(n, list):
                if len(n) == 2 and n[0] == "n" and isinstance(n[1], str):
                    a = axis_of(n[1], dict(per_names or {}))
                    if a:
                        axes[n[1]] = a
                else:
                    stack.extend(x for x in n if isinstance(x, list))
        self.groups = (axes, per)

    def __call__(self, env, i=None):
        """The value; `i`: the item (layer group, device) a per-axis rule is evaluated for."""
        try:
            return self._ev(self.ir, env, i, self.groups[1])
        except RecursionError:
            raise FormulaError("cached formula is malformed: too deep") from None
        except (IndexError, KeyError, AttributeError):
            raise FormulaError("cached formula is malformed: shape") from None

    def _ev(self, n, env, i=None, axis=None):  # noqa: C901  (one branch per node kind)
        # the tree was checked when this interpreter was made (see the class's doc)
        tag = n[0]
        if tag == "c":
            return float(n[1])
        if tag == "b" or tag == "s":
            return n[1]
        if tag == "n":
            if n[1] in self.groups[0]:
                return env[n[1]][i]
            v = env.get(n[1])
            if v is None:
                u = self.units(n[1])
                if u is None:
                    raise FormulaError(f"name {n[1]!r} has no value")
                return u
            return v
        if tag == "op":
            a, b = self._ev(n[2], env, i, axis), self._ev(n[3], env, i, axis)
            return _pow(a, b) if n[1] == "**" else BINARY[n[1]].fn(a, b)
        if tag == "u":
            v = self._ev(n[2], env, i, axis)
            return -v if n[1] == "-" else (+v if n[1] == "+" else not v)
        if tag == "if":
            return self._ev(n[2], env, i, axis) if self._ev(n[1], env, i, axis) else self._ev(n[3], env, i, axis)
        if tag == "bool":
            if n[1] == "and":
                return all(self._ev(v, env, i, axis) for v in n[2])
            return any(self._ev(v, env, i, axis) for v in n[2])
        if tag == "cmp":
            left = self._ev(n[2][0], env, i, axis)
            for op, c in zip(n[1], n[2][1:]):
                right = self._ev(c, env, i, axis)
                if not COMPARISONS[op].fn(left, right):
                    return False
                left = right
            return True
        if tag == "call" and n[1] in REDUCTIONS:
            red_axis, fn = REDUCTIONS[n[1]]
            return fn([self._ev(n[2][0], env, g, red_axis) for g in range(len(env[AXES[red_axis]]))])
        if tag == "call" and n[1] in FUNCTIONS:
            return FUNCTIONS[n[1]].fn(*[self._ev(a, env, i, axis) for a in n[2]])
        raise FormulaError(f"cached formula is malformed: node {str(tag)[:10]!r}")


def function_globals() -> dict:
    """The only globals a compiled rule function sees."""
    g = {"__builtins__": {}, "_pow": _pow, "_group_range": _group_range}
    for name, row in FUNCTIONS.items():
        g["_fn_" + name] = row.fn
    return g
