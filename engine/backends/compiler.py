"""A checked mode as a function. Each (rule set, mode, with GPU or not) compiles once into one
plain Python function over floats: the formulas become a straight-line sequence of assignments,
generated from the checked trees (never from text), so evaluating a scenario is arithmetic.
A single evaluation interprets the checked trees instead (no code generation); a sweep gets
a function that evaluates one scenario for many GPUs, computing what no GPU fact touches once.
"""
from __future__ import annotations

import math

from ..errors import EvaluationError, Location, Problem
from ..language.ir import to_ir
from ..language.operators import AXES, RANGE_OF, axis_of
from ..language.rules import FIT_TARGETS, TOTAL, Mode, RuleSet, check_mode, closure, constraint_names, mode_rules, warning_names
from ..reading.catalog import Catalog
from .codegen import function_globals, to_source
from .interpreter import Interpreted


class Compiled:
    """One mode of one rule set, compiled."""

    def __init__(self, ruleset: str, mode: str, order: list, leaves: list, rules: dict, fn, kinds: dict, dims: dict,
                 deps: dict, components: list, warnings: list | None = None, constraints: list | None = None,
                 host: list | None = None):
        self.ruleset, self.mode = ruleset, mode
        self.order = order      # rule names in evaluation order (includes 'total')
        self.leaves = leaves    # fact names read from the scenario (model.hidden_size, input.batch, ...)
        self.rules = rules      # name -> Rule (mode view)
        self.fn = fn            # fn(facts: dict) -> tuple of values in `order`
        self.kinds = kinds      # name -> NUM | BOOL
        self.dims = dims        # name -> dimension text
        self.deps = deps        # name -> names it reads (rules and facts)
        self.components = components
        self.warnings = [] if warnings is None else warnings           # rule names of the warning conditions
        self.constraints = [] if constraints is None else constraints  # rule names of the constraints
        self.host = [] if host is None else host
        self.first_line = 0     # generated code: the line of the first rule (a failure's line names its rule)

    def __repr__(self):
        return f"Compiled({self.ruleset}/{self.mode})"


def compile_mode(cat: Catalog, rs: RuleSet, mode: Mode, with_fit: bool, lean: bool = False, once: bool = False) -> Compiled:
    """lean: only what a verdict needs (components, total, fit rules, constraints), for sweeps.
    once: for a single evaluation, interpret each rule's checked tree instead of generating and
    compiling code (same order, same values, same failure locations)."""
    checked = cat.checked.get((rs.name, mode.name, with_fit))
    if checked is None:
        checked = cat.checked[(rs.name, mode.name, with_fit)] = check_mode(cat, rs, mode, with_fit)
    order, kinds, dims, deps = checked
    rules = mode_rules(rs, mode)
    if lean:
        want = set(mode.components) | {TOTAL} | set(constraint_names(rs, mode)) | (set(FIT_TARGETS) if with_fit else set())
        keep = closure(deps, want, rules)
        order = [n for n in order if n in keep]
    leaves: list = []
    local: dict = {}
    for name in order:
        local[name] = f"r{len(local)}"
    full_deps = {}
    for name in order:
        if name == TOTAL:
            full_deps[name] = [c for c in mode.components]
            continue
        f = rules[name].formula
        names = f.names if f else []
        full_deps[name] = names
        for n in names:
            if n not in rules and n != TOTAL and "." in n and n not in leaves:
                leaves.append(n)
    groups = per_names(rules, order)
    for axis in sorted(set(groups.values())):
        if AXES[axis] not in leaves:
            leaves.append(AXES[axis])  # its length is the number of items
    leaf_local = {n: f"f{i}" for i, n in enumerate(leaves)}

    def local_of(n):
        return local.get(n) or leaf_local[n]

    unit_value = _unit_values(rules)
    if once:
        return _interpreted(rs, mode, order, leaves, rules, kinds, dims, full_deps, lean, unit_value, groups)

    lines = ["def evaluate(facts):"]
    lines += [f"    {lv} = facts[{n!r}]" for n, lv in leaf_local.items()]
    lines += [f"    {RANGE_OF[a]} = _group_range({leaf_local[AXES[a]]})" for a in sorted(set(groups.values()))]
    first_line = len(lines) + 1  # line of the first rule: a failure's line number names its rule
    for name in order:
        lines.append(f"    {local[name]} = {_expr(name, rules, mode.components, local_of, unit_value, groups)}")
    lines.append("    return (" + "".join(f"{local[n]}, " for n in order) + ")")
    filename = f"<vramrules:{rs.name}/{mode.name}>"
    code = compile("\n".join(lines) + "\n", filename, "exec")  # generated from the checked trees above
    namespace = function_globals()
    exec(code, namespace)  # noqa: S102 - source written from checked trees, run with no builtins
    fn = namespace["evaluate"]
    compiled = Compiled(rs.name, mode.name, order, leaves, rules, fn, kinds, dims, full_deps, list(mode.components),
                        [] if lean else warning_names(rs, mode), constraint_names(rs, mode), [] if lean else list(mode.host))
    compiled.first_line = first_line
    return compiled


def per_names(rules: dict, order) -> dict:
    """{name: axis} of the names with one value per item of an axis: rules declared
    `per: AXIS`, and the AXIS.FIELD facts they and the reductions read."""
    out = {n: rules[n].per for n in order if n in rules and rules[n].per}
    for n in order:
        f = rules[n].formula if n in rules else None
        if f is not None:
            out.update((x, a) for x in f.names if (a := axis_of(x, None)))
    return out


def _expr(name, rules, components, local_of, unit_value, groups) -> str:
    """One rule's right-hand side; a per-axis rule is a list, one value per item."""
    if name == TOTAL:
        return " + ".join(local_of(c) for c in components)
    rule = rules[name]
    if rule.per:
        return f"[{to_source(rule.formula, local_of, unit_value, groups, per=rule.per)} for _i in {RANGE_OF[rule.per]}]"
    return to_source(rule.formula, local_of, unit_value, groups)


def _unit_values(rules):
    """A bare unit name in a formula (GiB) -> its factor; None for rules and facts."""
    from ..reading.units import unit

    def unit_value(n):
        if n in rules or n == TOTAL or "." in n:
            return None
        u = unit(n)
        return u[0] if u else None

    return unit_value


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
    for name in order:
        if any(d in per_gpu for d in deps[name]):
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


class RuleFailure(Exception):
    def __init__(self, name, exc):
        super().__init__(str(exc))
        self.name, self.exc = name, exc


def _interpreted(rs, mode, order, leaves, rules, kinds, dims, deps, lean, unit_value, groups=None) -> Compiled:
    steps: list = []
    comps = list(mode.components)
    for name in order:
        if name == TOTAL:
            steps.append((name, None, False))
        else:
            f = rules[name].formula
            steps.append((name, Interpreted(f.ir if f.tree is None and f.ir is not None else to_ir(f), unit_value, groups,
                                              rules[name].per), rules[name].per))

    def fn(facts):
        env = dict(facts)
        out = []
        for name, step, per in steps:
            try:
                if step is None:
                    v = sum(env[c] for c in comps)
                elif per:
                    v = [step(env, i) for i in range(len(env[AXES[per]]))]
                else:
                    v = step(env)
            except (ArithmeticError, ValueError, TypeError) as exc:
                raise RuleFailure(name, exc) from None
            env[name] = v
            out.append(v)
        return tuple(out)

    return Compiled(rs.name, mode.name, order, leaves, rules, fn, kinds, dims, deps, comps,
                    [] if lean else warning_names(rs, mode), constraint_names(rs, mode), [] if lean else list(mode.host))


def run(compiled: Compiled, facts: dict) -> dict:
    """Evaluate; every failure is located at the rule that caused it. Integer facts become
    floats here, in `facts` itself (rules compute on floats only: see formula._pow)."""
    for name, v in facts.items():
        if type(v) is int:
            try:
                facts[name] = float(v)
            except OverflowError:
                raise EvaluationError(Problem(Location(f"<rules {compiled.ruleset}>"), "", f"{name} = {str(v)[:20]}... is too large",
                                              "give a number below 1e308")) from None
    try:
        values = compiled.fn(facts)
    except (ArithmeticError, ValueError, TypeError, RuleFailure) as exc:
        name = exc.name if isinstance(exc, RuleFailure) else _failing_rule(compiled, exc)
        exc = exc.exc if isinstance(exc, RuleFailure) else exc
        rule = compiled.rules.get(name)
        what = {ZeroDivisionError: "division by zero", OverflowError: "number too large"}.get(type(exc), str(exc))  # type: ignore[arg-type]
        loc = rule.location if rule else Location(f"<rules {compiled.ruleset}>")
        raise EvaluationError(Problem(loc, "", f"rule '{name}' failed: {what}", "check the inputs this rule divides by or raises to a power")) from None
    out = dict(zip(compiled.order, values))
    for name, v in out.items():
        if isinstance(v, list):  # a per-group rule: every group's value must be finite
            v = next((x for x in v if isinstance(x, float) and not math.isfinite(x)), 0.0)
        if isinstance(v, float) and not math.isfinite(v):
            rule = compiled.rules.get(name)
            raise EvaluationError(Problem(rule.location if rule else Location("<rules>"), "", f"rule '{name}' gave {v} (not a finite number)", "check for overflow in its inputs"))
    for c in compiled.components:
        if out[c] < 0:
            rule = compiled.rules[c]
            raise EvaluationError(Problem(rule.location, "", f"component '{c}' is negative ({out[c]:.6g} B)", "a memory component can never be negative; check the rule"))
    return out


def _failing_rule(compiled: Compiled, exc) -> str:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith("<vramrules:"):
            line = tb.tb_lineno
        tb = tb.tb_next
    first = getattr(compiled, "first_line", 1000)
    if line is None or not first <= line < first + len(compiled.order):
        return "?"
    return compiled.order[line - first]
