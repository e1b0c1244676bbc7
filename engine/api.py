"""The Python API. The CLI is a thin layer over these functions.

    import vramrules
    r = vramrules.evaluate(model="llama3-70b", mode="train-lora", gpu="h100-sxm-80gb")
    r.total.gib, r.fit.fits, [c.name for c in r.components]
"""
from __future__ import annotations

import os

from .errors import DataError, UsageError, coded
from .reading.datadir import builtin_data_dir

_CATALOGS: dict = {}
RUNNERS = ("generated", "interpreted")  # the two evaluators of a mode: generated code, or the interpreter of the checked trees
MEMO_CATALOGS = 8  # catalogs kept in memory per process (each --model-config import is one)


# Plain classes, not dataclasses: a warm `eval` imports this module, and dataclass decoration
# cost more than evaluating the rules (issue 7).
class Memory:
    """A memory quantity; `bytes` is exact, the rest are views."""

    __slots__ = ("bytes",)
    bytes: float

    def __init__(self, bytes: float):
        object.__setattr__(self, "bytes", bytes)

    def __setattr__(self, name, value):
        raise AttributeError("Memory is immutable")

    def __eq__(self, other):
        return self.bytes == other.bytes if isinstance(other, Memory) else NotImplemented

    def __hash__(self):
        return hash(self.bytes)

    def __repr__(self):
        return f"Memory(bytes={self.bytes!r})"

    @property
    def gib(self) -> float:
        return self.bytes / 2**30

    @property
    def gb(self) -> float:
        return self.bytes / 1e9

    def to(self, unit: str) -> float:
        from .reading.units import DISPLAY_UNITS

        return self.bytes / DISPLAY_UNITS[unit]


class Component:
    def __init__(self, name: str, label: str, memory: Memory, share: float):
        self.name, self.label, self.memory, self.share = name, label, memory, share

    def __repr__(self):
        return f"Component({self.name!r}, {self.memory.gib:.3f} GiB, share={self.share:.3f})"


class Fit:
    def __init__(self, gpu: str, gpu_name: str, gpus: int, capacity_per_gpu: Memory, capacity_marketed: Memory,
                 needed_per_gpu: Memory, headroom_per_gpu: Memory, fits: bool, gpus_needed: int):
        self.gpu, self.gpu_name, self.gpus = gpu, gpu_name, gpus
        self.capacity_per_gpu = capacity_per_gpu      # usable memory of one GPU
        self.capacity_marketed = capacity_marketed
        self.needed_per_gpu, self.headroom_per_gpu = needed_per_gpu, headroom_per_gpu
        self.fits, self.gpus_needed = fits, gpus_needed

    def __repr__(self):
        return f"Fit({self.gpus}x {self.gpu}: fits={self.fits}, needed/GPU={self.needed_per_gpu.gib:.3f} GiB, gpus_needed={self.gpus_needed})"


class Result:
    def __init__(self, scenario, components: list, total: Memory, values: dict, fit: Fit | None,
                 warnings: list | None = None, host: list | None = None, compiled=None, catalog=None):
        self.scenario, self.components, self.total, self.fit = scenario, components, total, fit
        self.values = values                                # every rule's value, by name (bytes for memory)
        self.warnings = [] if warnings is None else warnings  # messages of the rule set's warnings that hold
        self.host = [] if host is None else host            # Components in host (CPU) memory per GPU rank
        self.compiled, self.catalog = compiled, catalog

    def __repr__(self):
        return f"Result({self.scenario!r}, total={self.total.gib:.3f} GiB, fit={self.fit!r})"

    def derivation(self):
        """Every rule's step: formula, values substituted, and each fact's file:line and source
        (what `--explain` prints). A list of explain.Step."""
        from .evaluation.explain import derivation

        return derivation(self)

    def to_json(self, unit: str = "GiB", explain: bool = False) -> dict:
        """The `--format json` document."""
        from .evaluation.document import document

        return document(self, unit, explain)

    def component(self, name: str) -> Component:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)


def data_dirs(extra=()) -> list:
    """[(folder, layer label)]: the built-in data, then VRAMRULES_DATA (os.pathsep-separated),
    then each --data DIR. Folders are strings."""
    dirs = [(builtin_data_dir(), "built-in")]
    env = os.environ.get("VRAMRULES_DATA", "")
    for d in [p for p in env.split(os.pathsep) if p]:
        dirs.append((str(d), f"VRAMRULES_DATA:{d}"))
    for d in extra:
        dirs.append((str(d), f"--data {d}"))
    return dirs


def load_catalog(extra_data=(), builtin: bool = True, sets=(), docs=(), full: bool = False):
    """Load, validate and check every data file and rule set; raise DataError with all problems.
    `sets`: ['assume.NAME=VALUE', ...] one-run overrides (--set), merged last.
    `docs`: [(file key, loader.Document)] in-memory layers (an imported config.json, --gpu auto).
    `full`: also keep the merged file views (cat.files) that show/diff/validate read; such a load
    bypasses the on-disk catalog cache (catalog_cache.py), which the hot path uses."""
    dirs = data_dirs(extra_data) if builtin else [(str(d), f"--data {d}") for d in extra_data]
    for d, label in dirs[1 if builtin else 0:]:
        if not os.path.isdir(d):  # the user's words name a folder that is not there: a usage error (2), not broken data
            what = "VRAMRULES_DATA" if label.startswith("VRAMRULES_DATA") else "--data"
            raise UsageError(f"{what} {d}: {'not a folder' if os.path.exists(d) else 'no such folder'} "
                             "(give a folder holding any of models.yaml, gpus.yaml, ...)")
    from .evaluation import catalog_cache

    sig = catalog_cache.signature(dirs, sets)  # every input file's stat: an edited file is never served from memory
    key = (sig[0], tuple((k, d.path, repr(d.data)) for k, d in docs), full)
    if key in _CATALOGS:
        cat = _CATALOGS.pop(key)
        _CATALOGS[key] = cat  # most recently used last
        return cat
    disk_key = catalog_cache.key(dirs, sets, docs, sig)
    if not full:
        try:
            cat = catalog_cache.read(disk_key)
        except Exception:  # any unreadable cache entry is rebuilt below, never trusted
            cat = None
        if cat is not None:
            _remember(key, cat)
            return cat
    from .language.rules import build_rulesets
    from .reading import overrides
    from .reading.catalog import Merged, build, load_layers, merge_into

    parsed = overrides.parse(sets)
    merged, problems = load_layers(dirs)
    for file_key, doc in docs:
        merge_into(merged.setdefault(file_key, Merged(file_key)), doc)
    previous = {}
    if parsed and not problems and "assumptions.yaml" in merged:
        known = (merged["assumptions.yaml"].data or {}).get("assumptions") or {}
        previous = {n: (a or {}).get("value") for n, a in known.items() if isinstance(a, dict)}
        for doc in overrides.documents(parsed, known):
            merge_into(merged["assumptions.yaml"], doc)
    cat = None
    if not problems:
        cat, problems = build(merged)
        if not problems:
            problems = coded(overrides.check_dimensions(cat, previous, parsed), "override_error")
            for name, value, _item in parsed:
                cat.overrides[name] = (previous.get(name), value)
        if not problems:
            problems = build_rulesets(cat, merged)
    if problems:
        raise DataError(problems)
    assert cat is not None
    _remember(key, cat)
    catalog_cache.write(disk_key, cat)
    return cat


def _remember(key, cat) -> None:
    """Keep at most MEMO_CATALOGS catalogs (and the functions compiled for them) in memory."""
    _CATALOGS[key] = cat
    while len(_CATALOGS) > MEMO_CATALOGS:
        del _CATALOGS[next(iter(_CATALOGS))]


def compiled_mode(cat, ruleset: str, mode: str, with_fit: bool, lean: bool = False, once: bool = False):
    """The mode as a function, made once per catalog: generated code, or with `once` (the caller
    evaluates one scenario) the interpreter of the checked trees, which costs less to make. The
    two are kept apart, so a test that asks for each gets each."""
    from .backends.compiler import compile_mode

    runner = os.environ.get("VRAMRULES_RUNNER")  # 'generated' | 'interpreted': one evaluator for every call (the test suites)
    if runner in RUNNERS:
        once = runner == "interpreted"
    key = (ruleset, mode, with_fit, lean, once)
    c = cat.functions.get(key)
    if c is None:
        rs = cat.rulesets[ruleset]
        c = cat.functions[key] = compile_mode(cat, rs, rs.modes[mode], with_fit, lean, once=once)
    return c


def compiled_sweep(cat, ruleset: str, mode: str):
    """The mode (lean, with the fit rules) as a loop over GPUs, made once per catalog."""
    from .backends.compiler import compile_sweep

    key = (ruleset, mode, "sweep")
    s = cat.functions.get(key)
    if s is None:
        s = cat.functions[key] = compile_sweep(compiled_mode(cat, ruleset, mode, True, lean=True))
    return s


def scenario_catalog(data, sets, model, model_config, gpu, gpus, options, catalog=None):
    """The catalog a scenario is evaluated in, and its model and GPU ids: an imported config
    (--model-config) and this machine's GPUs (--gpu auto) join it as in-memory documents.
    Returns (catalog, model id, gpu id, gpus)."""
    docs = []
    if model_config is not None:
        from .importers.model_entry import document, from_path

        if model is not None:
            raise UsageError("give either --model or --model-config, not both")
        try:
            model, entry, shown = from_path(model_config, None, data, sets)
        except DataError as exc:
            raise DataError(coded(exc.problems, "import_error")) from None
        docs.append(("models.yaml", document(model, entry, shown)))
    if gpu == "auto":
        from .importers import local_gpu

        found = local_gpu.detect()
        docs.append(("gpus.yaml", local_gpu.document(found)))
        gpu = local_gpu.LOCAL_ID
        if gpus is None and not any(options.get(k) for k in ("tp", "pp", "dp")):
            gpus = len(found)
    if docs:
        catalog = load_catalog(data, sets=sets, docs=tuple(docs))
    return catalog or load_catalog(data, sets=sets), model, gpu, gpus


def evaluate(model: str | None = None, mode: str = "inference", *, gpu: str | None = None, gpus: int | None = None,
             rules: str = "default", data=(), sets=(), params: float | None = None, catalog=None, needed: bool = True,
             model_config=None, once: bool = False, **options) -> Result:
    """Estimate the memory of one scenario. Options: any input or slot of the vocabulary
    (data/vocabulary.yaml and the overlays': precision, kv_precision, batch, seq_len, lora_rank,
    recompute, tp, ...). Unknown names raise UsageError with close matches."""
    from .backends.compiler import run
    from .evaluation.scenario import resolve

    cat, model, gpu, gpus = scenario_catalog(data, sets, model, model_config, gpu, gpus, options, catalog)
    sc = resolve(cat, rules=rules, mode=mode, model=model, gpu=gpu, params=params, gpus=gpus, **options)
    if sc.gpu is None and cat.rulesets[rules].modes[mode].requires_gpu:
        raise UsageError(f"mode '{mode}' needs --gpu NAME (its rules read the GPU's capacity)")
    comp = compiled_mode(cat, rules, mode, sc.gpu is not None, once=once)
    if sc.mixed:
        reads = sorted(n for n in comp.leaves if n.startswith("gpu."))
        if reads:
            raise UsageError(f"--gpu {sc.placement} places the workload on GPUs of several types, but rule set '{rules}' mode '{mode}' "
                             f"reads {reads[0]}, a fact of one GPU (rules for placements read device.FIELD with device_min/device_sum/device_max)")
    values = run(comp, sc.facts(comp.leaves))
    broken = [_message(comp.rules[c], sc, comp, values) for c in comp.constraints if not values[c]]
    if broken:
        raise UsageError("; ".join(broken))
    result = _result(cat, sc, comp, values)
    result.warnings.extend(_not_applied(cat, sc, comp))
    if result.fit is not None and not result.fit.fits and needed and not sc.mixed:
        from .questions.fit import min_gpus

        best = min_gpus(cat, model, mode, gpu, rules=rules, params=params, base_options=options)
        result.fit.gpus_needed = (best.gpus or 0) if best else 0
    return result


def _not_applied(cat, sc, comp) -> list:
    """An option the user gave that no rule of this mode reads changes nothing: say so, never
    let it pass as if it had been applied (--lora-rank 64 in inference)."""
    vocab, out = cat.vocabulary, []
    leaves = set(comp.leaves)
    heads = {leaf.partition(".")[0] for leaf in leaves}
    for name, origin in sc.origin.items():
        if origin != "option" or name in ("gpus", "tp", "pp", "dp"):  # the layout also decides how --gpus is split
            continue
        spec = vocab.inputs.get(name) or vocab.slots.get(name)
        if spec is None or getattr(spec, "role", None):
            continue
        read = f"input.{name}" in leaves if name in vocab.inputs else spec.prefix in heads
        if not read:
            out.append(f"{spec.option} does not apply to mode '{sc.mode}' of rule set '{sc.ruleset}': none of its rules reads it")
    return out


def _result(cat, sc, comp, values) -> Result:
    total = values["total"]
    comps = []
    for name in comp.components:
        rule = comp.rules[name]
        comps.append(Component(name, rule.label, Memory(values[name]), values[name] / total if total else 0.0))
    fit = None
    if sc.gpu is not None:
        fits = bool(values["fits"])
        marketed = min(g.facts["memory"] for g, _c in sc.devices)  # the smallest GPU bounds an even split
        name = " + ".join(g.name for g, _c in sc.devices)
        fit = Fit(sc.placement, name, int(sc.inputs["gpus"]), Memory(values["usable_memory_per_gpu"]),
                  Memory(marketed), Memory(values["per_gpu_total"]), Memory(values["headroom"]),
                  fits, int(sc.inputs["gpus"]) if fits else 0)
    warnings = [_message(comp.rules[w], sc, comp, values) for w in comp.warnings if values[w]]
    host = [Component(h, comp.rules[h].label, Memory(values[h]), 0.0) for h in comp.host]
    return Result(sc, comps, Memory(total), values, fit, warnings=warnings, host=host, compiled=comp, catalog=cat)


def _message(rule, sc, comp, values) -> str:
    """The warning's message with {name} replaced by that name's value."""
    from .render.quantity import value

    text = rule.label
    names = comp.deps.get(rule.name, [])
    facts = sc.facts([n for n in names if "." in n and n not in comp.rules])
    for n in names:
        v = values[n] if n in values else facts.get(n)
        if v is not None:
            text = text.replace("{" + n + "}", value(v, comp.dims.get(n, "")))
    return text
