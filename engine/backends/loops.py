"""Loops generated over a compiled mode (backends/compiler.py), from its checked trees as the
mode's own function is, for the questions that evaluate it many times:

  compile_sweep   one scenario over many GPUs: what no gpu.* fact reaches is computed once
  compile_grid    a nest of loops over grids of inputs (sweep's axes), each rule computed at
                  the depth of the deepest input it reads; a row whose value cannot be trusted
                  is LOCATE, evaluated again by the located evaluator
  tail_function   the rules some inputs reach, for a scenario asked again with other numbers
                  (api._fast, per keystroke)
"""
from __future__ import annotations

import math

from ..language.operators import AXES, RANGE_OF
from ..language.rules import TOTAL
from ..valuekinds import NUM
from .codegen import function_globals
from .compiler import Compiled, _expr, _unit_values, per_names

# a grid row's status: OK; BROKEN, a constraint does not hold; LOCATE, a rule raised or a value
# cannot be trusted (the located evaluator says which); FAILED, its message is in Block.errors
OK, BROKEN, LOCATE, FAILED = 0, 1, 2, 3


class Sweep:
    """fn(facts, gpu_rows) -> one tuple per GPU row: (constraints hold, total, usable memory per
    GPU, fits, *components). `facts` holds every leaf but the gpu.* ones; each row gives those,
    in `gpu_leaves` order."""

    def __init__(self, compiled: Compiled, gpu_leaves: list, fn, hoisted: int):
        self.compiled, self.gpu_leaves, self.fn = compiled, gpu_leaves, fn
        self.hoisted = hoisted  # rules computed once per call, not per GPU

    def __repr__(self):
        return f"Sweep({self.compiled.ruleset}/{self.compiled.mode}, {self.hoisted} of {len(self.compiled.order)} rules hoisted)"


def compile_sweep(lean: Compiled) -> Sweep:
    """The lean mode as a loop over GPUs. A rule that reads no gpu.* fact, directly or through
    another rule, gives the same value on every GPU: it is computed once, before the loop."""
    order, rules, deps = lean.order, lean.rules, lean.deps
    gpu_leaves = [n for n in lean.leaves if n.startswith(("gpu.", "device."))]  # what changes from one GPU row to the next
    per_gpu: set = set(gpu_leaves)
    for name in order:  # a rule per device has as many values as the row has devices, whatever it reads
        if any(d in per_gpu for d in deps[name]) or _axis_leaf(rules, name) in per_gpu:
            per_gpu.add(name)
    local = {n: f"r{i}" for i, n in enumerate(order)}
    local.update({n: f"f{i}" for i, n in enumerate(lean.leaves)})
    unit_value = _unit_values(rules)
    groups = per_names(rules, order)

    def assign(name, indent):
        return f"{indent}{local[name]} = {_expr(name, rules, lean.components, local.__getitem__, unit_value, groups)}"

    lines = ["def sweep(facts, gpu_rows):"]
    lines += [f"    {local[n]} = facts[{n!r}]" for n in lean.leaves if n not in per_gpu]
    axes = sorted(set(groups.values()))
    lines += [f"    {RANGE_OF[a]} = _group_range({local[AXES[a]]})" for a in axes if AXES[a] not in per_gpu]
    lines += [assign(n, "    ") for n in order if n not in per_gpu]
    lines += ["    out = []", "    append = out.append",
              "    for (" + "".join(f"{local[n]}, " for n in gpu_leaves) + ") in gpu_rows:"]
    lines += [f"        {RANGE_OF[a]} = _group_range({local[AXES[a]]})" for a in axes if AXES[a] in per_gpu]
    lines += [assign(n, "        ") for n in order if n in per_gpu]
    ok = " and ".join(f"({local[c]})" for c in lean.constraints) or "True"
    row = [ok, local[TOTAL], local["usable_memory_per_gpu"], local["fits"]] + [local[c] for c in lean.components]
    lines += [f"        append(({', '.join(row)},))", "    return out"]
    code = compile("\n".join(lines) + "\n", f"<vramrules-sweep:{lean.ruleset}/{lean.mode}>", "exec")  # from the checked trees
    namespace = function_globals()
    exec(code, namespace)  # noqa: S102 - source written from checked trees, run with no builtins
    return Sweep(lean, gpu_leaves, namespace["sweep"], sum(1 for n in order if n not in per_gpu))



def depths(lean, axis_leaves) -> dict:
    """name -> the loop depth a rule (or leaf) belongs to: 0 outside every loop, k+1 inside the
    loop over axis k; a rule sits as deep as the deepest name it reads."""
    depth = {leaf: 0 for leaf in lean.leaves}
    for k, leaves in enumerate(axis_leaves):
        for leaf in leaves:
            depth[leaf] = k + 1
    for name in lean.order:
        depth[name] = max([depth.get(d, 0) for d in lean.deps[name]] + [depth.get(_axis_leaf(lean.rules, name), 0)])
    return depth


def _axis_leaf(rules, name):
    """The fact whose length is the number of items of a per-axis rule (device.count), or None."""
    rule = rules.get(name)
    return AXES[rule.per] if rule is not None and rule.per else None


def compile_grid(lean, axis_leaves: list):  # noqa: C901  (one generated block per loop depth)
    """The generated loop nest (see the module's doc). Per depth d it also keeps `_gd`: every
    number so far is finite (their sum is: inf and nan survive a sum) and every component so far
    is >= 0; `_cd`: every constraint so far holds. A row is LOCATE when _g fails or a rule raises."""
    order, rules = lean.order, lean.rules
    depth = depths(lean, axis_leaves)
    k = len(axis_leaves)
    local = {n: f"r{i}" for i, n in enumerate(order)}
    local.update({n: f"f{i}" for i, n in enumerate(lean.leaves)})
    unit_value = _unit_values(rules)
    groups = per_names(rules, order)
    comps, constraints = set(lean.components), set(lean.constraints)

    def block(d, indent, fail):
        out = [f"{indent}{RANGE_OF[a]} = _group_range({local[AXES[a]]})" for a in sorted(set(groups.values()))
               if AXES[a] in local and depth.get(AXES[a], 0) == d]
        names = [n for n in order if depth[n] == d]
        body = [f"{indent}    {local[n]} = {_expr(n, rules, lean.components, local.__getitem__, unit_value, groups)}" for n in names]
        nums = [f"_lsum({local[n]})" if n in groups else local[n] for n in names if lean.kinds.get(n, NUM) == NUM]
        checks = ([f"(-_INF < {' + '.join(nums)} < _INF)"] if nums else []) + [f"({local[c]} >= 0.0)" for c in names if c in comps]
        prev = f"_g{d - 1}" if d else "True"
        body.append(f"{indent}    _g{d} = {' and '.join([prev] + checks)}")
        held = [f"({local[c]})" for c in names if c in constraints]
        body.append(f"{indent}    _c{d} = {' and '.join([f'_c{d - 1}' if d else 'True'] + held)}")
        if not names:
            return out + [b[4:] for b in body]
        return out + [f"{indent}try:"] + body + [f"{indent}except _ERRORS:", f"{indent}    {fail}"]

    lines = ["def grid(facts, axes):"]
    lines += [f"    {local[n]} = facts[{n!r}]" for n in lean.leaves if depth[n] == 0]
    lines += ["    out = []", "    append = out.append", "    extend = out.extend"]
    lines += block(0, "    ", "return None")
    lines += [f"    _ax{i} = axes[{i}]" for i in range(k)]
    for i in range(1, k):
        lines.append(f"    _n{i} = " + " * ".join(f"_len(_ax{j})" for j in range(i, k)))
    indent = "    "
    for i, leaves in enumerate(axis_leaves):
        lines.append(f"{indent}for _t{i} in _ax{i}:")
        indent += "    "
        if leaves:
            lines.append(f"{indent}(" + "".join(f"{local[n]}, " for n in leaves) + f") = _t{i}")
        fail = "append(_LOCATE)\n" + indent + "    continue" if i == k - 1 else f"extend(_LOCATES * _n{i + 1})\n{indent}    continue"
        lines += block(i + 1, indent, fail)
    row = [f"0 if _c{k} else 1", local[TOTAL], local["usable_memory_per_gpu"], local["fits"]] + [local[c] for c in lean.components]
    lines.append(f"{indent}append(({', '.join(row)},) if _g{k} else _LOCATE)")
    lines.append("    return out")
    code = compile("\n".join(lines) + "\n", f"<vramrules-grid:{lean.ruleset}/{lean.mode}>", "exec")  # from the checked trees
    namespace = function_globals()
    namespace.update(_INF=math.inf, _len=len, _LOCATE=(LOCATE,), _LOCATES=[(LOCATE,)], _lsum=sum, _ERRORS=(ArithmeticError, ValueError, TypeError))
    exec(code, namespace)  # noqa: S102 - source written from checked trees, run with no builtins
    return namespace["grid"], depth


def tail_function(comp, fast: list) -> tuple:
    """(the rules the leaves `fast` reach, in order; the names it reads that stay fixed (facts and
    other rules), in its parameters' order; fn(*fast values, *fixed values) -> their values),
    generated from the checked trees as compiler.compile_mode does. A prepared scenario binds its
    fixed values once (bind): a call passes only the numbers that change."""
    reached = set(fast)
    for name in comp.order:
        if any(d in reached for d in comp.deps[name]):
            reached.add(name)
    tail = [n for n in comp.order if n in reached]
    groups = per_names(comp.rules, comp.order)
    local = {n: f"r{i}" for i, n in enumerate(comp.order)}
    local.update({n: f"f{i}" for i, n in enumerate(comp.leaves)})
    read = {d for n in tail for d in comp.deps[n]} | {AXES[a] for a in set(groups.values()) if AXES[a] in local}
    fixed = [d for d in comp.leaves if d in read and d not in fast] + [d for d in comp.order if d in read and d not in reached]
    params = [local.get(d) or f"_unread{i}" for i, d in enumerate(fast)] + [local[d] for d in fixed]  # an input no rule reads: a parameter all the same
    lines = [f"def tail({', '.join(params)}):"]
    lines += [f"    {RANGE_OF[a]} = _group_range({local[AXES[a]]})" for a in sorted(set(groups.values())) if AXES[a] in local]
    unit_value = _unit_values(comp.rules)
    for n in tail:
        lines.append(f"    {local[n]} = {_expr(n, comp.rules, comp.components, local.__getitem__, unit_value, groups)}")
    lines.append("    return (" + "".join(f"{local[n]}, " for n in tail) + ")")
    namespace = function_globals()
    exec(compile("\n".join(lines) + "\n", f"<vramrules-tail:{comp.ruleset}/{comp.mode}>", "exec"), namespace)  # noqa: S102 - from checked trees
    return tail, fixed, namespace["tail"]


def bind(fn, values: tuple):
    """`fn` (tail_function's) with its trailing parameters, the fixed names, bound to `values`."""
    import types

    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, values)
