"""CLI/API inputs + rule set and mode defaults -> one resolved scenario.

Precedence, lowest first: the rule set's `defaults`, the mode's `defaults`, then what the
user gave. Every resolved value remembers which of the three it came from.
"""
from __future__ import annotations

from ..errors import Location, UsageError, did_you_mean, unknown
from ..reading.catalog import BOOL, GROUP_FIELDS, NUM, Catalog, Entry
from ..reading.names import find
from ..reading.vocabulary import PER_DEVICE
from .engines import select as select_engine

LAYOUT = ("tp", "cp", "pp", "dp")  # the layout inputs the engine reads (see _layout)
NATIVE = "native"  # --precision native: the precision the checkpoint ships in (models.yaml native_precision)


class Scenario:
    def __init__(self, ruleset: str, mode: str, model: Entry, gpu: Entry | None, selections: dict, inputs: dict,
                 origin: dict | None = None, by_prefix: dict | None = None):
        self.ruleset, self.mode, self.model, self.gpu = ruleset, mode, model, gpu
        self.selections = selections                        # slot -> Entry (every slot but the model and the GPU)
        self.inputs = inputs                                # name -> float | bool | str
        self.origin = {} if origin is None else origin      # name -> 'option' | 'mode default' | 'rule set default' | ...
        # formula prefix -> Entry (vocabulary.yaml's slots; lora_targets is read as lora.*)
        self.by_prefix = {"model": model, "gpu": gpu, **selections} if by_prefix is None else by_prefix
        self._assumptions: dict = {}
        self.devices: list = [] if gpu is None else [(gpu, None)]  # the placement: [(GPU entry, count)]
        self.one_for_all: frozenset = frozenset()  # per-device inputs whose single value is every GPU's (vocabulary one_for_all)

    @property
    def mixed(self) -> bool:
        """Placed on GPUs of more than one type."""
        return len(self.devices) > 1

    @property
    def placement(self) -> str:
        """The placement as it is written on the command line: rtx-4090+2xrtx-3090."""
        if not self.mixed:
            return self.gpu.id if self.gpu else ""
        runs: list = []  # a rule set that lists each GPU (devices: each) writes a run of one type as NxID
        for g, c in self.devices:
            if runs and runs[-1][0] is g:
                runs[-1][1] += c
            else:
                runs.append([g, c])
        return "+".join(f"{c:g}x{g.id}" if c != 1 else g.id for g, c in runs)

    def __repr__(self):
        return f"Scenario({self.ruleset}/{self.mode}, model={self.model.id}, gpu={self.gpu.id if self.gpu else None})"

    def facts(self, leaves) -> dict:
        """The plain values the compiled rules read, by fact name."""
        out = {}
        by_prefix = self.by_prefix
        for leaf in leaves:
            head, _, rest = leaf.partition(".")
            if head == "input":
                out[leaf] = self.inputs[rest]
            elif head == "assume":
                out[leaf] = self._assumptions[rest]
            elif head == "group":  # one list per field: the model's layer groups
                out[leaf] = self.model.facts[leaf]
            elif head == "device":  # one list per field: the placement's GPU types
                if rest == "count":
                    out[leaf] = [float(c if c is not None else self.inputs["gpus"]) for _g, c in self.devices]
                elif rest in self.inputs:  # a per-device input (vocabulary kind numbers): missing values are 0
                    given = self.inputs[rest]
                    if len(given) == 1 and rest in self.one_for_all:  # --reserve 1.5GiB: every GPU's
                        given = given * len(self.devices)
                    out[leaf] = [float(given[k]) if k < len(given) else 0.0 for k in range(len(self.devices))]
                else:
                    out[leaf] = [g.facts[rest] for g, _c in self.devices]
            else:
                out[leaf] = by_prefix[head].facts[rest]
        return out


def _layout(inputs, origin):
    """--gpus N with a partial layout: the mode's `split` axis (tp for inference, dp for training)
    takes what the given axes leave. Without --gpus, gpus = tp x cp x pp x dp (cp: context
    parallelism, 1 in a rule set without it)."""
    inputs.setdefault("cp", 1)
    given = {a for a in LAYOUT if origin.get(a) == "option"}
    if origin.get("gpus") != "option":
        inputs["gpus"] = inputs["tp"] * inputs["cp"] * inputs["pp"] * inputs["dp"]
        origin["gpus"] = "tp x pp x dp" if inputs["cp"] == 1 else "tp x cp x pp x dp"
        return
    if given >= {"tp", "pp", "dp"}:
        return  # a full layout (cp is never the split axis): the rule set's constraints check it
    axis = inputs["split"] if inputs["split"] not in given else next(a for a in ("dp", "tp", "pp") if a not in given)
    rest = 1
    for a in LAYOUT:
        if a != axis:
            rest *= inputs[a]
    if inputs["gpus"] % rest:
        raise UsageError(f"--gpus {inputs['gpus']:g} is not a multiple of {' x '.join(f'{a} {inputs[a]:g}' for a in LAYOUT if a != axis)}")
    inputs[axis] = inputs["gpus"] / rest
    origin[axis] = f"from --gpus (split over {axis})"


def _pick(cat: Catalog, slot, value) -> Entry:
    kind = "lora-target" if slot.selects == "lora_targets" else slot.selects
    if not isinstance(value, str):
        raise unknown(kind, str(value), cat.kind(slot.selects))
    if slot.selects == "engine":  # NAME@VERSION: the profile at that release
        return select_engine(cat, value)
    return find(kind, value, cat.kind(slot.selects))


def params_only_model(cat: Catalog, params: float) -> Entry:
    """A model known only by its parameter count (--params), for rule sets that need no architecture."""
    types = cat.types["model"]
    facts = {}
    for name, ft in types.items():
        facts[name] = 0.0 if ft.kind == NUM else (False if ft.kind == BOOL else (ft.choices[0] if ft.choices else ""))
    facts["params"] = facts["params_nominal"] = facts["active_params"] = float(params)
    for field in GROUP_FIELDS:
        facts["group." + field] = []  # no architecture: no layers
    raw = {"name": f"{params:.4g} parameters", "source": "given on the command line (--params)"}
    return Entry("model", f"params-{params:.4g}", raw, Location("<command line>"), "option", facts, {k: None for k in facts})


def resolve(cat: Catalog, *, rules: str, mode: str, model: str | None = None, gpu: str | None = None,
            params: float | None = None, **options) -> Scenario:
    rs = cat.rulesets.get(rules)
    if rs is None:
        raise unknown("rule set", rules, cat.rulesets)
    m = rs.modes.get(mode)
    if m is None:
        raise unknown("mode", mode, rs.modes)
    each = getattr(rs, "devices", "by-type") == "each"  # llama.cpp: one device per GPU, in the order given
    devices = placement(cat, gpu, ordered=each) if gpu is not None else []
    if len(devices) > 1 or (devices and devices[0][1] != 1):
        total = sum(c for _g, c in devices)
        if options.get("gpus") is not None and options["gpus"] != total:
            raise UsageError(f"--gpu {gpu} places the workload on {total:g} GPUs, but --gpus says {options['gpus']:g}")
        options = {**options, "gpus": total}
    model_entry, _ = _subjects(cat, rs, rules, model, None, params)
    gpu_entry = devices[0][0] if devices else None
    sc = _resolve(cat, rs, m, rules, mode, model_entry, gpu_entry, options)
    if each and len(devices) == 1 and sc.inputs["gpus"] > 1:  # --gpu X --gpus N: N devices of one type
        devices = [(gpu_entry, 1)] * int(sc.inputs["gpus"])
    if len(devices) > 1:
        sc.devices = devices
    _per_device_inputs(cat, sc, gpu)
    return sc


def _per_device_inputs(cat: Catalog, sc: Scenario, gpu: str | None) -> None:
    """A per-device input (--tensor-split 3,1) gives at most one value per GPU of the placement."""
    for name, spec in cat.vocabulary.inputs.items():
        if spec.decl != PER_DEVICE or not isinstance(sc.inputs.get(name), tuple):
            continue
        given, n = sc.inputs[name], len(sc.devices)
        if len(given) > n and any(given[n:]):
            where = f"the {n} GPU{'s' if n != 1 else ''} of --gpu {gpu}" if gpu else "no GPU (give --gpu)"
            raise UsageError(f"{spec.option} gives {len(given)} values for {where} (give one value per GPU, in the order of --gpu)")


def placement(cat: Catalog, text: str, ordered: bool = False) -> list:
    """[(GPU entry, count)] of `rtx-4090`, `2xrtx-3090`, `rtx-4090+rtx-3090` (or with commas):
    GPUs of one or several types. Counts of the same type add up; `ordered`: one (entry, 1) per
    GPU instead, in the order written (llama.cpp numbers its devices so: CUDA0, CUDA1, ...)."""
    out: dict = {}
    each: list = []
    for part in (p.strip() for p in text.replace(",", "+").split("+")):
        n, ident = 1, part
        head, sep, rest = part.partition("x")
        if sep and head.isdigit() and rest:
            n, ident = int(head), rest
        if not part or n < 1:
            raise UsageError(f"--gpu {text!r}: write GPU ids joined by '+', each optionally prefixed by a count (2xrtx-3090+rtx-4090)")
        entry = find("gpu", ident, cat.kind("gpu"))
        prev = out.get(entry.id)
        out[entry.id] = (entry, (prev[1] if prev else 0) + n)
        each += [(entry, 1)] * n
    if ordered and len(each) > 1:
        return each
    return list(out.values())


def _subjects(cat: Catalog, rs, rules: str, model: str | None, gpu: str | None, params: float | None) -> tuple:
    """The model entry (from the catalog, or a parameter count) and the GPU entry, if any."""
    if params is not None:
        if model is not None:
            raise UsageError("give either --model or --params, not both")
        if not (params > 0 and params < 1e16):
            raise UsageError(f"--params must be a positive parameter count, got {params:g}")
        if rs.needs_architecture:
            raise UsageError(f"rule set '{rules}' needs a model architecture; --params gives only a count (use --model, or --rules thumb)")
        model_entry = params_only_model(cat, params)
    else:
        if model is None:
            raise UsageError("no model given: use --model NAME (see `vramrules list models`) or --params N")
        model_entry = find("model", model, cat.kind("model"))
    return model_entry, find("gpu", gpu, cat.kind("gpu")) if gpu is not None else None


_PLAIN = (str, int, float, bool)  # values kept by their type too: True, 1 and 1.0 are equal keys otherwise
_COERCED_MAX = 4096  # bounded: a service asked for every seq_len there is keeps at most this many


def _resolve(cat: Catalog, rs, m, rules: str, mode: str, model_entry: Entry, gpu_entry: Entry | None, options: dict) -> Scenario:
    """Inputs and slots: vocabulary defaults, the rule set's, the mode's, then the options."""
    vocab = cat.vocabulary
    values, origin = {}, {}
    for name, spec in vocab.inputs.items():
        if spec.default is not None:
            values[name], origin[name] = spec.default, "vocabulary default"
    for name, slot in vocab.slots.items():
        if slot.default is not None:
            values[name], origin[name] = slot.default, "vocabulary default"
    for layer_name, layer in (("rule set default", rs.defaults), ("mode default", m.defaults), ("option", options)):
        for k, v in layer.items():
            if v is None:
                continue
            if k not in vocab.inputs and k not in vocab.selections:
                near = did_you_mean(k, vocab.names())
                raise UsageError(f"unknown scenario option '{k}'" + (f" ({near})" if near else "")) if layer_name == "option" else \
                    UsageError(f"{rs.location}: defaults of '{rules}/{mode}' name unknown option '{k}'")
            values[k], origin[k] = v, layer_name
    selections = {}
    for slot_name, slot in vocab.selections.items():
        if slot_name not in values and slot.default_from is not None:
            continue  # filled below from the slot it follows
        if slot_name not in values:
            raise UsageError(f"rule set '{rules}' mode '{mode}' gives no default for '{slot_name}'; pass {slot.option}")
        value = values[slot_name]
        if slot.native and value == NATIVE:
            value = values[slot_name] = model_entry.raw.get("native_precision", "bf16")
            origin[slot_name] += " (the model's native precision)"
            if model_entry.facts.get("checkpoint_bytes", 0) > 0 and "checkpoint_weights" in vocab.inputs:
                values["checkpoint_weights"], origin["checkpoint_weights"] = True, "the checkpoint's stored bytes"
        selections[slot_name] = _pick(cat, slot, value)
    for slot_name, slot in vocab.selections.items():
        if slot_name not in selections:
            src = vocab.slots[slot.default_from]
            follows = selections.get(src.name) or (model_entry if src.role == "model" else gpu_entry)
            if follows is None:
                raise UsageError(f"{slot.option} follows {src.option}, which is not given")
            selections[slot_name], origin[slot_name] = follows, f"same as {src.option}"
    inputs = {}
    coerced = vocab.coerced
    for name, spec in vocab.inputs.items():
        if name not in values:
            raise UsageError(f"rule set '{rules}' mode '{mode}' gives no default for '{name}'")
        v = values[name]
        key = (name, type(v), v) if type(v) in _PLAIN else None
        hit = coerced.get(key) if key is not None else None
        if hit is not None:
            inputs[name] = hit
            continue
        try:
            inputs[name] = spec.coerce(v, spec.option if origin.get(name) == "option" else None)
            if key is not None and len(coerced) < _COERCED_MAX:
                coerced[key] = inputs[name]
        except ValueError as exc:
            if origin.get(name) == "option":
                raise UsageError(str(exc)) from None
            raise UsageError(f"{rs.location}: the {origin.get(name)} of '{name}' in '{rules}/{mode}': {exc}") from None
    _layout(inputs, origin)
    by_slot = {vocab.by_role["model"].name: model_entry, vocab.by_role["gpu"].name: gpu_entry, **selections}
    sc = Scenario(rules, mode, model_entry, gpu_entry, selections, inputs, origin,
                  {s.prefix: by_slot[s.name] for s in vocab.slots.values()})
    sc._assumptions = {n: a.value for n, a in cat.assumptions.items()}
    sc.one_for_all = vocab.one_for_all
    return sc
