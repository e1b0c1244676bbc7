"""CLI/API inputs + rule set and mode defaults -> one resolved scenario.

Precedence, lowest first: the rule set's `defaults`, the mode's `defaults`, then what the
user gave. Every resolved value remembers which of the three it came from.
"""
from __future__ import annotations


from .catalog import BOOL, ENUM, NUM, Catalog, Entry, FieldType
from .errors import Location, UsageError, unknown

# Scenario inputs formulas read as input.NAME
INPUTS: dict[str, FieldType] = {
    "batch": FieldType(NUM, description="sequences processed together"),
    "seq_len": FieldType(NUM, description="tokens per sequence (prompt + generated for inference)"),
    "lora_rank": FieldType(NUM, description="LoRA rank r"),
    "gpus": FieldType(NUM, description="number of GPUs the workload is split over"),
    "recompute": FieldType(ENUM, choices=("none", "selective", "full"), description="activation recomputation (gradient checkpointing = full)"),
    "master_weights": FieldType(BOOL, description="keep an fp32 master copy of trainable 16-bit weights"),
    "attention": FieldType(ENUM, choices=("flash", "eager"), description="attention kernel: flash/SDPA keeps no s x s scores; eager does"),
    "dropout": FieldType(BOOL, description="dropout layers active in training (they save masks)"),
    "zero": FieldType(NUM, description="ZeRO stage 0-3 over the data-parallel ranks"),
    "dp": FieldType(NUM, description="data-parallel ranks (ZeRO partitions over them)"),
    "tp": FieldType(NUM, description="tensor-parallel ranks"),
    "pp": FieldType(NUM, description="pipeline stages"),
    "ep": FieldType(NUM, description="expert-parallel ranks (MoE)"),
    "sequence_parallel": FieldType(BOOL, description="Megatron sequence parallelism with tensor parallelism"),
    "fsdp": FieldType(ENUM, choices=("none", "full-shard", "shard-grad-op", "hybrid"), description="FSDP sharding strategy over dp"),
    "shard_group": FieldType(NUM, description="GPUs per FSDP hybrid shard group (a node)"),
    "offload": FieldType(ENUM, choices=("none", "optimizer", "params"), description="ZeRO-Offload / ZeRO-Infinity CPU offload"),
    "split": FieldType(ENUM, choices=("tp", "dp"), description="the axis --gpus N grows when no full layout is given"),
    "checkpoint_weights": FieldType(BOOL, description="weights are the checkpoint's stored bytes (native precision of an imported checkpoint)"),
}
INTEGER_INPUTS = {"batch": 1, "seq_len": 1, "lora_rank": 1, "gpus": 1, "zero": 0, "dp": 1, "tp": 1, "pp": 1, "ep": 1, "shard_group": 1}  # name -> minimum
LAYOUT = ("tp", "pp", "dp")

# Entries picked from the catalog: slot -> catalog kind. `model` and `gpu` come from the user.
SELECTIONS = {
    "precision": "precision",
    "kv_precision": "precision",
    "compute_precision": "precision",
    "adapter_precision": "precision",
    "optimizer": "optimizer",
    "lora_targets": "lora_targets",
}
NATIVE = "native"  # --precision native: the precision the checkpoint ships in (models.yaml native_precision)
# slot -> formula prefix
PREFIX_OF = {"lora_targets": "lora"}


class Scenario:
    def __init__(self, ruleset: str, mode: str, model: Entry, gpu: Entry | None, selections: dict, inputs: dict,
                 origin: dict | None = None):
        self.ruleset, self.mode, self.model, self.gpu = ruleset, mode, model, gpu
        self.selections = selections                        # slot -> Entry
        self.inputs = inputs                                # name -> float | bool | str
        self.origin = {} if origin is None else origin      # name -> 'option' | 'mode default' | 'rule set default'
        self._assumptions: dict = {}

    def __repr__(self):
        return f"Scenario({self.ruleset}/{self.mode}, model={self.model.id}, gpu={self.gpu.id if self.gpu else None})"

    def facts(self, leaves) -> dict:
        """The plain values the compiled rules read, by fact name."""
        by_prefix = {"model": self.model, "gpu": self.gpu}
        for slot, entry in self.selections.items():
            by_prefix[PREFIX_OF.get(slot, slot)] = entry
        out = {}
        for leaf in leaves:
            head, _, rest = leaf.partition(".")
            if head == "input":
                out[leaf] = self.inputs[rest]
            elif head == "assume":
                out[leaf] = self._assumptions[rest]
            else:
                out[leaf] = by_prefix[head].facts[rest]
        return out


def _layout(inputs, origin):
    """--gpus N with a partial layout: the mode's `split` axis (tp for inference, dp for training)
    takes what the given axes leave. Without --gpus, gpus = tp x pp x dp."""
    given = {a for a in LAYOUT if origin.get(a) == "option"}
    if origin.get("gpus") != "option":
        inputs["gpus"] = inputs["tp"] * inputs["pp"] * inputs["dp"]
        origin["gpus"] = "tp x pp x dp"
        return
    if len(given) == len(LAYOUT):
        return  # a full layout: the rule set's constraints check it
    axis = inputs["split"] if inputs["split"] not in given else next(a for a in ("dp", "tp", "pp") if a not in given)
    rest = 1
    for a in LAYOUT:
        if a != axis:
            rest *= inputs[a]
    if inputs["gpus"] % rest:
        raise UsageError(f"--gpus {inputs['gpus']:g} is not a multiple of {' x '.join(f'{a} {inputs[a]:g}' for a in LAYOUT if a != axis)}")
    inputs[axis] = inputs["gpus"] / rest
    origin[axis] = f"from --gpus (split over {axis})"


def params_only_model(cat: Catalog, params: float) -> Entry:
    """A model known only by its parameter count (--params), for rule sets that need no architecture."""
    types = cat.types["model"]
    facts = {}
    for name, ft in types.items():
        facts[name] = 0.0 if ft.kind == NUM else (False if ft.kind == BOOL else (ft.choices[0] if ft.choices else ""))
    facts["params"] = facts["params_nominal"] = facts["active_params"] = float(params)
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
        model_entry = cat.kind("model").get(model)
        if model_entry is None:
            raise unknown("model", model, cat.kind("model"))
    gpu_entry = None
    if gpu is not None:
        gpu_entry = cat.kind("gpu").get(gpu)
        if gpu_entry is None:
            raise unknown("gpu", gpu, cat.kind("gpu"))

    values, origin = {}, {}
    for layer_name, layer in (("rule set default", rs.defaults), ("mode default", m.defaults), ("option", options)):
        for k, v in layer.items():
            if v is None:
                continue
            if k not in INPUTS and k not in SELECTIONS:
                raise UsageError(f"unknown scenario option '{k}'") if layer_name == "option" else \
                    UsageError(f"{rs.location}: defaults of '{rules}/{mode}' name unknown option '{k}'")
            values[k], origin[k] = v, layer_name
    values.setdefault("checkpoint_weights", False)
    if values.get("precision") == NATIVE:
        values["precision"] = model_entry.raw.get("native_precision", "bf16")
        origin["precision"] += " (the model's native precision)"
        if model_entry.facts.get("checkpoint_bytes", 0) > 0:
            values["checkpoint_weights"], origin["checkpoint_weights"] = True, "the checkpoint's stored bytes"
    selections = {}
    for slot, kind in SELECTIONS.items():
        if slot not in values:
            raise UsageError(f"rule set '{rules}' mode '{mode}' gives no default for '{slot}'; pass --{slot.replace('_', '-')}")
        entry = cat.kind(kind).get(values[slot])
        if entry is None:
            raise unknown("lora-target" if kind == "lora_targets" else kind, str(values[slot]), cat.kind(kind))
        selections[slot] = entry
    inputs = {}
    for name, ft in INPUTS.items():
        if name not in values:
            raise UsageError(f"rule set '{rules}' mode '{mode}' gives no default for '{name}'")
        v = values[name]
        if ft.kind == NUM:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise UsageError(f"--{name.replace('_', '-')} must be a number, got {v!r}")
            if name in INTEGER_INPUTS and (v != int(v) or v < INTEGER_INPUTS[name]):
                raise UsageError(f"--{name.replace('_', '-')} must be a whole number >= {INTEGER_INPUTS[name]}, got {v:g}")
            if v > 1e12:
                raise UsageError(f"--{name.replace('_', '-')} {v:g} is unreasonably large")
            v = float(v)
        elif ft.kind == BOOL:
            if not isinstance(v, bool):
                raise UsageError(f"{name} must be true or false, got {v!r}")
        else:
            if v not in ft.choices:
                raise UsageError(f"{name} must be one of {', '.join(ft.choices)}, got {v!r}")
        inputs[name] = v
    if inputs["zero"] > 3:
        raise UsageError(f"--zero must be 0, 1, 2 or 3, got {inputs['zero']:g}")
    _layout(inputs, origin)
    sc = Scenario(rules, mode, model_entry, gpu_entry, selections, inputs, origin)
    sc._assumptions = {n: a.value for n, a in cat.assumptions.items()}
    return sc
