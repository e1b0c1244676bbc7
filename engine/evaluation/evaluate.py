"""One scenario evaluated in a catalog: the mode compiled once per catalog (generated code, or
the interpreter of the checked trees for a single run), the facts of the scenario, the values of
every rule, and the Result with its components, fit verdict and warnings."""
from __future__ import annotations

import os

from ..errors import UsageError
from .engines import of as engine_of
from .result import Component, DeviceGroup, Fit, Memory, Result

RUNNERS = ("generated", "interpreted")  # the two evaluators of a mode: generated code, or the interpreter of the checked trees


def compiled_mode(cat, ruleset: str, mode: str, with_fit: bool, lean: bool = False, once: bool = False):
    """The mode as a function, made once per catalog: generated code, or with `once` (the caller
    evaluates one scenario) the interpreter of the checked trees, which costs less to make. The
    two are kept apart, so a test that asks for each gets each."""
    from ..backends.compiler import compile_mode

    runner = os.environ.get("VRAMRULES_RUNNER")  # 'generated' | 'interpreted': one evaluator for every call (the test suites)
    if runner in RUNNERS:
        once = runner == "interpreted"
    key = (ruleset, mode, with_fit, lean, once)
    c = cat.functions.get(key)
    if c is None:
        rs = cat.rulesets[ruleset]
        made = cat.functions.setdefault(("interpreters", ruleset, mode), {}) if once else None  # shared by the mode's views
        c = cat.functions[key] = compile_mode(cat, rs, rs.modes[mode], with_fit, lean, once=once, interpreters=made)
    return c


def compiled_sweep(cat, ruleset: str, mode: str):
    """The mode (lean, with the fit rules) as a loop over GPUs, made once per catalog."""
    from ..backends.loops import compile_sweep

    key = (ruleset, mode, "sweep")
    s = cat.functions.get(key)
    if s is None:
        s = cat.functions[key] = compile_sweep(compiled_mode(cat, ruleset, mode, True, lean=True))
    return s


def evaluate_in(cat, model: str | None = None, mode: str = "inference", *, gpu: str | None = None, gpus: int | None = None,
                rules: str = "default", params: float | None = None, once: bool = False, **options) -> Result:
    """Estimate the memory of one scenario in catalog `cat`. Options: any input or slot of the
    vocabulary (data/vocabulary.yaml and the overlays': precision, kv_precision, batch, seq_len,
    lora_rank, recompute, tp, ...). Unknown names raise UsageError with close matches. The fit's
    `gpus_needed` is the GPUs given when it fits, else 0: the fewest-GPUs search is a question
    (questions.fit.fill_gpus_needed), which vramrules.evaluate asks."""
    from ..backends.compiler import run
    from .scenario import resolve

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
    return result


class Verdict:
    """What a search probe reads of a scenario on its GPUs: whether it fits, the memory needed
    and usable per GPU, the scenario's inputs (the layout it was evaluated at) and the GPUs of
    the mode's device groups it has ({name: count}: a rollout engine on GPUs of its own)."""

    __slots__ = ("capacity_per_gpu", "fits", "groups", "inputs", "needed_per_gpu")

    def __init__(self, fits: bool, needed_per_gpu: float, capacity_per_gpu: float, inputs: dict, groups: dict):
        self.fits, self.needed_per_gpu, self.capacity_per_gpu, self.inputs = fits, needed_per_gpu, capacity_per_gpu, inputs
        self.groups = groups


def verdict_in(cat, model: str | None, mode: str, *, gpu: str, rules: str = "default", params: float | None = None, **options) -> Verdict:
    """The fit verdict of one scenario, as evaluate_in gives it (same rules, same values, the same
    UsageError for a refused scenario), evaluating only the rules the verdict reads through the
    branches it takes: a search makes tens of these."""
    from ..backends.compiler import run
    from .scenario import resolve

    sc = resolve(cat, rules=rules, mode=mode, model=model, gpu=gpu, params=params, **options)
    comp = compiled_mode(cat, rules, mode, True, lean=True, once=True)
    if sc.mixed:  # several GPU types: evaluate_in's checks of what the rules read
        fit = evaluate_in(cat, model, mode, gpu=gpu, rules=rules, params=params, once=True, **options).fit
        assert fit is not None
        return Verdict(fit.fits, fit.needed_per_gpu.bytes, fit.capacity_per_gpu.bytes, sc.inputs, {g.name: int(g.gpus) for g in fit.groups})
    values = run(comp, sc.facts(comp.leaves))
    broken = [_message(comp.rules[c], sc, comp, values) for c in comp.constraints if not values[c]]
    if broken:
        raise UsageError("; ".join(broken))
    groups = {g["name"]: int(values.get(g["gpus"]) or 0) for g in cat.rulesets[rules].modes[mode].device_groups}
    return Verdict(bool(values["fits"]), values["per_gpu_total"], values["usable_memory_per_gpu"], sc.inputs,
                   {name: n for name, n in groups.items() if n > 0})


def rule_value_in(cat, model: str | None, mode: str, name: str, *, gpu: str | None = None, rules: str = "default",
                  params: float | None = None, **options):
    """The value of rule `name` of a mode for a scenario, its constraints unchecked (a search asks
    what grain its probes must keep before it makes one), or None where the mode has no such rule."""
    from ..backends.compiler import run
    from .scenario import resolve

    comp = compiled_mode(cat, rules, mode, gpu is not None, once=True)
    if name not in comp.rules:
        return None
    sc = resolve(cat, rules=rules, mode=mode, model=model, gpu=gpu, params=params, **options)
    return run(comp, sc.facts(comp.leaves))[name]


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
        if getattr(spec, "selects", None) == "engine" and engine_of(sc) is not None:
            continue  # the engine chose the rule set and mode the answer follows
        read = f"input.{name}" in leaves if name in vocab.inputs else spec.prefix in heads
        if not read:
            out.append(f"{spec.option} does not apply to mode '{sc.mode}' of rule set '{sc.ruleset}': none of its rules reads it")
    return out


def _result(cat, sc, comp, values, later: bool = False) -> Result:
    """The Result of the values; `later`: its components, warnings and host parts made when
    first read (api._fast, called per keystroke)."""
    total = values["total"]
    mode = cat.rulesets[sc.ruleset].modes[sc.mode]
    fit = make_fit(sc, mode, comp, values, values) if sc.gpu is not None else None

    def parts():
        comps = []
        optional = mode.optional  # shown only when not zero (a model's recurrent state)
        for name in comp.components:
            if name in optional and values[name] == 0:
                continue
            rule = comp.rules[name]
            comps.append(Component(name, rule.label, Memory(values[name]), values[name] / total if total else 0.0, mode.roles.get(name, "")))
        warnings = [_message(comp.rules[w], sc, comp, values) for w in comp.warnings if values[w]]
        host = [Component(h, comp.rules[h].label, Memory(values[h]), 0.0) for h in comp.host]
        return comps, warnings, host

    if later:
        return Result(sc, None, Memory(total), values, fit, compiled=comp, catalog=cat, parts=parts)
    comps, warnings, host = parts()
    return Result(sc, comps, Memory(total), values, fit, warnings=warnings, host=host, compiled=comp, catalog=cat)


def make_fit(sc, mode, comp, verdict, values) -> Fit:
    """The verdict of a scenario on its GPUs: `verdict` gives the fit rules' values (fits,
    usable_memory_per_gpu, per_gpu_total, headroom); `values`, every rule's, is read only when the
    mode has device groups (a mapping, or a function that makes it)."""
    fits = bool(verdict["fits"])
    placed = sc.__dict__.get("_placed")  # the placement's words and smallest GPU: the same for a prepared scenario's every call
    if placed is None:
        placed = sc._placed = (Memory(min(g.facts["memory"] for g, _c in sc.devices)),  # the smallest GPU bounds an even split
                               " + ".join(g.name for g, _c in sc.devices), int(sc.inputs["gpus"]))
    marketed, name, gpus = placed
    fit = Fit(sc.placement, name, gpus, Memory(verdict["usable_memory_per_gpu"]), marketed, Memory(verdict["per_gpu_total"]),
              Memory(verdict["headroom"]), fits, gpus if fits else 0)
    if mode.device_groups:
        fit.groups = _device_groups(mode, comp, values() if callable(values) else values)
    if fits:
        fit.gpus_needed = fit.gpus_total
    return fit


def _device_groups(mode, comp, values) -> list:
    """The mode's device groups that have GPUs in this scenario (a rollout engine on GPUs of its
    own): each with its components per GPU and its own verdict."""
    out = []
    for g in mode.device_groups:
        n = int(values.get(g["gpus"], 0) or 0)
        if n <= 0:
            continue
        parts = [Component(c, comp.rules[c].label, Memory(values[c]), 0.0) for c in g["components"]]
        need = sum(p.memory.bytes for p in parts)
        for p in parts:
            p.share = p.memory.bytes / need if need else 0.0
        out.append(DeviceGroup(g["name"], g["label"], n, parts, Memory(need), bool(values[g["fits"]])))
    return out


def _message(rule, sc, comp, values) -> str:
    """The warning's message with {name} replaced by that name's value."""
    from ..reading.quantity import value

    text = rule.label
    names = comp.deps.get(rule.name, [])
    facts = sc.facts([n for n in names if "." in n and n not in comp.rules])
    for n in names:
        v = values[n] if n in values else facts.get(n)
        if v is not None:
            text = text.replace("{" + n + "}", value(v, comp.dims.get(n, "")))
    return text
