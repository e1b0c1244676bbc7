"""Formulas as text: Python expression syntax, parsed with `ast` and walked with an allow-list
(no user text is ever eval'd). parse(text) -> Formula with its dotted names in order of use.

Allowed: numbers, + - * / // % ** (constant, small exponent), comparisons, and/or/not,
`a if c else b`, parentheses, dotted names (model.hidden_size, assume.cuda_context, rule
names), unit names as values (GiB, byte) and the functions of operators.FUNCTIONS.
"""
from __future__ import annotations

import ast
import math
import warnings

from .operators import (
    FUNCTIONS,
    MAX_CONSTANT,
    MAX_EXPONENT,
    MAX_LENGTH,
    MAX_NODES,
    SYNTAX_OF_BINARY,
    SYNTAX_OF_COMPARISON,
    SYNTAX_OF_UNARY,
)


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


def fail(node, message, hint=""):
    """Raise FormulaError at the node's column (the checker and name resolvers use it too)."""
    raise FormulaError(message, hint, getattr(node, "col_offset", -1) + 1)


def _walk(node, names, count, depth, text_ok=False):  # noqa: C901  (one branch per node kind of the allow-list)
    count[0] += 1
    if count[0] > MAX_NODES:
        fail(node, f"formula has more than {MAX_NODES} parts", "split it into named rules")
    if depth > 50:
        fail(node, "formula is nested too deeply", "split it into named rules")
    d = depth + 1
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool):
            return
        if isinstance(v, str):
            if not text_ok:
                fail(node, "quoted text is only allowed compared with a choice, e.g. model.mlp == 'gated'")
            if len(v) > 64 or not v.replace("-", "").replace("_", "").isalnum():
                fail(node, f"string {v[:20]!r} is not a valid choice name")
            return
        if not isinstance(v, (int, float)) or isinstance(v, complex):
            fail(node, f"{type(v).__name__} literals are not allowed", "only numbers, names and units")
        if not math.isfinite(v) or abs(v) > MAX_CONSTANT:
            fail(node, f"number {v!r} is too large (limit {MAX_CONSTANT:g})")
        return
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = dotted(node)
        if name is None:
            fail(node, "attribute access is only allowed on names (model.hidden_size)")
        if any(part.startswith("_") for part in name.split(".")):
            fail(node, f"name '{name}' is not allowed: names may not start with '_'")
        if name not in names:
            names.append(name)
        return
    if isinstance(node, ast.BinOp):
        op = type(node.op)
        if op not in SYNTAX_OF_BINARY:
            fail(node, f"operator {type(node.op).__name__} is not allowed", "allowed: + - * / // % **")
        if op is ast.Pow:
            e = node.right
            if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub) and isinstance(e.operand, ast.Constant):
                e = e.operand
            if not (isinstance(e, ast.Constant) and isinstance(e.value, (int, float)) and not isinstance(e.value, bool) and abs(e.value) <= MAX_EXPONENT):
                fail(node, f"the exponent of ** must be a number between -{MAX_EXPONENT} and {MAX_EXPONENT}")
        _walk(node.left, names, count, d)
        _walk(node.right, names, count, d)
        return
    if isinstance(node, ast.UnaryOp):
        if type(node.op) not in SYNTAX_OF_UNARY:
            fail(node, f"operator {type(node.op).__name__} is not allowed")
        _walk(node.operand, names, count, d)
        return
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _walk(v, names, count, d)
        return
    if isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in SYNTAX_OF_COMPARISON:
                fail(node, f"comparison {type(op).__name__} is not allowed", "allowed: < <= > >= == !=")
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
            fail(node, "method calls are not allowed", "allowed functions: " + ", ".join(FUNCTIONS))
        if node.func.id not in FUNCTIONS:
            fail(node, f"function '{node.func.id}' is not allowed", "allowed functions: " + ", ".join(FUNCTIONS))
        if node.keywords:
            fail(node, "keyword arguments are not allowed")
        lo, hi, _fn, _dims = FUNCTIONS[node.func.id]
        if any(isinstance(a, ast.Starred) for a in node.args):
            fail(node, "*args is not allowed")
        if not lo <= len(node.args) <= hi:
            fail(node, f"{node.func.id}() takes {lo if lo == hi else f'{lo} to {hi}'} arguments, got {len(node.args)}")
        for a in node.args:
            _walk(a, names, count, d)
        return
    fail(node, f"{type(node).__name__} is not allowed in a formula", "formulas are arithmetic over names, numbers and units")
