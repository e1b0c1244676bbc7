"""Inverse questions, answered by searching the compiled rules (each probe is one evaluation):

  min_gpus      smallest number of GPUs of one type, and a valid layout, that fits
  gpus_that_fit which catalog GPUs fit the workload on one card, by headroom
  max_value     largest seq_len, batch or (llamacpp) n_gpu_layers that fits (an integer: it fits, and one more does not)
  min_value     smallest (llamacpp) n_cpu_moe that fits: how many layers' MoE experts must go to host RAM
  suggestions   the cheapest listed changes (rule set `suggestions:`) that make it fit

Layout policy for min_gpus (stated in the README): inference grows tensor parallelism over the
head-compatible sizes, then pipeline stages; training grows data parallelism with ZeRO-3
(unless the user fixed a ZeRO stage or FSDP strategy), then tensor x data parallelism. With
`keep_layout`, the axes the user gave (--tp, --pp, --dp) stay as given and only the others
grow (training with a fixed --dp grows tensor parallelism, then pipeline stages).
"""
from __future__ import annotations

from ..errors import UsageError, VramrulesError
from ..reading.names import find

MAX_GPUS = 4096
MAX_PROBES = 50


LAYOUT = ("tp", "pp", "dp")


class Probe:
    def __init__(self, options: dict, fits: bool | None, per_gpu: float = 0.0, capacity: float = 0.0, error: str = "",
                 layout: dict | None = None, command=None):
        self.options, self.fits, self.per_gpu, self.capacity, self.error = options, fits, per_gpu, capacity, error
        self.layout = {} if layout is None else layout  # {"gpus", "tp", "pp", "dp"} the probe evaluated (per_gpu is per GPU of it)
        self._command = command  # the command line, or a function that makes it when first asked for

    @property
    def command(self) -> str | None:
        """An engine profile's command line for the probe (llama-server), else None."""
        if callable(self._command):
            self._command = self._command()
        return self._command

    def __repr__(self):
        return f"Probe({self.options}, fits={self.fits}{', ' + self.error if self.error else ''})"


class Answer:
    """(Plain classes, not dataclasses: `eval --gpu` imports this module when a workload does not
    fit, and dataclass decoration costs more than the search.)"""

    def __init__(self, question: str, value: int | None, options: dict | None = None, probes: list | None = None, note: str = "",
                 layout: dict | None = None, command: str | None = None):
        self.question = question
        self.command = command  # the engine's command line that realizes the answer (llama-server), when the rule set has one
        self.value = value                # GPUs, tokens or sequences; None when nothing fits
        self.options = {} if options is None else options
        self.probes = [] if probes is None else probes
        self.note = note
        # {"gpus", "tp", "pp", "dp"}: the layout the answer holds on (a maximum is per GPU of it)
        self.layout = {} if layout is None else layout
        self.step = 1  # a maximum's grain: the answer and its checks are multiples of it (ring attention's 2 x cp)

    def __repr__(self):
        return f"Answer({self.question}={self.value}, {len(self.probes)} probes)"

    @property
    def gpus(self) -> int | None:
        return self.value


class Search:
    def __init__(self, cat, model, mode, gpu, rules, params, base_options):
        from ..evaluation.scenario import placement

        self.devices = placement(cat, gpu)  # an unknown GPU is a usage error, else every probe would fail as an "invalid layout"
        if model is not None:
            model = find("model", model, cat.kind("model")).id  # the user's words, once
        self.cat, self.model, self.mode, self.gpu, self.rules, self.params = cat, model, mode, gpu, rules, params
        self.base = {k: v for k, v in base_options.items() if v is not None}
        self.probes: list[Probe] = []

    def probe(self, **options) -> Probe:
        from ..evaluation.evaluate import verdict_in

        opts = {**self.base, **options}
        if len(self.probes) >= MAX_PROBES:
            raise UsageError(f"search gave up after {MAX_PROBES} evaluations")
        try:
            # a search makes tens of evaluations at most: each interprets the checked trees of
            # what the verdict reads through the branches it takes (no code generation, no Result)
            v = verdict_in(self.cat, self.model, self.mode, gpu=self.gpu, rules=self.rules, params=self.params, **opts)
            i = v.inputs
            each = getattr(self.cat.rulesets.get(self.rules), "devices", "by-type") == "each"  # llama.cpp: a layer split, no tp x pp x dp
            layout: dict = {"gpus": int(i["gpus"]), **({} if each else {a: int(i[a]) for a in LAYOUT if a in i})}
            if i.get("cp", 1) != 1:  # context parallelism: an axis the search keeps as given
                layout["cp"] = int(i["cp"])
            if v.groups:  # GPUs of their own besides the layout's (a rollout engine's): {name: count}
                layout["groups"] = dict(v.groups)
            p = Probe(options, v.fits, v.needed_per_gpu, v.capacity_per_gpu, layout=layout, command=lambda o=opts: self._command(o))
        except UsageError as exc:          # an invalid layout for this model: not a candidate
            p = Probe(options, None, error=str(exc))
        self.probes.append(p)
        return p

    def _command(self, opts: dict) -> str | None:
        """The engine's command line for a probe's scenario (llama-server), made from its full
        evaluation when an answer asks for it: one of a search's probes, not every one."""
        from ..evaluation.engine_command import command
        from ..evaluation.evaluate import evaluate_in

        return command(evaluate_in(self.cat, self.model, self.mode, gpu=self.gpu, rules=self.rules, params=self.params, once=True, **opts))


def _model_facts(cat, model):
    return find("model", model, cat.kind("model")).facts if model else {}


def _tp_sizes(facts, limit=64) -> list[int]:
    heads, kv = int(facts.get("num_attention_heads", 0) or 0), int(facts.get("num_kv_heads", 0) or 0)
    mla = facts.get("mla.kv_lora_rank", 0) > 0
    out = []
    t = 1
    while t <= limit:
        if heads == 0 or (heads % t == 0 and (mla or kv % t == 0 or t % kv == 0)):
            out.append(t)
        t *= 2
    return out


def _first_fitting(search: Search, candidates: list[dict]) -> tuple[int | None, Probe | None]:
    """The first candidate that fits, the list ordered so that memory per GPU falls along it: a
    bisection whose probes are guided by the two nearest measured points. Memory per GPU of a
    layout family is close to a + b/n on n GPUs (what is replicated, and what is split n ways), so
    the guess from two probes is usually the answer or its neighbour: the README's fewest-GPUs
    search takes 4 probes instead of 8. A guess that does not halve the bracket is followed by a
    plain halving, so no search takes more than twice bisection's probes."""
    lo, hi, best = 0, len(candidates) - 1, None
    if not candidates:
        return None, None
    last = search.probe(**candidates[hi])
    if not last.fits:
        return None, None
    best = (hi, last)
    seen = [(candidates[hi]["gpus"], last.per_gpu, last.capacity)]
    halve = True  # the first step halves: one point guesses nothing
    while lo < hi:
        mid = (lo + hi) // 2
        i = mid if halve else _guess(candidates, seen, lo, hi)
        width = hi - lo
        p = search.probe(**candidates[i])
        if p.fits:
            hi, best = i, (i, p)
        else:
            lo = i + 1
        if p.fits is not None and p.per_gpu > 0:
            seen.append((candidates[i]["gpus"], p.per_gpu, p.capacity))
        halve = not halve and 2 * (hi - lo) > width  # a guess that did not halve the bracket: halve next
    return best


def _guess(candidates: list[dict], seen: list, lo: int, hi: int) -> int:
    """The candidate in [lo, hi) where a + b/n, through the two probes nearest the capacity,
    meets the capacity: the first whose GPU count reaches that n (the bisection's middle when
    the points give no such n)."""
    mid = (lo + hi) // 2
    cap = seen[-1][2]
    if len(seen) < 2 or cap <= 0:
        return mid
    (n0, m0, _c0), (n1, m1, _c1) = sorted(seen, key=lambda s: abs(s[1] - cap))[:2]
    if n0 == n1 or m0 == m1:
        return mid
    b = (m0 - m1) / (1 / n0 - 1 / n1)
    a = m0 - b / n0
    if b <= 0 or cap <= a:
        return mid
    want = b / (cap - a)  # the GPUs at which memory per GPU meets the capacity
    for i in range(lo, hi):
        if candidates[i]["gpus"] >= want:
            return i
    return hi - 1


def _layouts(family: list[dict], fixed: dict, cp: int = 1) -> list[dict]:
    """A family with the user's fixed axes put back (gpus = tp x cp x pp x dp: the context-parallel
    size stays as given), repeats left out."""
    out, seen = [], set()
    for c in family:
        c = {**c, **fixed}
        c["gpus"] = c["tp"] * cp * c["pp"] * c["dp"]
        key = tuple(sorted(c.items()))
        if key not in seen and c["gpus"] <= MAX_GPUS:
            seen.add(key)
            out.append(c)
    return out


def min_gpus(cat, model, mode, gpu, *, rules="default", params=None, base_options=None, keep_layout: bool = False) -> Answer | None:
    """The fewest GPUs of type `gpu` that hold the workload. With `keep_layout`, the layout axes
    in base_options (--tp, --pp, --dp) stay as given and the search grows only the others."""
    base = dict(base_options or {})
    fixed = {k: int(base[k]) for k in LAYOUT if keep_layout and base.get(k) is not None}
    for k in ("gpus", *LAYOUT):
        base.pop(k, None)
    search = Search(cat, model, mode, gpu, rules, params, base)
    if len(search.devices) > 1 or search.devices[0][1] != 1:
        raise UsageError(f"the fewest GPUs is a question about one GPU type, and --gpu {gpu} is a placement; "
                         "ask `fit --max seq-len|batch` of it, or `eval` it")
    facts = _model_facts(cat, model)
    m = cat.rulesets[rules].modes[mode]
    inference = m.role in ("inference", "serve") if m.role else m.defaults.get("split") == "tp"
    families = []
    tps = _tp_sizes(facts)
    tmax = fixed.get("tp") or max([t for t in tps if t <= 8] or [1])
    sharding = {} if (inference or base.get("zero") or base.get("fsdp") or fixed.get("dp") == 1) else {"zero": 3}
    if inference or "dp" in fixed:  # training with a fixed --dp: grow what is left, as inference does
        layers = int(facts.get("num_layers", 0) or 64)
        families.append([{"tp": t, "pp": 1, "dp": 1, **sharding} for t in tps])
        families.append([{"tp": tmax, "pp": k, "dp": 1, **sharding} for k in range(2, layers + 1)])
    else:
        sizes = [n for n in range(1, 65)] + [2 ** k for k in range(7, 13)]
        families.append([{"dp": n, "tp": 1, "pp": 1, **sharding} for n in sizes])
        if tmax > 1:
            families.append([{"tp": tmax, "dp": n, "pp": 1, **sharding} for n in sizes])
    best = None
    searched: list = []
    cp = int(base.get("cp") or 1)
    for fam in (_layouts(f, fixed, cp) for f in families):
        if fam in searched or (best is not None and fam and fam[0]["gpus"] >= best[0]["gpus"]):
            continue  # the same layouts again, or every one needs at least as many GPUs as the answer found
        searched.append(fam)
        idx, p = _first_fitting(search, fam)
        if p is not None and idx is not None and (best is None or fam[idx]["gpus"] < best[0]["gpus"]):
            best = (fam[idx], p)
    if best is None:
        kept = " ".join(f"--{k} {v}" for k, v in fixed.items())
        note = f"nothing up to {MAX_GPUS} GPUs fits with this layout policy"
        if fixed:
            note = (f"with {kept} as given nothing fits; the search grows only the layout axes "
                    "you leave out of --tp, --pp, --dp: leave one out to let it grow")
        return Answer("min-gpus", None, probes=search.probes, note=note)
    # a device group's GPUs (a rollout engine on GPUs of its own) come with every layout: the plan needs them too
    extra = sum((best[1].layout.get("groups") or {}).values())
    return Answer("min-gpus", best[0]["gpus"] + extra, best[0], search.probes, layout=best[1].layout)


def fill_gpus_needed(result, cat, model, mode, gpu, *, rules="default", params=None, options=None) -> None:
    """A scenario that does not fit: set result.fit.gpus_needed to the fewest GPUs of its type
    that hold it (0: none does). A placement over several GPU types is not grown."""
    fit = result.fit
    if fit is None or fit.fits or result.scenario.mixed:
        return
    devices = result.scenario.devices
    if devices:  # one GPU type (`2xrtx-4090` too): the question is about that type
        gpu = devices[0][0].id
    best = min_gpus(cat, model, mode, gpu, rules=rules, params=params, base_options=options)
    fit.gpus_needed = (best.gpus or 0) if best else 0


def gpus_that_fit(cat, model, mode, *, rules="default", params=None, base_options=None) -> list:
    from ..evaluation.evaluate import evaluate_in

    evaluate_in(cat, model, mode, rules=rules, params=params, **(base_options or {}))  # bad names: a usage error
    rows = []
    for gid in cat.kind("gpu"):
        try:
            r = evaluate_in(cat, model, mode, gpu=gid, rules=rules, params=params, **(base_options or {}))
        except VramrulesError:
            continue
        fit = r.fit
        assert fit is not None  # evaluated with a GPU
        rows.append((gid, fit.fits, fit.headroom_per_gpu.bytes, fit.capacity_per_gpu.bytes, fit.needed_per_gpu.bytes, int(fit.gpus)))
    fits = sorted((r for r in rows if r[1]), key=lambda r: (-r[2], r[0]))
    return fits


LIMITS = {"seq_len": 1 << 24, "batch": 1 << 20, "n_gpu_layers": 0}  # n_gpu_layers: the model's n_layer + 1 slots


def with_search_defaults(cat, rules: str, options: dict) -> dict:
    """The options a search holds: the user's, over the rule set's `search_defaults` (llamacpp:
    every layer on the GPU, -ngl all, so that the longest context is not "every context, with
    layers on the CPU")."""
    held = cat.rulesets[rules].search_defaults if rules in cat.rulesets else {}
    return {**{k: v for k, v in held.items() if options.get(k) is None}, **options}


def _layer_question(cat, model, mode, rules, name) -> int:
    """The model's layer count, for a question counted in layers; a usage error when the rule set
    does not read the input or the model has no layers."""
    from ..evaluation.evaluate import compiled_mode

    spelled = "--" + name.replace("_", "-")
    if rules not in cat.rulesets or f"input.{name}" not in compiled_mode(cat, rules, mode, True, once=True).leaves:
        raise UsageError(f"{spelled} is not read by rule set '{rules}' mode '{mode}': ask it with --rules llamacpp")
    layers = int(_model_facts(cat, model).get("num_layers", 0) or 0)
    if layers <= 0:
        raise UsageError(f"{spelled} counts a model's layers: give --model or --model-config")
    return layers


def _answer_command(search: Search, options: dict) -> str | None:
    for p in reversed(search.probes):
        if p.options == options and p.fits:
            return p.command
    return None


def max_value(cat, model, mode, gpu, name: str, *, rules="default", params=None, base_options=None) -> Answer:
    """Largest integer `name` (seq_len, batch, or a llama.cpp rule set's n_gpu_layers) that fits.
    Memory grows with it, so: two probes fit a line, its root is checked with one or two more, and
    a bracketed bisection finishes when the line is off (eager attention's s^2, sliding windows)."""
    if name not in LIMITS:
        raise UsageError(f"--max takes seq-len, batch or n-gpu-layers, not {name}")
    base = dict(base_options or {})
    base.pop(name, None)
    if name == "n_gpu_layers":
        return _max_layers(cat, model, mode, gpu, rules, params, base)
    search = Search(cat, model, mode, gpu, rules, params, base)
    step = _grain(search, name)
    if step > 1:  # every probe a multiple of the grain (ring attention's 2 x cp chunks): the search counts grains
        return _scaled(_max_units(search, name, step), name, step, cat, model)
    return _within_context(cat, model, name, _max_units(search, name, 1))


def _grain(search: Search, name: str) -> int:
    """What every value of `name` must be a multiple of: the rule set's `NAME_multiple` rule
    (seq_len_multiple: ring attention's 2 x cp chunks), 1 without one."""
    from ..evaluation.evaluate import rule_value_in

    try:
        v = rule_value_in(search.cat, search.model, search.mode, f"{name}_multiple", gpu=search.gpu, rules=search.rules,
                          params=search.params, **{**search.base, name: 1})
    except VramrulesError:
        return 1
    return max(int(v or 1), 1)


def _scaled(answer: Answer, name: str, step: int, cat, model) -> Answer:
    """An answer counted in grains, in units of `name` again, capped at the model's context."""
    value = None if answer.value is None else answer.value * step
    ctx = int(_model_facts(cat, model).get("max_context", 0) or 0) if name == "seq_len" else 0
    note = answer.note.replace(f"{name} = 1 ", f"{name} = {step} ")
    if value is not None and ctx and value > ctx:
        note = f"the model's context is {ctx:,} tokens; memory alone would allow {value:,}"
        value = ctx // step * step
    options = {name: value if value is not None else step}
    out = Answer(answer.question, value, options, answer.probes, note, layout=answer.layout, command=answer.command)
    out.step = step
    return out


class _Grains:
    """A search whose probes of `name` are counted in grains of `step` (probe(seq_len=k) asks k x step)."""

    def __init__(self, search: Search, name: str, step: int):
        self.search, self.name, self.step = search, name, step
        self.probes = search.probes

    def probe(self, **options) -> Probe:
        return self.search.probe(**{k: (v * self.step if k == self.name else v) for k, v in options.items()})


def _max_units(search, name: str, step: int) -> Answer:
    if step > 1:
        search = _Grains(search, name, step)
    lo_p = search.probe(**{name: 1})
    if lo_p.error:
        raise UsageError(lo_p.error)
    if not lo_p.fits:
        return Answer(f"max-{name}", None, {name: 1}, search.probes, f"even {name} = 1 does not fit", layout=lo_p.layout)
    cap = LIMITS[name] // step
    x2 = min(1024, cap)
    p2 = search.probe(**{name: x2})
    lo, hi = 1, None  # lo fits; hi does not
    if p2.fits:
        lo = x2
    else:
        hi = x2
    slope = (p2.per_gpu - lo_p.per_gpu) / (x2 - 1)
    if slope > 0:
        guess = int(1 + (lo_p.capacity - lo_p.per_gpu) / slope)
        for g in (guess, guess + 1):
            g = max(1, min(g, cap))
            if (hi is not None and g >= hi) or g <= lo:
                continue
            p = search.probe(**{name: g})
            if p.fits:
                lo = g
            else:
                hi = g
    if hi is None:
        x = max(lo * 2, 2)
        while x <= cap:
            p = search.probe(**{name: x})
            if p.fits:
                lo, x = x, x * 2
            else:
                hi = x
                break
        if hi is None:
            p = search.probe(**{name: cap})
            if p.fits:
                return Answer(f"max-{name}", cap, {name: cap}, search.probes, f"fits up to the search limit {cap * step}", layout=lo_p.layout)
            hi = cap
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if search.probe(**{name: mid}).fits:
            lo = mid
        else:
            hi = mid
    return Answer(f"max-{name}", lo, {name: lo}, search.probes, layout=lo_p.layout, command=_answer_command(search, {name: lo * step}))


def _bisect(search: Search, name: str, lo: int, hi: int, fits_low: bool) -> int:
    """The boundary between lo and hi (hi - lo > 1): with `fits_low`, the largest value that fits
    (lo fits, hi does not), else the smallest (hi fits, lo does not)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        ok = search.probe(**{name: mid}).fits
        if ok == fits_low:
            lo = mid
        else:
            hi = mid
    return lo if fits_low else hi


def _max_layers(cat, model, mode, gpu, rules, params, base) -> Answer:
    """The most layer slots (-ngl, the output layer counted) on the GPU: 0 .. n_layer + 1; the
    GPU's memory grows with each, so a bisection between the ends (at most ~8 probes)."""
    top = _layer_question(cat, model, mode, rules, "n_gpu_layers") + 1
    search = Search(cat, model, mode, gpu, rules, params, base)
    name = "n_gpu_layers"
    p_top = search.probe(**{name: top})
    if p_top.error:
        raise UsageError(p_top.error)
    if p_top.fits:
        return Answer(f"max-{name}", top, {name: top}, search.probes, f"every layer slot fits ({top - 1} layers + the output layer)",
                      layout=p_top.layout, command=p_top.command)
    p0 = search.probe(**{name: 0})
    if not p0.fits:
        return Answer(f"max-{name}", None, {name: 0}, search.probes, "even -ngl 0 (every layer on the CPU) does not fit", layout=p0.layout)
    best = _bisect(search, name, 0, top, True)
    return Answer(f"max-{name}", best, {name: best}, search.probes, layout=p0.layout, command=_answer_command(search, {name: best}))


def min_value(cat, model, mode, gpu, name: str, *, rules="default", params=None, base_options=None) -> Answer:
    """Smallest n_cpu_moe (layers whose MoE experts stay in host RAM) that fits: memory falls as
    it grows, 0 .. n_layer, so a bisection between the ends."""
    if name != "n_cpu_moe":
        raise UsageError(f"--min takes n-cpu-moe, not {name}")
    layers = _layer_question(cat, model, mode, rules, name)
    if not _model_facts(cat, model).get("moe.num_experts", 0):
        raise UsageError(f"--min n-cpu-moe asks how many layers' experts go to RAM: {model} is not a mixture-of-experts model")
    base = dict(base_options or {})
    base.pop(name, None)
    search = Search(cat, model, mode, gpu, rules, params, base)
    p0 = search.probe(**{name: 0})
    if p0.error:
        raise UsageError(p0.error)
    if p0.fits:
        return Answer(f"min-{name}", 0, {name: 0}, search.probes, "it fits with every expert on the GPU", layout=p0.layout, command=p0.command)
    p_all = search.probe(**{name: layers})
    if not p_all.fits:
        return Answer(f"min-{name}", None, {name: layers}, search.probes,
                      f"even with every layer's experts in host RAM (--n-cpu-moe {layers}) it does not fit", layout=p_all.layout)
    best = _bisect(search, name, 0, layers, False)
    return Answer(f"min-{name}", best, {name: best}, search.probes, layout=p0.layout, command=_answer_command(search, {name: best}))


def _within_context(cat, model, name: str, answer: Answer) -> Answer:
    """A context longer than the model was made for is no answer: the largest seq_len is capped
    at the model's max_context, and the answer says what memory alone would allow."""
    ctx = _model_facts(cat, model).get("max_context", 0) if name == "seq_len" else 0
    if ctx and answer.value is not None and answer.value > ctx:
        return Answer(answer.question, int(ctx), {name: int(ctx)}, answer.probes,
                      f"the model's context is {int(ctx):,} tokens; memory alone would allow {answer.value:,}", layout=answer.layout)
    return answer


def suggestions(cat, model, mode, gpu, *, rules="default", params=None, base_options=None) -> list:
    """[(label, cost, options or mode change, headroom)] for each listed change that fits, cheapest first."""
    rs = cat.rulesets[rules]
    base = {k: v for k, v in (base_options or {}).items() if v is not None}
    out = []
    search = Search(cat, model, mode, gpu, rules, params, base)
    for s in rs.suggestions:
        if s.get("modes") and mode not in s["modes"]:
            continue
        target_mode = s.get("mode", mode)
        changes = dict(s.get("set") or {})
        if all(base.get(k) == v for k, v in changes.items()) and target_mode == mode:
            continue
        search.mode = target_mode
        p = search.probe(**changes)
        if p.fits:
            out.append((s["label"], s.get("cost", 0), target_mode, changes, p.capacity - p.per_gpu))
    out.sort(key=lambda r: (r[1], -r[4]))
    return out


PARAMS_LIMIT = 10 ** 15  # parameters: a search beyond is a typo, not a plan


def max_params(cat, mode, gpu, *, rules="default", model=None, base_options=None) -> Answer:
    """Largest parameter count that trains (or runs) on `gpu` with the given layout: a model known
    only by its count (`--params N`), as the ZeRO paper's Table 2 asks it. Every component of such
    a model is a line in its count (weights, gradients, optimizer states, the allocator's slack),
    so two probes fit the line; its root and the count after it are checked, and a bracket walked
    down from the root finishes when the bytes' rounding puts the root one off."""
    if model is not None:
        raise UsageError("--max params asks for a parameter count: give no --model or --model-config "
                         "(the answer is the --params N of a model known by its count)")
    base = dict(base_options or {})
    search = Search(cat, None, mode, gpu, rules, 1.0, base)

    def at(n: int) -> Probe:
        search.params = float(n)
        p = search.probe()
        p.options = {"params": n}
        if p.error:
            raise UsageError(p.error)
        return p

    n1, n2 = 10 ** 6, 10 ** 9
    p1 = at(n1)
    if not p1.fits:
        return Answer("max-params", None, {"params": n1}, search.probes, f"even {n1:,} parameters do not fit", layout=p1.layout)
    p2 = at(n2)
    slope = (p2.per_gpu - p1.per_gpu) / (n2 - n1)
    if slope <= 0:
        return Answer("max-params", PARAMS_LIMIT, {"params": PARAMS_LIMIT}, search.probes,
                      "memory does not grow with the parameter count here", layout=p1.layout)
    guess = min(int(n1 + (p1.capacity - p1.per_gpu) / slope), PARAMS_LIMIT)
    lo, hi = (n2, None) if p2.fits else (n1, n2)   # lo fits; hi does not
    step = 1
    g = guess
    while hi is None or hi - lo > 1:
        if hi is not None and not lo < g < hi:
            g = (lo + hi) // 2
        p = at(g)
        if p.fits:
            lo = g
            if hi is None:
                g = min(g + step, PARAMS_LIMIT)
                if g == lo:
                    break
        else:
            hi = g
            g = max(g - step, lo + 1)
        step *= 2
    return Answer("max-params", lo, {"params": lo}, search.probes, layout=p1.layout)
