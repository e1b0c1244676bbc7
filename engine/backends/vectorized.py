"""The vectorized backend (optional, `pip install 'vramrules[numpy]'`): the same checked trees as
backends/codegen, generated as numpy code over a grid. Axis k of a sweep (seq_len, batch, ..., the
GPUs) is dimension k of every array, so a rule's value has the shape of the axes it reads: what
reads no axis is one number, computed once, with no hoisting pass. The core never imports this
module unless a sweep asks for `--backend numpy`; numpy is imported here only.

Python's float semantics, kept exactly (the test holds every row equal to the generated loop's):

- + - * / are IEEE-754 double operations in both; // and % are numpy's floor_divide and remainder,
  which compute as CPython's float_floor_div/float_rem do (fmod, then the same sign and floor
  corrections);
- what raises in Python (x / 0, x // 0, x % 0, ceil/floor of inf or nan, a power's overflow) is
  a per-element error mask carried beside each value, taken through `if`, `and`, `or` and chained
  comparisons only where Python would have evaluated the operand; an erring row is evaluated again
  by the located evaluator (questions/sweep._locate), as a failing row of the generated loop is;
- min/max keep the first of equals and compare as Python does (a nan is kept only when first);
  ceil/floor give +0.0 where numpy gives -0.0 (Python's float(math.ceil(-0.5)) is 0.0);
- sums over layer groups add left to right from Python's int 0, and from Python 3.12 with
  CPython's compensated (Neumaier) summation, step by step as sum() does;
- `**` calls operators._pow element by element (numpy's power may use other libm or SIMD code),
  so it is exact but not fast; no built-in rule uses it.
"""
from __future__ import annotations

import sys

import numpy as _np

from ..language.ir import to_ir, validate
from ..language.operators import AXES, RANGE_OF, REDUCTIONS, SCANS, _group_range, _prefix_range
from ..language.operators import _pow as _scalar_pow

PAIR = "pair"  # a helper that returns (value, error mask)

# One row per operator and function of language/operators.py: (numpy code of the value, the
# condition under which Python raises, or PAIR: the helper returns both). tests/test_vectorized
# fails when operators.py has a row this table lacks.
NUMPY_BINARY = {
    "+": ("({a} + {b})", None),
    "-": ("({a} - {b})", None),
    "*": ("({a} * {b})", None),
    "/": ("_np.true_divide({a}, {b})", "({b} == 0.0)"),
    "//": ("_np.floor_divide({a}, {b})", "({b} == 0.0)"),
    "%": ("_np.remainder({a}, {b})", "({b} == 0.0)"),
    "**": ("_pow({a}, {b})", PAIR),
}
NUMPY_COMPARISONS = {"<": "_np.less", "<=": "_np.less_equal", ">": "_np.greater", ">=": "_np.greater_equal",
                     "==": "_np.equal", "!=": "_np.not_equal"}
NUMPY_UNARY = {"-": "(-{a})", "+": "(+{a})", "not": "_np.logical_not({a})"}
NUMPY_FUNCTIONS = {"min": ("_min", None), "max": ("_max", None), "ceil": ("_ceil", PAIR), "floor": ("_floor", PAIR),
                   "round_up": ("_round_up", PAIR), "group_sum": ("_rsum", PAIR), "group_max": ("_rmax", PAIR),
                   "device_sum": ("_rsum", PAIR), "device_max": ("_rmax", PAIR), "device_min": ("_rmin", PAIR),
                   "device_prefix_sum": ("_rsum", PAIR)}


def _any(*errs):
    """OR of error masks; None stands for 'never'."""
    out = None
    for e in errs:
        if e is not None:
            out = e if out is None else (out | e)
    return out


def _scalar(x) -> bool:
    return _np.ndim(x) == 0


def _truth(x):
    return x if getattr(x, "dtype", None) is _np.dtype(bool) else (x != 0)


def _where(t, a, b):
    if _scalar(t):
        return a if t else b
    return _np.where(t, a, b)


def _pick(t, ea, eb):
    """The error of `a if t else b`: a's where t holds, b's elsewhere."""
    if ea is None and eb is None:
        return None
    if _scalar(t):
        return ea if t else eb
    return _np.where(t, False if ea is None else ea, False if eb is None else eb)


def _mask(t, e):
    """e where t holds (an operand Python evaluates only when t)."""
    if e is None:
        return None
    if _scalar(t):
        return e if t else None
    return t & e


def _and(a, b):
    t = _truth(a)
    return (b if t else a) if _scalar(t) else _np.where(t, b, a)


def _or(a, b):
    t = _truth(a)
    return (a if t else b) if _scalar(t) else _np.where(t, a, b)


def _min(*xs):
    cur = xs[0]
    for x in xs[1:]:
        cur = _where(x < cur, x, cur)
    return cur


def _max(*xs):
    cur = xs[0]
    for x in xs[1:]:
        cur = _where(x > cur, x, cur)
    return cur


def _ceil(x):
    return _np.ceil(x) + 0.0, ~_np.isfinite(x)


def _floor(x):
    return _np.floor(x) + 0.0, ~_np.isfinite(x)


def _round_up(x, m):
    q = _np.true_divide(x, m)
    return (_np.ceil(q) + 0.0) * m, (m == 0.0) | ~_np.isfinite(q)


def _pow(base, exponent):
    """operators._pow element by element: exact, and its errors as a mask."""
    exponent = float(exponent)
    arr = _np.asarray(base, dtype=float)
    vals, errs = [], []
    for x in arr.ravel().tolist():
        try:
            vals.append(_scalar_pow(x, exponent))
            errs.append(False)
        except (ArithmeticError, ValueError):
            vals.append(float("nan"))
            errs.append(True)
    return _np.array(vals).reshape(arr.shape), _np.array(errs).reshape(arr.shape)


def _items(f, rng):
    """A per-axis rule: its value per item (a list), and the OR of the items' errors."""
    vals, err = [], None
    for i in rng:
        v, e = f(i)
        vals.append(v)
        err = _any(err, e)
    return vals, err


if sys.version_info >= (3, 12):
    def _add_all(vals):
        """sum() of floats as CPython 3.12+ adds them: 0 + the first, then Neumaier's compensation."""
        f, c = 0 + vals[0], 0.0
        for x in vals[1:]:
            t = f + x
            c = c + _where(_np.abs(f) >= _np.abs(x), (f - t) + x, (x - t) + f)
            f = t
        return _where((c != 0) & _np.isfinite(c), f + c, f)
else:
    def _add_all(vals):
        """sum() of floats as CPython before 3.12 adds them: left to right from int 0."""
        f = 0 + vals[0]
        for x in vals[1:]:
            f = f + x
        return f


def _rsum(f, rng):
    vals, err = _items(f, rng)
    return (_add_all(vals) + 0.0 if vals else 0.0), err


def _rmax(f, rng):
    vals, err = _items(f, rng)
    return (_max(*vals) if vals else 0.0), err


def _rmin(f, rng):
    vals, err = _items(f, rng)
    return (_min(*vals) if vals else 0.0), err


def _finite(acc, v):
    ok = _np.isfinite(v) if not isinstance(v, list) else _np.logical_and.reduce([_np.isfinite(x) for x in v]) if v else True
    return ok if acc is None else acc & ok


class _Gen:
    """numpy source of one tree: every node a temporary value `tN` and, when Python could raise
    somewhere below it, an error mask `tNe`."""

    def __init__(self, local_of, unit_value, names_with_axis):
        self.local_of, self.unit_value, self.axes = local_of, unit_value, names_with_axis
        self.n = 0

    def tmp(self):
        self.n += 1
        return f"t{self.n}"

    def node(self, n, out: list, ind: str) -> tuple:  # noqa: C901  (one branch per node kind)
        tag = n[0]
        if tag == "c":
            return repr(float(n[1])), None
        if tag == "b":
            return ("True" if n[1] else "False"), None
        if tag == "s":
            return repr(n[1]), None
        if tag == "n":
            if n[1] in self.axes:
                return f"{self.local_of(n[1])}[_i]", None
            u = self.unit_value(n[1])
            return (repr(float(u)) if u is not None else self.local_of(n[1])), None
        t = self.tmp()
        if tag == "op":
            a, ea = self.node(n[2], out, ind)
            b, eb = self.node(n[3], out, ind)
            if n[1] in ("/", "//", "%"):  # its divisor is read twice: a name
                out.append(f"{ind}{t}b = {b}")
                b = f"{t}b"
            value, err = NUMPY_BINARY[n[1]]
            if err == PAIR:
                out.append(f"{ind}{t}, {t}o = {value.format(a=a, b=b)}")
                return t, self._err(t, out, ind, ea, eb, f"{t}o")
            out.append(f"{ind}{t} = {value.format(a=a, b=b)}")
            return t, self._err(t, out, ind, ea, eb, err.format(a=a, b=b) if err else None)
        if tag == "u":
            a, ea = self.node(n[2], out, ind)
            out.append(f"{ind}{t} = {NUMPY_UNARY[n[1]].format(a=a)}")
            return t, ea
        if tag == "bool":
            cur, ecur = self.node(n[2][0], out, ind)
            for v in n[2][1:]:
                b, eb = self.node(v, out, ind)
                guard = f"_truth({cur})" if n[1] == "and" else f"_np.logical_not(_truth({cur}))"
                ecur = self._err(self.tmp(), out, ind, ecur, f"_mask({guard}, {eb})" if eb else None)
                nxt = self.tmp()
                out.append(f"{ind}{nxt} = _{n[1]}({cur}, {b})")
                cur = nxt
            out.append(f"{ind}{t} = {cur}")
            return t, ecur
        if tag == "cmp":
            left, err = self.node(n[2][0], out, ind)
            result = None
            for o, c in zip(n[1], n[2][1:]):
                right, eright = self.node(c, out, ind)
                r = self.tmp()
                out.append(f"{ind}{r} = {NUMPY_COMPARISONS[o]}({left}, {right})")
                if eright is not None:
                    err = self._err(self.tmp(), out, ind, err, f"_mask({result}, {eright})" if result else eright)
                if result is None:
                    result = r
                else:
                    out.append(f"{ind}{r} = {result} & {r}")
                    result = r
                left = right
            out.append(f"{ind}{t} = {result}")
            return t, err
        if tag == "if":
            test, etest = self.node(n[1], out, ind)
            a, ea = self.node(n[2], out, ind)
            b, eb = self.node(n[3], out, ind)
            out.append(f"{ind}{t} = _where({test}, {a}, {b})")
            branch = f"_pick({test}, {ea}, {eb})" if (ea or eb) else None
            return t, self._err(t, out, ind, etest, branch)
        name = n[1]
        helper, kind = NUMPY_FUNCTIONS[name]
        if name in REDUCTIONS:  # the argument once per item of the axis, in an inner function
            out.append(f"{ind}def {t}f(_i):")
            v, e = self.node(n[2][0], out, ind + "    ")
            out.append(f"{ind}    return {v}, {e}")
            out.append(f"{ind}{t}, {t}e = {helper}({t}f, {RANGE_OF[REDUCTIONS[name][0]]})")
            return t, f"{t}e"
        if name in SCANS:  # a prefix scan: the argument once per item up to this one (_i: the rule's item)
            out.append(f"{ind}def {t}f(_i):")
            v, e = self.node(n[2][0], out, ind + "    ")
            out.append(f"{ind}    return {v}, {e}")
            out.append(f"{ind}{t}, {t}e = {helper}({t}f, _prefix_range(_i))")
            return t, f"{t}e"
        args = [self.node(a, out, ind) for a in n[2]]
        call = f"{helper}(" + ", ".join(a for a, _e in args) + ")"
        if kind == PAIR:
            out.append(f"{ind}{t}, {t}o = {call}")
            return t, self._err(t, out, ind, *[e for _a, e in args], f"{t}o")
        out.append(f"{ind}{t} = {call}")
        return t, self._err(t, out, ind, *[e for _a, e in args])

    def _err(self, t, out, ind, *parts):
        parts = [p for p in parts if p]
        if not parts:
            return None
        out.append(f"{ind}{t}e = _any({', '.join(parts)})")
        return f"{t}e"


def compile_grid(lean, axis_leaves: list):  # noqa: C901  (the generated function's parts, in order)
    """fn(facts, items) -> Columns: one row per combination of the axes' items (the last axis
    fastest), (status, total, usable, fits, *components), status 0 OK, 1 a constraint broken, 2
    LOCATE (Python would raise, or a value is not finite, or a component is negative)."""
    from ..language.rules import TOTAL
    from ..valuekinds import NUM
    from .compiler import _unit_values, per_names

    order, rules = lean.order, lean.rules
    local = {n: f"r{i}" for i, n in enumerate(order)}
    local.update({n: f"f{i}" for i, n in enumerate(lean.leaves)})
    unit_value = _unit_values(rules)
    groups = per_names(rules, order)
    k = len(axis_leaves)
    on_axis = {leaf: (a, j) for a, leaves in enumerate(axis_leaves) for j, leaf in enumerate(leaves)}
    lines = ["def grid(facts, axes):", "    with _np.errstate(all='ignore'):", "        return _body(facts, axes)", "",
             "def _body(facts, axes):"]
    lines += [f"    {local[n]} = _lead(facts[{n!r}], {k})" for n in lean.leaves if n not in on_axis]
    lines.append(f"    _shape = ({''.join(f'_len(axes[{a}]), ' for a in range(k))})")
    for leaf, (a, j) in on_axis.items():
        lines.append(f"    {local[leaf]} = _column(axes[{a}], {j}, {a}, {k})")
    lines += [f"    {RANGE_OF[a]} = _group_range({local[AXES[a]]})" for a in sorted(set(groups.values())) if AXES[a] in local]
    lines += ["    _E = None", "    _G = None", "    _C = True"]
    comps, constraints = set(lean.components), set(lean.constraints)
    for name in order:
        gen = _Gen(local.__getitem__, unit_value, {})
        out: list = []
        if name == TOTAL:
            expr = local[lean.components[0]]
            for c in lean.components[1:]:
                expr = f"({expr} + {local[c]})"
            out.append(f"    {local[name]} = {expr}")
            err = None
        else:
            rule = rules[name]
            f = rule.formula
            ir = f.ir if f.ir is not None else to_ir(f)
            axes = validate(ir, groups, rule.per)
            gen.axes = axes
            if rule.per:
                out.append(f"    def {local[name]}_item(_i):")
                v, e = gen.node(ir, out, "        ")
                out.append(f"        return {v}, {e}")
                out.append(f"    {local[name]}, {local[name]}_e = _items({local[name]}_item, {RANGE_OF[rule.per]})")
            else:
                v, e = gen.node(ir, out, "    ")
                out.append(f"    {local[name]} = {v}")
                if e:
                    out.append(f"    {local[name]}_e = {e}")
            err = f"{local[name]}_e" if (rule.per or e) else None
        if err:
            out.append(f"    _E = _any(_E, {err})")
        if lean.kinds.get(name, NUM) == NUM:
            out.append(f"    _G = _finite(_G, {local[name]})")
        if name in comps:
            out.append(f"    _G = _G & ({local[name]} >= 0.0)")
        if name in constraints:
            out.append(f"    _C = _C & _truth({local[name]})")
        lines += out
    cols = [local[TOTAL], local["usable_memory_per_gpu"], local["fits"]] + [local[c] for c in lean.components]
    lines.append("    _bad = _np.logical_not(_G) if _E is None else (_E | _np.logical_not(_G))")
    lines.append("    _status = _np.where(_bad, 2, _np.where(_C, 0, 1))")
    lines.append(f"    return Columns(_shape, _status, [{', '.join(cols)}])")
    code = compile("\n".join(lines) + "\n", f"<vramrules-numpy:{lean.ruleset}/{lean.mode}>", "exec")  # from the checked trees
    namespace = {"__builtins__": {}, "_np": _np, "_len": len, "_group_range": _group_range, "_prefix_range": _prefix_range,
                 "_column": _column, "_lead": _lead, "Columns": Columns,
                 "_any": _any, "_truth": _truth, "_where": _where, "_pick": _pick, "_mask": _mask, "_and": _and, "_or": _or,
                 "_min": _min, "_max": _max, "_ceil": _ceil, "_floor": _floor, "_round_up": _round_up, "_pow": _pow,
                 "_items": _items, "_rsum": _rsum, "_rmax": _rmax, "_rmin": _rmin, "_finite": _finite}
    exec(code, namespace)  # noqa: S102 - source written from checked trees, run with no builtins
    return namespace["grid"]


def stack(facts_list: list) -> dict:
    """The facts of several resolved scenarios as one: a leaf equal in all stays one value, one
    that differs an array along the leading dimension (a per-group leaf: a list of such arrays,
    the scenarios having as many groups). The other dimensions are added by broadcasting."""
    out = {}
    first = facts_list[0]
    if len(facts_list) == 1:
        return dict(first)
    for leaf, v in first.items():
        vals = [f[leaf] for f in facts_list]
        if all(x == v for x in vals):
            out[leaf] = v
        elif isinstance(v, list):
            out[leaf] = [_np.asarray([x[i] for x in vals]) for i in range(len(v))]
        else:
            out[leaf] = _np.asarray(vals)
    return out


def _lead(v, k):
    """A stacked fact (an array over the leading dimension) shaped for k dimensions."""
    if isinstance(v, _np.ndarray):
        return v.reshape((len(v),) + (1,) * (k - 1))
    if isinstance(v, list) and v and isinstance(v[0], _np.ndarray):
        return [x.reshape((len(x),) + (1,) * (k - 1)) for x in v]
    return v


def _column(items, j, a, k):
    """Leaf j of axis a's items as an array along dimension a of k; a per-device leaf (a list per
    item) as a list of such arrays, one per device."""
    shape = (1,) * a + (len(items),) + (1,) * (k - a - 1)
    first = items[0][j]
    if isinstance(first, list):
        return [_np.asarray([it[j][d] for it in items]).reshape(shape) for d in range(len(first))]
    return _np.asarray([it[j] for it in items]).reshape(shape)


class Columns:
    """The rows of one grid as columns: arrays broadcast to the grid's shape (views: a value that
    reads few axes is not copied out to every row until the rows are read). Indexing and iteration
    give (status, total, usable, fits, *components) tuples in C order, as the generated loop's rows
    are; rows evaluated again (LOCATE) are kept aside in `replaced`."""

    def __init__(self, shape, status, cols):
        self.shape = tuple(shape)
        n = 1
        for s in self.shape:
            n *= s
        self.n = n
        self.status = _np.broadcast_to(status, self.shape)
        self.cols = [_np.broadcast_to(c, self.shape) for c in cols]
        self.replaced: dict = {}

    def __len__(self):
        return self.n

    def split(self, parts: int) -> list:
        """The rows as `parts` Columns along the leading dimension (of that length): views."""
        assert self.shape[0] == parts
        out = []
        for p in range(parts):
            c = Columns.__new__(Columns)
            c.shape, c.n, c.replaced = (1,) + self.shape[1:], self.n // parts, {}
            c.status = self.status[p:p + 1]
            c.cols = [col[p:p + 1] for col in self.cols]
            out.append(c)
        return out

    def todo(self) -> list:
        return _np.nonzero(self.status.reshape(self.n) == 2)[0].tolist()

    def __getitem__(self, i):
        if i in self.replaced:
            return self.replaced[i]
        at = _np.unravel_index(i, self.shape)
        s = int(self.status[at])
        return (s,) if s == 2 else (s, *(c[at].item() for c in self.cols))

    def __setitem__(self, i, row):
        self.replaced[i] = row

    def __iter__(self):
        """The rows, made into Python numbers 4,096 at a time (memory stays flat)."""
        n, step = self.n, 4096
        status = self.status.reshape(n)
        cols = [c.reshape(n) for c in self.cols]  # a copy only where a column was broadcast
        replaced = self.replaced
        for s in range(0, n, step):
            part = zip(status[s:s + step].tolist(), *(c[s:s + step].tolist() for c in cols))
            for i, row in enumerate(part, s):
                yield replaced[i] if i in replaced else row
