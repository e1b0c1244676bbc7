"""Generated JavaScript, from the intermediate form: the third backend, sibling of codegen.py.
A validated tree becomes one JavaScript expression over local variables, written from the
operator table's `js` column and FUNCTION_JS (never from the user's text); a compiled mode
becomes one function `(facts) -> [value of each rule in order]`, the same straight-line
sequence of assignments the Python backend runs.

The numbers must equal Python's, so the helpers in RUNTIME carry Python's float semantics where
JavaScript's differ: `/`, `//` and `%` by zero fail (ZeroDivisionError), `//` and `%` are
CPython's float_divmod (floor toward -inf, the remainder takes the divisor's sign), `**` of a
negative base to a fractional power fails and an overflow fails (OverflowError), min/max keep
the first of equal values, ceil/floor of a non-finite number fail, `==` never coerces, and a
sum over layer groups adds in CPython's order (Neumaier-compensated from Python 3.12, as
`sum()` does there). A failure names its rule, as compiler.run does."""
from __future__ import annotations

import json
import sys

from ..language.ir import to_ir, validate
from ..language.operators import AXES, BINARY, COMPARISONS, FUNCTION_JS, FUNCTIONS, RANGE_OF, REDUCTIONS, SCANS, UNARY
from ..language.rules import TOTAL
from ..language.syntax import Formula

# Python's `sum()` of floats: a plain left fold to 3.11, Neumaier's compensated sum from 3.12
_SUM_PLAIN = """function _fsum(v) { let s = 0; for (let i = 0; i < v.length; i++) s += v[i]; return s; }"""
_SUM_NEUMAIER = """function _fsum(v) {
  let s = 0, c = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== "number") { s += c; c = 0; s = s + x; continue; }
    const t = s + x;
    if (Math.abs(s) >= Math.abs(x)) c += (s - t) + x; else c += (x - t) + s;
    s = t;
  }
  if (c && Number.isFinite(c)) s += c;
  return s;
}"""

RUNTIME_BODY = r"""
class RuleFailure extends Error {}
function _fail(what) { throw new RuleFailure(what); }
function _div(a, b) { if (b == 0) _fail("division by zero"); return a / b; }
function _divmod(a, b) {
  // CPython's float_divmod (Objects/floatobject.c)
  if (b == 0) _fail("division by zero");
  let mod = a % b;
  let div = (a - mod) / b;
  if (mod) { if ((b < 0) !== (mod < 0)) { mod += b; div -= 1.0; } }
  else { mod = (1 / b < 0) ? -0 : 0; }
  let floordiv;
  if (div) { floordiv = Math.floor(div); if (div - floordiv > 0.5) floordiv += 1.0; }
  else { floordiv = ((a / b) < 0 || Object.is(a / b, -0)) ? -0 : 0; }
  return [floordiv, mod];
}
function _floordiv(a, b) { return _divmod(a, b)[0]; }
function _mod(a, b) { return _divmod(a, b)[1]; }
function _pow(a, b) {
  a = +a;
  if (a < 0 && b !== Math.trunc(b)) _fail("fractional power (" + b + ") of a negative number (" + a + ")");
  if (a == 0 && b < 0) _fail("division by zero");
  const r = Math.pow(a, b);
  if (!Number.isFinite(r) && Number.isFinite(a)) _fail("number too large");
  return r;
}
function _fn_min(...v) { let m = v[0]; for (let i = 1; i < v.length; i++) if (v[i] < m) m = v[i]; return m; }
function _fn_max(...v) { let m = v[0]; for (let i = 1; i < v.length; i++) if (v[i] > m) m = v[i]; return m; }
function _whole(x) {
  if (Number.isNaN(x)) _fail("cannot convert float NaN to integer");
  if (!Number.isFinite(x)) _fail("number too large");
  return x;
}
// float(math.ceil(x)) goes through an int, so a negative zero comes back as 0.0 (`+ 0` does that)
function _fn_ceil(x) { return Math.ceil(_whole(x)) + 0; }
function _fn_floor(x) { return Math.floor(_whole(x)) + 0; }
function _fn_round_up(x, m) { return (Math.ceil(_whole(_div(x, m))) + 0) * m; }
function _map(n, f) { const out = new Array(n); for (let i = 0; i < n; i++) out[i] = f(i); return out; }
function _fn_group_sum(v) { return _fsum(v); }
function _fn_device_sum(v) { return _fsum(v); }
function _fn_group_max(v) { return v.length ? _fn_max(...v) : 0.0; }
function _fn_device_max(v) { return v.length ? _fn_max(...v) : 0.0; }
function _fn_device_min(v) { return v.length ? _fn_min(...v) : 0.0; }
function _fn_device_prefix_sum(v) { return _fsum(v); }
"""


def runtime() -> str:
    """The helpers every generated mode function calls (one per operator and function that
    JavaScript does not already compute as Python does)."""
    return (_SUM_NEUMAIER if sys.version_info >= (3, 12) else _SUM_PLAIN) + RUNTIME_BODY


def _number(v) -> str:
    text = repr(float(v))  # Python's shortest round-trip text: JavaScript reads the same double
    return f"({text})" if text.startswith("-") else text


def to_js(formula: Formula, local_of, unit_value, per_names=None, per: str | None = None) -> str:
    return ir_js(formula.ir if formula.ir is not None else to_ir(formula), local_of, unit_value, per_names, per)


def ir_js(ir, local_of, unit_value, per_names=None, per: str | None = None) -> str:
    """JavaScript source of a tree; the tree is validated first (it may come from the cache), so
    nothing but numbers, quoted choices, generated names and allowed operators reaches the
    source. Raises FormulaError."""
    axes = validate(ir, per_names, per)

    def conv(n):  # noqa: C901  (one branch per node kind)
        tag = n[0]
        if tag == "c":
            return _number(n[1])
        if tag == "b":
            return "true" if n[1] else "false"
        if tag == "s":
            return json.dumps(n[1])  # a validated choice name: letters, digits, - and _
        if tag == "n":
            if n[1] in axes:
                return f"{local_of(n[1])}[_i]"
            u = unit_value(n[1])
            return _number(u) if u is not None else local_of(n[1])
        if tag == "op":
            return BINARY[n[1]].js.format(a=conv(n[2]), b=conv(n[3]))
        if tag == "u":
            return UNARY[n[1]].js.format(a=conv(n[2]))
        if tag == "bool":
            return "(" + (" && " if n[1] == "and" else " || ").join(conv(v) for v in n[2]) + ")"
        if tag == "cmp":
            parts = [conv(c) for c in n[2]]
            if len(parts) == 2:
                return f"({parts[0]} {COMPARISONS[n[1][0]].js} {parts[1]})"
            # a chain: each middle operand evaluated once, as Python does
            names = [f"_c{k}" for k in range(len(parts))]
            body = " && ".join(f"{names[k]} {COMPARISONS[o].js} ({names[k + 1]} = {parts[k + 1]})" if k else
                               f"({names[0]} = {parts[0]}) {COMPARISONS[o].js} ({names[1]} = {parts[1]})"
                               for k, o in enumerate(n[1]))
            return f"((({', '.join(names)}) => ({body}))())"
        if tag == "if":
            return f"({conv(n[1])} ? {conv(n[2])} : {conv(n[3])})"
        if n[1] in REDUCTIONS:  # "call" of a reduction: a loop over its axis
            return f"{FUNCTION_JS[n[1]]}(_map({RANGE_OF[REDUCTIONS[n[1]][0]]}, (_i) => {conv(n[2][0])}))"
        if n[1] in SCANS:  # a prefix scan: the items up to this one (_map's count reads the outer _i)
            return f"{FUNCTION_JS[n[1]]}(_map(_i + 1, (_i) => {conv(n[2][0])}))"
        return f"{FUNCTION_JS[n[1]]}(" + ", ".join(conv(a) for a in n[2]) + ")"

    return conv(ir)


def mode_js(compiled) -> str:
    """A compiled mode (backends/compiler.Compiled: its order, leaves and rules) as one
    JavaScript function expression: `(facts) => [value of each rule in compiled.order]`. A
    failure throws RuleFailure with `.rule` the rule's name."""
    from .compiler import _unit_values, per_names

    order, rules = compiled.order, compiled.rules
    local = {n: f"r{i}" for i, n in enumerate(order)}
    leaf_local = {n: f"f{i}" for i, n in enumerate(compiled.leaves)}

    def local_of(n):
        return local.get(n) or leaf_local[n]

    unit_value = _unit_values(rules)
    groups = per_names(rules, order)
    lines = ["(function (facts) {"]
    lines += [f"  const {lv} = facts[{json.dumps(n)}];" for n, lv in leaf_local.items()]
    lines += [f"  const {RANGE_OF[a]} = {leaf_local[AXES[a]]}.length;" for a in sorted(set(groups.values()))]
    lines.append("  let _k = 0" + "".join(f", {local[n]}" for n in order) + ";")
    lines.append("  try {")
    for k, name in enumerate(order):
        if name == TOTAL:
            expr = " + ".join(local_of(c) for c in compiled.components)
        else:
            rule = rules[name]
            if rule.per:
                expr = f"_map({RANGE_OF[rule.per]}, (_i) => {to_js(rule.formula, local_of, unit_value, groups, per=rule.per)})"
            else:
                expr = to_js(rule.formula, local_of, unit_value, groups)
        lines.append(f"    _k = {k}; {local[name]} = {expr};")
    lines.append("  } catch (e) { if (e instanceof RuleFailure) e.rule = " + json.dumps(order) + "[_k]; throw e; }")
    lines.append("  return [" + ", ".join(local[n] for n in order) + "];")
    lines.append("})")
    return "\n".join(lines)


def check_table() -> None:
    """Every operator and function of the language has its JavaScript (a new row without one
    would generate `undefined`)."""
    missing = [s for t in (BINARY, COMPARISONS, UNARY) for s, op in t.items() if not op.js]
    missing += [f for f in FUNCTIONS if f not in FUNCTION_JS or f"function {FUNCTION_JS[f]}(" not in runtime()]
    if missing:
        raise AssertionError(f"no JavaScript for {', '.join(missing)} (language/operators.py)")
