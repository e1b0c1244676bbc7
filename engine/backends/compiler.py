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
from ..language.operators import AXES, RANGE_OF
from ..language.rules import FIT_TARGETS, TOTAL, Mode, ModeRules, RuleSet, closure, constraint_names, mode_check, mode_rules, warning_names
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


def compile_mode(cat: Catalog, rs: RuleSet, mode: Mode, with_fit: bool, lean: bool = False, once: bool = False,
                 interpreters: dict | None = None) -> Compiled:
    """lean: only what a verdict needs (components, total, fit rules, constraints), for sweeps.
    once: for a single evaluation, interpret each rule's checked tree instead of generating and
    compiling code (same order, same values, same failure locations). `interpreters`: {rule name:
    Interpreted} made for another view of the same mode, reused (a rule's tree is validated once)."""
    order, kinds, dims, deps = mode_check(cat, rs, mode, with_fit)
    rules = ModeRules(mode_rules(rs, mode), order)
    want: set = set()
    if lean:  # and the GPU counts of the mode's device groups: the fewest-GPUs search counts them
        want = set(mode.components) | {TOTAL} | set(constraint_names(rs, mode)) | (set(FIT_TARGETS) if with_fit else set()) \
            | {g["gpus"] for g in mode.device_groups if g["gpus"] in rules}
        keep = closure(deps, want, rules)
        order = [n for n in order if n in keep]
    leaves: list = []
    seen: set = set()
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
            if "." in n and n not in seen and n != TOTAL and n not in rules:
                seen.add(n)
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
        targets = [n for n in order if n in want] if lean else None
        return _interpreted(rs, mode, order, leaves, rules, kinds, dims, full_deps, lean, unit_value, groups, targets,
                            {} if interpreters is None else interpreters)

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
        for x in f.names if f is not None else ():
            head, dot, _field = x.partition(".")  # axis_of(x, None), inline: every name of every rule, each run
            if dot and head in AXES:
                out[x] = head
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


class RuleFailure(Exception):
    def __init__(self, name, exc):
        super().__init__(str(exc))
        self.name, self.exc = name, exc


def _interpreted(rs, mode, order, leaves, rules, kinds, dims, deps, lean, unit_value, groups=None, targets=None,
                 made: dict | None = None) -> Compiled:
    """The checked trees interpreted in order; with `targets` (a lean mode: what a verdict
    needs), on demand: a rule is evaluated when a taken branch reads it, so the rules of a branch
    not taken (the activation profile not chosen) cost nothing; the others' values are None."""
    steps: list = []
    comps = list(mode.components)
    for name in order:
        if name == TOTAL:
            steps.append((name, None, False))
        else:
            step = None if made is None else made.get(name)
            if step is None:
                f = rules[name].formula
                step = Interpreted(f.ir if f.tree is None and f.ir is not None else to_ir(f), unit_value, groups, rules[name].per)
                if made is not None:
                    made[name] = step
            steps.append((name, step, rules[name].per))
    if targets is not None:
        return Compiled(rs.name, mode.name, order, leaves, rules, _on_demand(steps, comps, order, targets), kinds, dims, deps, comps,
                        [], constraint_names(rs, mode), [])

    def fn(facts):
        env = dict(facts)
        out = []
        for name, step, per in steps:
            v = env[name] = _value(name, step, per, env, comps)
            out.append(v)
        return tuple(out)

    return Compiled(rs.name, mode.name, order, leaves, rules, fn, kinds, dims, deps, comps,
                    [] if lean else warning_names(rs, mode), constraint_names(rs, mode), [] if lean else list(mode.host))


def _value(name, step, per, env, comps):
    """One rule's value over `env` (the total: its components' sum; a per-axis rule: a list)."""
    try:
        if step is None:
            return sum(env[c] for c in comps)
        if per:
            return [step(env, i) for i in range(len(env[AXES[per]]))]
        return step(env)
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise RuleFailure(name, exc) from None


class _OnDemand(dict):
    """The facts, and each rule's value computed the first time a formula reads it."""

    def __init__(self, facts: dict, steps: dict, comps: list):
        super().__init__(facts)
        self._steps, self._comps = steps, comps

    def get(self, name, default=None):
        v = dict.get(self, name)
        if v is not None or name not in self._steps:
            return v if v is not None else default
        step, per = self._steps[name]
        v = self[name] = _value(name, step, per, self, self._comps)
        return v

    def __missing__(self, name):
        if name in self._steps:
            return self.get(name)
        raise KeyError(name)


def _on_demand(steps: list, comps: list, order: list, targets: list):
    by_name = {name: (step, per) for name, step, per in steps}

    def fn(facts):
        env = _OnDemand(facts, by_name, comps)
        for t in targets:
            env.get(t)
        return tuple(dict.get(env, n) for n in order)

    return fn


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
