"""The scenario vocabulary (data/vocabulary.yaml): inputs and selection slots, declared once.

What is derived from it: the names formulas may use (input.NAME, and PREFIX.FIELD for each
slot), the scenario resolver's checks, the checks of every `defaults:` block and measurement
scenario, `--explain`, and the CLI options of eval, fit and sweep (commands/scenario_options.py).
"""
from __future__ import annotations

from typing import Any

from ..contract import SLOT_ROLES
from ..errors import Location, Problem, did_you_mean
from ..valuekinds import BOOL, ENUM, NUM

RESERVED_PREFIXES = ("input", "assume")
# keys a measurement scenario may hold besides inputs and slots: the scenario's frame
SCENARIO_FRAME = ("mode", "rules", "params", "model_config")
_FORMULA_KIND = {"integer": NUM, "number": NUM, "quantity": NUM, "boolean": BOOL, "choice": ENUM, "numbers": NUM}
# `numbers`: one number per GPU of the placement, written comma-separated (llama.cpp's
# --tensor-split 3,1); formulas read it per device, as device.NAME. Missing trailing values are 0,
# or, for an input declared `one_for_all`, a single value is every GPU's (--reserve 1.5GiB). With a
# `dimension` each value is a quantity ('1.5GiB,0'; a bare 0 needs no unit).
PER_DEVICE = "numbers"
MAX_DEVICES = 64  # llama.cpp's own limit is LLAMA_MAX_DEVICES (16, include/llama.h); a longer list is a typo
_LIMIT = 1e12  # an integer or number input above this is refused: no scenario needs it


def option_of(name: str) -> str:
    return "--" + name.replace("_", "-")


class Input:
    """One scenario input. `kind`, `dim`, `choices` are what the formula checker reads."""

    __slots__ = ("name", "decl", "kind", "dim", "choices", "minimum", "maximum", "default", "description",
                 "option", "aliases", "switch", "cli", "names", "one_for_all", "location", "layer")

    def __init__(self, name: str, raw: dict, location: Location, layer: str):
        self.name, self.location, self.layer = name, location, layer
        self.decl = raw["kind"]
        self.kind = _FORMULA_KIND[self.decl]
        self.dim = raw.get("dimension", "") if self.decl in ("quantity", PER_DEVICE) else ""
        self.choices = tuple(raw.get("choices") or ())
        self.minimum = raw.get("minimum")
        self.maximum = raw.get("maximum")
        self.default = raw.get("default")
        self.description = raw.get("description", "")
        self.option = raw.get("option") or option_of(name)
        self.aliases = tuple(raw.get("aliases") or ())
        self.switch = raw.get("switch")
        self.cli = bool(raw.get("cli", True))
        self.names = dict(raw.get("names") or {})  # an integer's named values: {"auto": -1, "all": -2}
        self.one_for_all = bool(raw.get("one_for_all", False))  # a per-device list of one value: every GPU's

    def __repr__(self):
        return f"Input({self.name}: {self.decl})"

    def coerce(self, value: Any, spelled: str | None = None):
        """The canonical value (float, bool or choice string), or raise ValueError saying why."""
        spelled = spelled or self.option
        if self.decl == PER_DEVICE:
            return self._numbers(value, spelled)
        if self.decl in ("integer", "number"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{spelled} must be a number, got {value!r}")
            v = float(value)
            if v != v or v in (float("inf"), float("-inf")):
                raise ValueError(f"{spelled} must be a finite number, got {value!r}")
            if self.decl == "integer" and v != int(v):
                return self._range(spelled, v)
            if self.minimum is not None and v < self.minimum or self.maximum is not None and v > self.maximum:
                return self._range(spelled, v)
            if v > _LIMIT:
                raise ValueError(f"{spelled} {v:g} is unreasonably large")
            return v
        if self.decl == "boolean":
            if not isinstance(value, bool):
                raise ValueError(f"{spelled} must be true or false, got {value!r}")
            return value
        if self.decl == "choice":
            if value not in self.choices:
                hint = did_you_mean(str(value), self.choices)
                raise ValueError(f"{spelled} must be one of {', '.join(self.choices)}, got {value!r}" + (f" ({hint})" if hint else ""))
            return value
        from .units import UnitProblem, canonical, dimension_of, quantity  # a quantity: '64 GiB'

        try:
            q = quantity(value) if isinstance(value, str) else None
        except UnitProblem as exc:
            raise ValueError(f"{spelled}: {exc}") from None
        if q is None or dimension_of(q) != self.dim:
            raise ValueError(f"{spelled} must be a quantity of dimension {self.dim}, e.g. '64 GiB', got {value!r}")
        return canonical(q)

    def _numbers(self, value, spelled) -> tuple:
        """A per-device list: '3,1', [3, 1] or one number -> (3.0, 1.0)."""
        if isinstance(value, str):
            parts = [p.strip() for p in (value.split(",") if self.dim else value.replace("/", ",").split(","))] if value.strip() else []
            items = []
            for p in parts:
                try:
                    items.append(self._size(p, spelled) if self.dim else float(p))
                except ValueError:
                    if self.dim:
                        raise
                    raise ValueError(f"{spelled} takes numbers separated by commas (3,1), got {value[:40]!r}") from None
        elif isinstance(value, (list, tuple)):
            items = [self._size(v, spelled) if self.dim and isinstance(v, str) else v for v in value]
        else:
            items = [value]
        if len(items) > MAX_DEVICES:
            raise ValueError(f"{spelled} gives {len(items)} values; a placement has at most {MAX_DEVICES} GPUs")
        out = []
        for v in items:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
                raise ValueError(f"{spelled} takes finite numbers, got {v!r}")
            if self.minimum is not None and v < self.minimum or self.maximum is not None and v > self.maximum or v > _LIMIT:
                self._range(spelled, float(v))
            out.append(float(v))
        return tuple(out)

    def _size(self, text: str, spelled) -> float:
        """One value of a per-device list of quantities ('1.5GiB'), in base units; a bare 0 is 0."""
        from .units import UnitProblem, canonical, dimension_of, quantity

        try:
            q = quantity(text)
        except UnitProblem as exc:
            raise ValueError(f"{spelled}: {exc}") from None
        if dimension_of(q) != self.dim and not (canonical(q) == 0 and not dimension_of(q)):
            raise ValueError(f"{spelled} takes one quantity of dimension {self.dim} per GPU, separated by commas "
                             f"(e.g. '1.5GiB,0'), got {text[:40]!r}")
        return canonical(q)

    def _range(self, spelled, v):
        what = "a whole number" if self.decl == "integer" else "a number" if self.decl == "number" else "a list of numbers each"
        if self.minimum is not None and self.maximum is not None:
            raise ValueError(f"{spelled} must be {what} from {self.minimum:g} to {self.maximum:g}, got {v:g}")
        if self.maximum is not None:
            raise ValueError(f"{spelled} must be {what} <= {self.maximum:g}, got {v:g}")
        if self.minimum is not None:
            raise ValueError(f"{spelled} must be {what} >= {self.minimum:g}, got {v:g}")
        raise ValueError(f"{spelled} must be {what}, got {v:g}")


class Slot:
    """One selection slot: an entry of catalog kind `selects`, read in formulas as PREFIX.FIELD."""

    __slots__ = ("name", "selects", "prefix", "role", "default_from", "default", "native", "description", "option", "aliases",
                 "cli", "location", "layer")

    def __init__(self, name: str, raw: dict, location: Location, layer: str):
        self.name, self.location, self.layer = name, location, layer
        self.selects = raw["selects"]
        self.prefix = raw.get("prefix") or name
        self.role = raw.get("role")
        self.default_from = raw.get("default_from")
        self.default = raw.get("default")  # an entry id: what the slot picks when nothing else names one
        self.native = bool(raw.get("native", False))
        self.description = raw.get("description", "")
        self.option = raw.get("option") or option_of(name)
        self.aliases = tuple(raw.get("aliases") or ())
        self.cli = bool(raw.get("cli", True))

    def __repr__(self):
        return f"Slot({self.name} -> {self.selects})"


class Vocabulary:
    def __init__(self, inputs: dict, slots: dict, raw: dict | None = None):
        self.inputs: dict[str, Input] = inputs
        self.slots: dict[str, Slot] = slots
        self.raw = raw or {}  # what the catalog cache stores: {section: {name: [raw, loc, layer]}}
        self.prefixes = {s.prefix: s for s in slots.values()}   # formula prefix -> Slot
        self.by_role = {s.role: s for s in slots.values() if s.role}
        self.one_for_all = frozenset(n for n, i in inputs.items() if i.one_for_all)  # per-device inputs a single value gives every GPU
        # the slots a scenario picks besides the model and the GPU: name -> Slot
        self.selections: dict[str, Slot] = {n: s for n, s in slots.items() if not s.role}
        # (input name, type, value) -> the canonical value: a sweep resolves a thousand scenarios
        # from the same defaults, and a search its probes (a value coerce refuses is not kept)
        self.coerced: dict = {}

    def names(self) -> list:
        """Every scenario key a defaults block may set."""
        return list(self.inputs) + list(self.slots)

    def check_block(self, block, where, pointer: tuple, frame: tuple = ()) -> list[Problem]:
        """Problems of one `defaults:` block (or measurement scenario): unknown keys, values of
        the wrong kind or out of range, each at its own file:line."""
        if not isinstance(block, dict):
            return []
        out = []
        for key, value in block.items():
            p = pointer + (key,)
            loc = where(p)
            text = "/" + "/".join(str(x) for x in p)
            if key in frame:
                continue
            if key in self.slots:
                if not isinstance(value, str):
                    out.append(Problem(loc, text, f"{key} must be a catalog id, got {value!r}"))
                continue
            spec = self.inputs.get(key)
            if spec is None:
                out.append(Problem(loc, text, f"unknown scenario input '{key}'",
                                   did_you_mean(key, self.names() + list(frame)) or "inputs and slots are declared in vocabulary.yaml"))
                continue
            try:
                spec.coerce(value, key)
            except ValueError as exc:
                out.append(Problem(loc, text, str(exc)))
        return out


def build(merged) -> tuple[Vocabulary, list[Problem]]:
    """The vocabulary of the merged vocabulary.yaml (already schema-valid), and the problems the
    schema cannot see: references, duplicate spellings, defaults out of range."""
    data = merged.data or {}
    inputs, slots, problems = {}, {}, []
    raw: dict = {"inputs": {}, "slots": {}}
    for name, spec in (data.get("inputs") or {}).items():
        loc, layer = merged.where(("inputs", name)), merged.layer(("inputs", name))
        inputs[name] = Input(name, spec, loc, layer)
        raw["inputs"][name] = [spec, list(loc), layer]
    for name, spec in (data.get("slots") or {}).items():
        loc, layer = merged.where(("slots", name)), merged.layer(("slots", name))
        slots[name] = Slot(name, spec, loc, layer)
        raw["slots"][name] = [spec, list(loc), layer]
    vocab = Vocabulary(inputs, slots, raw)
    problems.extend(_check(vocab, merged))
    return vocab, problems


def from_raw(raw: dict) -> Vocabulary:
    """The vocabulary as the catalog cache stores it (see build's `raw`)."""
    inputs = {n: Input(n, spec, Location(*loc), layer) for n, (spec, loc, layer) in raw["inputs"].items()}
    slots = {n: Slot(n, spec, Location(*loc), layer) for n, (spec, loc, layer) in raw["slots"].items()}
    return Vocabulary(inputs, slots, raw)


def _check(v: Vocabulary, merged) -> list[Problem]:
    def at(section, name, field, message, hint=""):
        return Problem(merged.where((section, name, field)), f"/{section}/{name}/{field}", message, hint)

    return _check_inputs(v, merged, at) + _check_slots(v, merged, at) + _check_spellings(v, merged)


def _check_inputs(v: Vocabulary, merged, at) -> list[Problem]:
    out = []
    for name, i in v.inputs.items():
        if i.decl == "choice" and not i.choices:
            out.append(at("inputs", name, "kind", f"input '{name}' is a choice but lists no choices", "add choices: [a, b]"))
        if i.decl != "choice" and i.choices:
            out.append(at("inputs", name, "choices", f"input '{name}' is a {i.decl}: choices apply only to kind choice"))
        if i.one_for_all and i.decl != PER_DEVICE:
            out.append(at("inputs", name, "one_for_all", f"input '{name}' is a {i.decl}: one_for_all applies to kind numbers (one value per GPU)"))
        if i.decl == "quantity" and not i.dim:
            out.append(at("inputs", name, "kind", f"quantity input '{name}' needs a dimension", "dimension: '[information]' for memory"))
        if i.decl not in ("integer", "number", PER_DEVICE) and (i.minimum is not None or i.maximum is not None):
            out.append(at("inputs", name, "minimum" if i.minimum is not None else "maximum", f"input '{name}' is a {i.decl}: bounds apply to numbers"))
        if i.switch and i.decl != "choice":
            out.append(at("inputs", name, "switch", f"a switch sets a choice; input '{name}' is a {i.decl}"))
        elif i.switch:
            for k in ("on_value", "off_value"):
                if i.switch[k] not in i.choices:
                    out.append(Problem(merged.where(("inputs", name, "switch", k)), f"/inputs/{name}/switch/{k}",
                                       f"'{i.switch[k]}' is not one of the choices of '{name}'", did_you_mean(i.switch[k], i.choices)))
        if i.default is not None:
            try:
                i.coerce(i.default, name)
            except ValueError as exc:
                out.append(at("inputs", name, "default", str(exc)))
    return out


def _check_slots(v: Vocabulary, merged, at) -> list[Problem]:
    out = []
    for name, s in v.slots.items():
        if s.prefix in RESERVED_PREFIXES:
            out.append(at("slots", name, "prefix", f"prefix '{s.prefix}' is reserved for {s.prefix}.NAME", "choose another prefix"))
        if s.default_from is not None:
            other = v.slots.get(s.default_from)
            if other is None:
                out.append(at("slots", name, "default_from", f"unknown slot '{s.default_from}'", did_you_mean(s.default_from, list(v.slots))))
            elif other.selects != s.selects:
                out.append(at("slots", name, "default_from", f"slot '{name}' selects a {s.selects} but '{s.default_from}' selects a {other.selects}"))
            elif other.default_from is not None:
                out.append(at("slots", name, "default_from", f"'{s.default_from}' takes its default from another slot itself", "name the slot it takes it from"))
        if s.default is not None and s.default_from is not None:
            out.append(at("slots", name, "default", f"slot '{name}' has both a default and default_from", "keep one"))
        if s.role and s.role != s.selects:
            out.append(at("slots", name, "role", f"the {s.role} role needs a slot that selects a {s.role}"))
        if s.native and s.selects != "precision":
            out.append(at("slots", name, "native", "only a precision slot accepts 'native'"))
    seen_prefix: dict = {}
    for name, s in v.slots.items():
        if s.prefix in seen_prefix:
            out.append(at("slots", name, "prefix", f"slots '{seen_prefix[s.prefix]}' and '{name}' share the prefix '{s.prefix}'"))
        seen_prefix[s.prefix] = name
    for role in SLOT_ROLES:
        holders = [n for n, s in v.slots.items() if s.role == role]
        if len(holders) != 1:
            out.append(Problem(merged.where(("slots",)), "/slots", f"exactly one slot must have role {role} (found {len(holders)})"))
    both = set(v.inputs) & set(v.slots)
    for name in sorted(both):
        out.append(at("slots", name, "selects", f"'{name}' is both an input and a slot"))
    return out


def _check_spellings(v: Vocabulary, merged) -> list[Problem]:
    """No two inputs or slots share a CLI spelling."""
    out = []
    spelled: dict = {}
    for section, items in (("inputs", v.inputs), ("slots", v.slots)):
        for name, spec in items.items():
            if not spec.cli:
                continue
            words = [spec.option, *spec.aliases]
            sw = getattr(spec, "switch", None)
            if sw:
                words += [sw["on"], sw["off"]]
            for w in words:
                if w in spelled and spelled[w] != name:
                    out.append(Problem(merged.where((section, name)), f"/{section}/{name}", f"option '{w}' is spelled by both '{spelled[w]}' and '{name}'"))
                spelled[w] = name
    return out
