"""Rule sets: the dependency graph of derived quantities, and its checking (names, dimensions,
cycles). compiler.py turns a checked mode into a function.

A rule set (data/rules/NAME.yaml) holds rules and modes; a mode lists the rules that are its
memory components and may add or override rules of its own. The engine adds one rule,
`total` (the sum of the mode's components), and with a GPU the fit rules every rule set must
define (FIT_TARGETS).
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from .. import contract
from ..errors import DataError, Location, Problem, coded, did_you_mean
from ..reading.catalog import BOOL, ENUM, NUM, Catalog, FieldType
from ..reading.vocabulary import PER_DEVICE
from .dimensions import check
from .syntax import Formula, FormulaError, Poisoned, fail, parse

FIT_TARGETS = tuple(contract.WITH_GPU)
DEVICE_COUNT = FieldType(NUM, description="GPUs of this type in the placement")
DEVICE_INPUT = FieldType(NUM, description="a per-device input (vocabulary kind numbers): this device's value")
TOTAL = contract.TOTAL
# Plain classes, not dataclasses: a warm `eval` imports this module, and decorating its classes
# cost more than evaluating the rules (issue 7).
class Rule:
    __slots__ = ("name", "formula", "text", "unit", "label", "doc", "source", "location", "layer", "scope", "per")
    FIELDS = __slots__  # the constructor's arguments, in order: what the catalog cache stores

    def __init__(self, name: str, formula: Formula | None, text: str, unit: str | None, label: str, doc: str,
                 source: str, location: Location, layer: str, scope: str, per: str | None = None):
        self.name, self.formula, self.text, self.unit, self.label = name, formula, text, unit, label
        self.doc, self.source, self.location, self.layer = doc, source, location, layer
        self.scope = scope  # rule set or mode name that defined it
        self.per = per      # 'group' | 'device': one value per layer group of the model, per device of the placement

    def __repr__(self):
        return f"Rule({self.name} = {self.text!r} at {self.location})"


class Mode:
    FIELDS = ("name", "summary", "components", "defaults", "rules", "location", "note", "report", "warnings", "constraints",
              "host", "requires_gpu", "role", "extends", "preallocated", "optional", "roles", "device_groups")

    def __init__(self, name: str, summary: str, components: list, defaults: dict, rules: dict, location: Location,
                 note: str = "", report: list | None = None, warnings: list | None = None, constraints: list | None = None,
                 host: list | None = None, requires_gpu: bool = False, role: str | None = None, extends: str | None = None,
                 preallocated: list | None = None, optional: list | None = None, roles: dict | None = None,
                 device_groups: list | None = None):
        self.name, self.summary, self.components, self.defaults = name, summary, components, defaults
        self.role, self.extends = role, extends  # role: inference | serve | train (what the engine may assume)
        self.preallocated = [] if preallocated is None else preallocated  # components outside the working set
        self.optional = [] if optional is None else optional  # components left out of the breakdown when zero
        self.rules, self.location, self.note = rules, location, note
        self.report = [] if report is None else report
        self.warnings = [] if warnings is None else warnings           # Rule objects whose label is the message
        self.constraints = [] if constraints is None else constraints  # Rule objects: must hold, else a usage error
        self.host = [] if host is None else host                       # rule names: host memory per GPU rank
        self.requires_gpu = requires_gpu
        self.roles = {} if roles is None else roles  # component -> role (policy, reference, rollout engine, ...)
        # GPUs besides the layout's: [{name, label, gpus, components, fits}] (rule names; a rollout engine's own GPUs)
        self.device_groups = [] if device_groups is None else device_groups

    def __repr__(self):
        return f"Mode({self.name} at {self.location})"


class RuleSet:
    FIELDS = ("name", "summary", "rules", "modes", "defaults", "needs_architecture", "location", "source", "report", "warnings",
              "measures", "constraints", "suggestions", "search_defaults", "launchers", "devices")

    def __init__(self, name: str, summary: str, rules: dict, modes: dict, defaults: dict, needs_architecture: bool,
                 location: Location, source: str = "", report: list | None = None, warnings: list | None = None,
                 measures: dict | None = None, constraints: list | None = None, suggestions: list | None = None,
                 search_defaults: dict | None = None, launchers: list | None = None, devices: str = "by-type"):
        self.name, self.summary, self.rules, self.modes, self.defaults = name, summary, rules, modes, defaults
        self.needs_architecture, self.location, self.source = needs_architecture, location, source
        self.report = [] if report is None else report
        self.warnings = [] if warnings is None else warnings
        self.measures = {} if measures is None else measures   # measurement kind -> rule name
        self.constraints = [] if constraints is None else constraints
        self.suggestions = [] if suggestions is None else suggestions
        self.search_defaults = {} if search_defaults is None else search_defaults  # inputs `fit` holds unless given
        self.launchers = [] if launchers is None else launchers  # framework command lines (language/launchers.py)
        self.devices = devices  # 'by-type': a placement's devices are its GPU types with counts; 'each': one per GPU, in order

    def __repr__(self):
        return f"RuleSet({self.name} at {self.location})"


def build_rulesets(cat: Catalog, merged: dict, every_mode: bool = False) -> list[Problem]:
    """Parse every rule set file and check what a rule set is made of (schema, names of rules,
    libraries, modes, warnings); fill cat.rulesets. The names, dimensions and cycles of a mode's
    formulas are checked when the mode is first used (mode_check), or here for every mode when
    `every_mode`."""
    problems: list[Problem] = []
    memo = cat.check_memo  # formula checks shared by the modes (check_mode)
    libraries: dict[str, dict] = {}
    library_defaults: dict[str, dict] = {}
    sets: list = []
    from ..reading.schema import validate

    for key, m in sorted(merged.items()):
        if not key.startswith("rules/"):
            continue
        errs = validate("rules", m.data, m.where, m.identity)
        if errs:
            problems.extend(coded(errs, "schema_error"))
            continue
        problems.extend(coded(cat.vocabulary.check_block(m.data.get("defaults"), m.where, ("defaults",)), "schema_error"))
        problems.extend(coded(cat.vocabulary.check_block(m.data.get("search_defaults"), m.where, ("search_defaults",)), "schema_error"))
        for mname, spec in (m.data.get("modes") or {}).items():
            problems.extend(coded(cat.vocabulary.check_block(spec.get("defaults"), m.where, ("modes", mname, "defaults")), "schema_error"))
        name = key[len("rules/"):-len(".yaml")]
        rules = {}
        for rname, spec in (m.data.get("rules") or {}).items():
            rules[rname] = _rule(rname, spec, m, ("rules", rname), name, problems)
        if m.data["kind"] == "library":
            libraries[name] = rules
            library_defaults[name] = dict(m.data.get("defaults") or {})
        else:
            sets.append((name, m, rules))
    for name, m, rules in sets:
        merged_rules, lib_defaults = {}, {}
        for lib in m.data.get("uses") or []:
            if lib not in libraries:
                problems.append(Problem(m.where(("uses",)), "/uses", f"unknown rule library '{lib}'", _near(lib, libraries)))
                continue
            merged_rules.update(libraries[lib])
            lib_defaults.update(library_defaults[lib])
        merged_rules.update(rules)
        modes = _modes(m, problems)
        rs = RuleSet(name, m.data["summary"], merged_rules, modes, {**lib_defaults, **(m.data.get("defaults") or {})},
                     bool(m.data.get("needs_architecture", True)), m.where(()), m.data.get("source", ""),
                     list(m.data.get("report") or []), _warnings(m.data.get("warnings"), m, ("warnings",), name, problems),
                     dict(m.data.get("measures") or {}),
                     _warnings(m.data.get("constraints"), m, ("constraints",), name, problems, "constraint"),
                     list(m.data.get("suggestions") or []), dict(m.data.get("search_defaults") or {}),
                     list(m.data.get("launchers") or []), str(m.data.get("devices") or "by-type"))
        cat.rulesets[name] = rs
        for mode in modes.values():
            _derive_working_set(rs, mode)
        if not modes:
            problems.append(Problem(m.where(()), "", f"rule set '{name}' has no modes"))
    if every_mode or problems:  # a load that fails reports every problem at once, the modes' too
        for rs in cat.rulesets.values():
            problems.extend(check_modes(cat, rs, memo))
    return coded(problems, "rule_error")


def check_modes(cat: Catalog, rs: RuleSet, memo: dict | None = None) -> list[Problem]:
    """The problems of every mode of a rule set (validate, and a load that keeps the merged
    files); each mode's check is kept in cat.checked."""
    problems: list[Problem] = []
    for mode in rs.modes.values():
        try:
            mode_check(cat, rs, mode, True, memo)
        except DataError as exc:
            problems.extend(exc.problems)
    return coded(problems, "rule_error")


def mode_check(cat: Catalog, rs: RuleSet, mode: Mode, with_fit: bool, memo: dict | None = None):
    """The check of one mode (order, kinds, dims, deps), made when the mode is first used: a run
    checks the modes it evaluates, not every mode of every rule set (`validate` checks them all).
    Both views (with and without a GPU) come from one check with the fit targets, so a mode
    reports the same problems whichever view is asked for first. `cat.on_check(key, result)`,
    when set, keeps a new result for later runs (evaluation/catalog_cache.py)."""
    key = (rs.name, mode.name, with_fit)
    found = cat.checked.get(key)
    if found is not None:
        return found
    full = check_mode(cat, rs, mode, with_fit=True, memo=cat.check_memo if memo is None else memo)
    lean = without_fit(rs, mode, full)
    for fit, result in ((True, full), (False, lean)):
        cat.checked[(rs.name, mode.name, fit)] = result
        if cat.on_check is not None:
            cat.on_check((rs.name, mode.name, fit), result)
    return full if with_fit else lean


def _modes(m, problems) -> dict:
    """The modes of one rule set file, each with what it inherits through `extends` resolved."""
    specs = m.data.get("modes") or {}
    own = {}
    for mname, spec in specs.items():
        mrules = {r: _rule(r, s, m, ("modes", mname, "rules", r), mname, problems) for r, s in (spec.get("rules") or {}).items()}
        own[mname] = Mode(mname, spec["summary"], list(spec.get("components") or []), dict(spec.get("defaults") or {}), mrules,
                          m.where(("modes", mname)), spec.get("note", ""), list(spec.get("report") or []),
                          _warnings(spec.get("warnings"), m, ("modes", mname, "warnings"), mname, problems),
                          _warnings(spec.get("constraints"), m, ("modes", mname, "constraints"), mname, problems, "constraint"),
                          list(spec.get("host") or []), bool(spec.get("requires_gpu", False)), spec.get("role"), spec.get("extends"),
                          list(spec.get("preallocated") or []), list(spec.get("optional") or []),
                          dict(spec.get("roles") or {}), [dict(g) for g in spec.get("device_groups") or []])
    done: dict = {}

    def resolve(name, chain):
        if name in done:
            return done[name]
        mode, spec = own[name], specs[name]
        parent_name = spec.get("extends")
        if parent_name is None:
            if "components" not in spec:
                problems.append(Problem(m.where(("modes", name)), f"/modes/{name}", f"mode '{name}' lists no components", "give components: [...] or extends: MODE"))
            done[name] = mode
            return mode
        if parent_name not in own:
            problems.append(Problem(m.where(("modes", name, "extends")), f"/modes/{name}/extends", f"mode '{name}' extends unknown mode '{parent_name}'", _near(parent_name, own)))
            done[name] = mode
            return mode
        if parent_name in chain:
            problems.append(Problem(m.where(("modes", name, "extends")), f"/modes/{name}/extends", "modes extend each other: " + " -> ".join(chain + [name, parent_name]), "a mode may not extend itself"))
            done[name] = mode
            return mode
        parent = resolve(parent_name, chain + [name])
        mode.components = mode.components if "components" in spec else list(parent.components)
        mode.defaults = {**parent.defaults, **mode.defaults}
        mode.rules = {**parent.rules, **mode.rules}
        mode.report = list(dict.fromkeys(parent.report + mode.report))
        mode.warnings = parent.warnings + mode.warnings
        mode.constraints = parent.constraints + mode.constraints
        mode.host = mode.host if "host" in spec else list(parent.host)
        mode.preallocated = mode.preallocated if "preallocated" in spec else list(parent.preallocated)
        mode.optional = mode.optional if "optional" in spec else [c for c in parent.optional if c in mode.components]
        mode.requires_gpu = bool(spec["requires_gpu"]) if "requires_gpu" in spec else parent.requires_gpu
        mode.role = mode.role or parent.role
        mode.roles = {c: r for c, r in {**parent.roles, **mode.roles}.items() if c in mode.components}
        mode.device_groups = mode.device_groups if "device_groups" in spec else [dict(g) for g in parent.device_groups]
        done[name] = mode
        return mode

    modes = {name: resolve(name, []) for name in own}
    for name, mode in modes.items():
        for c in mode.optional:
            if c not in mode.components:
                problems.append(Problem(m.where(("modes", name, "optional")), f"/modes/{name}/optional",
                                        f"optional '{c}' is not a component of mode '{name}'", "list only the mode's components"))
        for c in mode.roles:
            if c not in mode.components:
                problems.append(Problem(m.where(("modes", name, "roles")), f"/modes/{name}/roles",
                                        f"roles names '{c}', not a component of mode '{name}'", _near(c, mode.components)))
    return modes


def _derive_working_set(rs: RuleSet, mode: Mode) -> None:
    """working_set, when a rule reads it and the mode does not define it: the sum of the mode's
    components that do not depend on it (runtime overhead reads it) and are not `preallocated`
    (a serving engine's KV pool), so adding a component to a mode updates it."""
    ws = contract.WORKING_SET
    rules = mode_rules(rs, mode)
    if ws in rules or not any(r.formula is not None and ws in r.formula.names for r in rules.values()):
        return
    reads: dict = {}

    def needs(name, seen=()):
        if name not in reads:
            rule = rules.get(name)
            names = rule.formula.names if rule is not None and rule.formula is not None else []
            reads[name] = ws in names or any(needs(n, seen + (name,)) for n in names if n in rules and n not in seen)
        return reads[name]

    parts = [c for c in mode.components if c in rules and c not in mode.preallocated and not needs(c)]
    text = " + ".join(parts) or "0"
    mode.rules[ws] = Rule(ws, parse(text) if parts else parse("0 * B"), text, "B", "working set", contract.DERIVED[ws],
                          "derived by the engine from the mode's components (contract.py)", mode.location, "engine", mode.name)


def _near(name, choices) -> str:
    return did_you_mean(name, list(choices))


def _rule(name, spec, m, pointer, scope, problems) -> Rule:
    loc = m.where(pointer + ("formula",))
    if name == TOTAL:  # the engine's own: a rule of that name would be silently replaced
        problems.append(Problem(m.where(pointer), "/" + "/".join(str(p) for p in pointer),
                                f"rule name '{TOTAL}' is the engine's: {contract.DERIVED[TOTAL]}", "rename the rule"))
    text = spec["formula"]
    form = None
    try:
        form = parse(text)
    except FormulaError as exc:
        problems.append(Problem(_at(loc, exc.col), "/" + "/".join(pointer) + "/formula", f"rule '{name}': {exc.message}", exc.hint))
    return Rule(name, form, str(text), spec.get("unit"), spec.get("label", name.replace("_", " ")), spec.get("doc", ""),
                spec.get("source", ""), loc, m.layer(pointer), scope, spec.get("per"))


def _warnings(specs, m, pointer, scope, problems, kind="warning") -> list:
    """Warnings (`when` holds: a message) and constraints (`require` fails: a usage error)."""
    out = []
    key = "when" if kind == "warning" else "require"
    for i, spec in enumerate(specs or []):
        name = f"{kind} {scope}#{i + 1}"
        rule = _rule(name, {"formula": spec[key], "label": spec["message"], "source": spec.get("source", "")},
                     m, pointer + (i,), scope, problems)
        rule.location = m.where(pointer + (i, key))
        if rule.formula is not None:  # {name} placeholders are read like the condition's names
            for n in re.findall(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}", spec["message"]):
                if n not in rule.formula.names:
                    rule.formula.names.append(n)
        out.append(rule)
    return out


def _at(loc: Location, col: int) -> Location:
    """Point into a formula: the column of the offending part when the formula sits on one line."""
    if col and loc.line:
        return Location(loc.file, loc.line, loc.col + col - 1)
    return loc


def report_names(rs: RuleSet, mode: Mode) -> list:
    return list(dict.fromkeys(rs.report + mode.report))


def mode_rules(rs: RuleSet, mode: Mode) -> Mapping:
    """The rules a mode sees: its warnings and constraints, over its own rules, over the rule
    set's (a view, in the order of {**rs.rules, **mode.rules, **those}: a cached rule set builds
    only the rules that are read)."""
    return Layered(({w.name: w for w in rs.warnings + mode.warnings + rs.constraints + mode.constraints}, mode.rules, rs.rules))


class Layered(Mapping):
    """Mappings looked up in turn, the first holding a name wins; iterated in the order of
    {**maps[-1], ..., **maps[0]} (collections.ChainMap's semantics, without its KeyError per miss)."""

    __slots__ = ("maps",)

    def __init__(self, maps: tuple):
        self.maps = maps

    def __getitem__(self, name):
        for m in self.maps:
            if name in m:
                return m[name]
        raise KeyError(name)

    def get(self, name, default=None):
        for m in self.maps:
            if name in m:
                return m[name]
        return default

    def __contains__(self, name):
        return any(name in m for m in self.maps)

    def __iter__(self):
        seen: dict = {}
        for m in reversed(self.maps):
            seen.update(dict.fromkeys(m))
        return iter(seen)

    def __len__(self):
        return sum(1 for _ in self)


class ModeRules(dict):
    """A mode's rules (mode_rules) as a dict holding those of `names` (what an evaluation reads,
    looked up at C speed), the others found in the view on request."""

    def __init__(self, view: Mapping, names):
        super().__init__((n, view[n]) for n in names if n in view)
        self.view = view
        self._absent: set = set()  # names asked for that are no rule (facts, inputs): asked again and again

    def __missing__(self, name):
        rule = self[name] = self.view[name]
        return rule

    def __contains__(self, name):
        if dict.__contains__(self, name):
            return True
        if name in self._absent:
            return False
        if name in self.view:
            return True
        self._absent.add(name)
        return False

    def get(self, name, default=None):
        return self[name] if name in self else default

    def __iter__(self):
        return iter(self.view)

    def __len__(self):
        return len(self.view)

    def items(self):
        return self.view.items()

    def values(self):
        return self.view.values()

    def keys(self):
        return self.view.keys()


def warning_names(rs: RuleSet, mode: Mode) -> list:
    return [w.name for w in rs.warnings + mode.warnings]


def constraint_names(rs: RuleSet, mode: Mode) -> list:
    return [c.name for c in rs.constraints + mode.constraints]


# ---------------------------------------------------------------- names and checking

def _check_rule(rule, resolve, per_names: dict, per_key: tuple, rules: Mapping, known: dict, memo: dict):
    """check() of one rule's formula, or its result (or error) for the same rule reading rules of
    the same kinds and dimensions in another mode."""
    key = (id(rule), rule.per, per_key, tuple(_known_key(n, rules, known) for n in rule.formula.names))
    hit = memo.get(key)
    if hit is None:
        try:
            hit = check(rule.formula, resolve, rule.per, per_names)
            for n in rule.formula.names:  # names only a warning message reads
                resolve(n, None)
        except (Poisoned, FormulaError) as exc:
            hit = exc
        memo[key] = hit
    if isinstance(hit, Exception):
        raise hit
    return hit


def _known_key(name: str, rules: Mapping, known: dict):
    """What checking a formula learns of `name` in this mode: a rule's checked kind and
    dimension (or that it is unknown or poisoned); any other name resolves the same in every
    mode of one catalog."""
    if name not in rules and name != TOTAL:
        return (name,)
    if name not in known:
        return (name, "unchecked")
    k = known[name]
    if k is None:
        return (name, None)
    kind, q = k
    return (name, kind, str(q.dimensionality) if hasattr(q, "dimensionality") else repr(q))


def resolver(cat: Catalog, rules: Mapping, known: dict):
    """resolve(name, node) -> (kind, Dim | choices); `known` holds checked rules."""
    from ..reading.units import unit

    reg = None
    vocab = cat.vocabulary
    inputs, prefixes = vocab.inputs, vocab.prefixes

    def resolve(name, node):
        if name in known:
            if known[name] is None:
                raise Poisoned(name)
            return known[name]
        head, _, rest = name.partition(".")
        if not rest:
            if name in rules or name == TOTAL:
                raise FormulaError(f"rule '{name}' is not yet known here")  # guarded by topo order
            u = unit(name)
            if u is not None:
                return NUM, u[1]
            cands = list(rules) + [TOTAL] + list(prefixes) + ["input", "assume"]
            fail(node, f"unknown name '{name}'", _near(name, cands) or "names are rules, units, or model./gpu./precision./input./assume. fields")
        if head == "group":  # a field of one layer group of the model (models.yaml `layers:`)
            types = cat.types.get("group", {})
            ft = types.get(rest)
            if ft is None:
                fail(node, f"unknown layer-group field '{name}'", did_you_mean(rest, list(types), "group."))
            return _typed(ft, reg)
        if head == "device":  # a field of one device of the placement: a GPU's fields, its count, per-device inputs
            types = {**cat.types.get("gpu", {}), "count": DEVICE_COUNT,
                     **{n: (FieldType(NUM, spec.dim, description=DEVICE_INPUT.description) if spec.dim else DEVICE_INPUT)
                        for n, spec in inputs.items() if spec.decl == PER_DEVICE}}
            ft = types.get(rest)
            if ft is None:
                fail(node, f"unknown device field '{name}'", did_you_mean(rest, list(types), "device."))
            return _typed(ft, reg)
        if head in prefixes:
            kind = prefixes[head].selects
            types = cat.types.get(kind, {})
            ft = types.get(rest)
            if ft is None:
                fail(node, f"unknown field '{name}'", did_you_mean(rest, list(types), f"{head}."))
            return _typed(ft, reg)
        if head == "input":
            ft = inputs.get(rest)
            if ft is None:
                fail(node, f"unknown input '{name}'", did_you_mean(rest, list(inputs), "input."))
            if ft.decl == PER_DEVICE:
                fail(node, f"input '{name}' has one value per device of the placement", f"read it as device.{rest} in a rule with per: device")
            return _typed(ft, reg)
        if head == "assume":
            a = cat.assumptions.get(rest)
            if a is None:
                fail(node, f"unknown assumption '{name}'", did_you_mean(rest, list(cat.assumptions), "assume.") or "assumptions live in data/assumptions.yaml")
            if a.kind == BOOL:
                return BOOL, None
            return NUM, _dim_quantity(a.dim, reg)
        fail(node, f"unknown name '{name}'", did_you_mean(head, list(prefixes) + ["input", "assume"], "", f".{rest}"))

    return resolve


_DIM_UNITS = {"": "", "[information]": "byte", "[information] / [time]": "byte / second", "[time]": "second"}


def _dim_quantity(dim: str, reg=None):
    from ..reading.units import parse_dim

    return parse_dim(dim)


def _typed(ft, reg):
    if ft.kind == BOOL:
        return BOOL, None
    if ft.kind == ENUM:
        return ENUM, ft.choices
    return NUM, _dim_quantity(ft.dim, reg)


def _graph(rules: Mapping, mode: Mode):
    deps = {}
    for name, rule in rules.items():
        deps[name] = [n for n in (rule.formula.names if rule.formula else []) if n in rules or n == TOTAL]
    deps[TOTAL] = [c for c in mode.components if c in rules]
    return deps


def _order(deps: dict, targets: list, rules: Mapping) -> tuple[list, list]:
    """Topological order of everything `targets` need; and cycles found, as name paths. An
    explicit stack, not recursion: a chain of 12,000 rules is an order, not a RecursionError."""
    order: list = []
    state: dict = {}  # 1: on the current path, 2: done
    cycles: list = []
    for t in targets:
        if state.get(t):
            continue
        state[t] = 1
        path, stack = [t], [iter(deps.get(t, []))]
        while stack:
            d = next(stack[-1], None)
            if d is None:
                n = path.pop()
                stack.pop()
                state[n] = 2
                order.append(n)
                continue
            s = state.get(d)
            if s == 1:
                cycles.append(path[path.index(d):] + [d])  # a closed path: it starts and ends with d
            elif s is None:
                state[d] = 1
                path.append(d)
                stack.append(iter(deps.get(d, [])))
    return order, cycles


def _targets(rs: RuleSet, mode: Mode, rules: Mapping, with_fit: bool, vocabulary=None) -> tuple[list, list]:
    """(every rule the engine reads of this mode, the names among them that are no rule)."""
    problems = []
    for c in mode.components:
        if c not in rules:
            problems.append(Problem(mode.location, f"/modes/{mode.name}/components", f"component '{c}' of mode '{mode.name}' is not a rule", _near(c, rules)))
    targets = [c for c in mode.components if c in rules] + [TOTAL]
    for r in report_names(rs, mode):
        if r not in rules:
            problems.append(Problem(mode.location, f"/modes/{mode.name}", f"report names unknown rule '{r}'", _near(r, rules)))
        else:
            targets.append(r)
    targets += warning_names(rs, mode) + constraint_names(rs, mode) + host_verdict_names(rules)
    for h in mode.host:
        if h not in rules:
            problems.append(Problem(mode.location, f"/modes/{mode.name}/host", f"host component '{h}' of mode '{mode.name}' is not a rule", _near(h, rules)))
        else:
            targets.append(h)
    for kind, r in rs.measures.items():
        if r in rules:
            targets.append(r)
        elif r != TOTAL and not any(r in mm.rules for mm in rs.modes.values()):
            problems.append(Problem(rs.location, f"/measures/{kind}", f"measure '{kind}' names unknown rule '{r}'", _near(r, rules)))
    if vocabulary is not None:
        targets += _launcher_targets(rs, mode, rules, vocabulary, problems)
    if with_fit:  # a device group's GPUs, components and verdict: read with a GPU, like the fit rules
        for i, g in enumerate(mode.device_groups):
            for r in [g["gpus"], g["fits"], *g["components"]]:
                if r not in rules:
                    problems.append(Problem(mode.location, f"/modes/{mode.name}/device_groups/{i}", f"device group '{g['name']}' names unknown rule '{r}'", _near(r, rules)))
                else:
                    targets.append(r)
        targets += device_plan_names(mode, rules)
        for t in FIT_TARGETS:
            if t not in rules:
                problems.append(Problem(rs.location, "/rules", f"rule set '{rs.name}' must define rule '{t}' (fit verdicts need it)", "see data/rules/fit.yaml"))
            else:
                targets.append(t)
    return targets, problems


def _launcher_targets(rs: RuleSet, mode: Mode, rules: Mapping, vocabulary, problems: list) -> list:
    """The rules the rule set's launchers read for this mode (computed with it); a name that is
    no input, slot or rule is a data error at the launcher."""
    from .launchers import names

    out = []
    for i, launcher in enumerate(rs.launchers):
        if mode.name not in launcher["modes"]:
            continue
        for n in names(launcher, mode.name, mode.device_groups):
            if n in rules:
                out.append(n)
                continue
            bare = n[len("input."):] if n.startswith("input.") else n
            if bare in vocabulary.inputs or (not n.startswith("input.") and bare in vocabulary.slots):
                continue
            problems.append(Problem(rs.location, f"/launchers/{i}", f"launcher '{launcher['name']}' reads '{n}', which mode '{mode.name}' "
                                    "has as no input, slot or rule", _near(n, list(rules))))
    return out


def check_mode(cat: Catalog, rs: RuleSet, mode: Mode, with_fit: bool, memo: dict | None = None):
    """Names, types, dimensions and cycles of everything the mode needs. Raises DataError.
    Returns (order, kinds, dims, deps). `memo`: the checks of one catalog build, shared by its
    modes: a rule whose formula reads rules of the same kinds and dimensions is checked once,
    not once per mode (13 modes share most of default.yaml's rules)."""
    memo = {} if memo is None else memo
    rules = mode_rules(rs, mode)
    targets, problems = _targets(rs, mode, rules, with_fit, cat.vocabulary)
    if problems:
        raise DataError(problems)
    deps = _graph(rules, mode)
    order, cycles = _order(deps, targets, rules)
    in_cycle = set()
    for cyc in cycles:
        first = rules.get(cyc[0]) or rules.get(cyc[1])
        problems.append(Problem(first.location if first else mode.location, "", "rule cycle: " + " -> ".join(cyc), "a rule may not depend on itself", "rule_cycle"))
        in_cycle.update(cyc)
    from ..reading.units import Dim, parse_dim, unit

    memory_dim = parse_dim("[information]")
    known: dict = {n: None for n in in_cycle}  # checked no further, and no errors cascade from them
    kinds, dims = {}, {}
    resolve = resolver(cat, rules, known)
    per_names = {n: r.per for n, r in rules.items() if r.per}
    per_key = tuple(sorted(per_names.items()))
    per_gpu = set(device_plan_names(mode, rules)) | {r for r in report_names(rs, mode) if per_names.get(r) == "device"}
    for t in sorted(set(targets) & set(per_names) - per_gpu):  # what the engine reads is one number, not one per item (or shown per GPU)
        problems.append(Problem(rules[t].location, "", f"rule '{t}' is per {per_names[t]} but the mode reads it as one number",
                                f"reduce it in another rule: {per_names[t]}_sum(...) or {per_names[t]}_max(...)"))
    for name in order:
        if name == TOTAL:
            q = None
            for c in mode.components:
                k, cq = known.get(c) or (None, None)
                if k == NUM and cq is not None and cq.dimensionality != memory_dim:
                    problems.append(Problem(rules[c].location, "", f"component '{c}' must be a memory quantity, got {_dimtext(cq)}", "multiply by a size, e.g. * precision.bits"))
                elif k == BOOL:
                    problems.append(Problem(rules[c].location, "", f"component '{c}' must be a memory quantity, got a boolean"))
            known[TOTAL] = (NUM, memory_dim)
            kinds[TOTAL], dims[TOTAL] = NUM, "[information]"
            continue
        rule = rules[name]
        if rule.formula is None or name in in_cycle:
            known[name] = None
            continue
        try:
            kind, q = _check_rule(rule, resolve, per_names, per_key, rules, known, memo)
        except Poisoned:
            known[name] = None
            continue
        except FormulaError as exc:
            problems.append(Problem(_at(rule.location, exc.col), "", f"rule '{name}': {exc.message}", exc.hint))
            known[name] = None
            continue
        if kind not in (NUM, BOOL):
            problems.append(Problem(rule.location, "", f"rule '{name}' yields a {kind}, not a number or boolean"))
            kind, q = NUM, Dim()
        if rule.unit and kind == NUM:
            u = Dim() if rule.unit == "1" else (unit(rule.unit) or (None, None))[1]
            want = u
            if u is None:
                problems.append(Problem(rule.location, "", f"rule '{name}': unknown unit '{rule.unit}'", _near(rule.unit, ["B", "GiB", "param", "token", "1"])))
                want = q
            if want is not None and q is not None and want.dimensionality != q.dimensionality:
                problems.append(Problem(rule.location, "", f"rule '{name}' should be {_dimtext(want)} (unit {rule.unit}) but its formula gives {_dimtext(q)}", "check which factor is missing or extra"))
        known[name] = (kind, q)
        kinds[name] = kind
        dims[name] = "" if q is None or not q.dimensionality else str(q.dimensionality)
    for t in ("fits",):
        if with_fit and kinds.get(t) not in (None, BOOL):
            problems.append(Problem(rules[t].location, "", "rule 'fits' must be a boolean"))
    for w in warning_names(rs, mode) + constraint_names(rs, mode):
        if kinds.get(w) not in (None, BOOL):
            problems.append(Problem(rules[w].location, "", f"the condition of {w} must be a boolean", "compare, e.g. input.seq_len > model.max_context"))
    for name in rules:
        if unit(name) is not None:
            problems.append(Problem(rules[name].location, "", f"rule name '{name}' is also a unit name", "rename the rule"))
    if problems:
        raise DataError(problems)
    return order, kinds, dims, deps


def device_plan_names(mode: Mode, rules: Mapping) -> list:
    """The per-device plan (contract.DEVICE_PLAN) and each component's per-device share, read
    with a GPU when the rule set defines all of the plan; else none."""
    plan = list(contract.DEVICE_PLAN)
    if not all(n in rules and rules[n].per == "device" for n in plan):
        return []
    shares = [contract.DEVICE_PREFIX + c for c in mode.components]
    return plan + [n for n in shares if n in rules and rules[n].per == "device"]


def host_verdict_names(rules: Mapping) -> list:
    """The host's verdict (contract.HOST_VERDICT), read with or without a GPU when the rule set
    defines all of it (a CPU-only plan has the host as its only device)."""
    names = list(contract.HOST_VERDICT)
    return names if all(n in rules for n in names) else []


def without_fit(rs: RuleSet, mode: Mode, checked):
    """The check of a mode without a GPU: the with-GPU check restricted to what the non-fit
    targets need (the same order, kinds and dimensions; no second pass over the formulas)."""
    order, kinds, dims, deps = checked
    rules = mode_rules(rs, mode)
    targets = list(mode.components) + [TOTAL] + report_names(rs, mode) + warning_names(rs, mode) + constraint_names(rs, mode) \
        + list(mode.host) + host_verdict_names(rules) + [r for r in rs.measures.values() if r in rules or r == TOTAL] + launcher_rules(rs, mode, rules)
    keep = closure(deps, [t for t in targets if t in rules or t == TOTAL], rules)
    return [n for n in order if n in keep], kinds, dims, deps


def launcher_rules(rs: RuleSet, mode: Mode, rules: Mapping) -> list:
    """The rules the rule set's launchers read for this mode."""
    from .launchers import names

    return [n for launcher in rs.launchers if mode.name in launcher["modes"]
            for n in names(launcher, mode.name, mode.device_groups) if n in rules]


def closure(deps: dict, targets, rules) -> set:
    """The targets and every rule they read, transitively."""
    keep, stack = set(), list(targets)
    while stack:
        n = stack.pop()
        if n in keep:
            continue
        keep.add(n)
        stack.extend(d for d in deps.get(n, []) if d in rules or d == TOTAL)
    return keep


def _dimtext(q) -> str:
    return "dimensionless" if q is None or not q.dimensionality else str(q.dimensionality)
