"""The Python API: the surface over evaluation, the questions and the importers. The CLI is a
thin layer over the same functions.

    import vramrules
    r = vramrules.evaluate(model="llama3-70b", mode="train-lora", gpu="h100-sxm-80gb")
    r.total.gib, r.fit.fits, [c.name for c in r.components]
"""
from __future__ import annotations

import math
import os
import weakref
from collections import OrderedDict
from operator import itemgetter

from .evaluation.engines import frame
from .evaluation.evaluate import RUNNERS, _not_applied, _result, compiled_mode, compiled_sweep, evaluate_in, make_fit
from .evaluation.load import MEMO_CATALOGS, data_dirs, load_catalog
from .evaluation.result import Component, Fit, Memory, Result
from .importers.joined import scenario_catalog
from .reading.vocabulary import _LIMIT

__all__ = ["RUNNERS", "MEMO_CATALOGS", "Component", "Fit", "Memory", "Result", "compiled_mode", "compiled_sweep",
           "data_dirs", "evaluate", "load_catalog", "scenario_catalog"]


def evaluate(model: str | None = None, mode: str | None = None, *, gpu: str | None = None, gpus: int | None = None,
             rules: str | None = None, data=(), sets=(), params: float | None = None, catalog=None, needed: bool = True,
             model_config=None, once: bool = False, **options) -> Result:
    """Estimate the memory of one scenario. Options: any input or slot of the vocabulary
    (data/vocabulary.yaml and the overlays': precision, kv_precision, batch, seq_len, lora_rank,
    recompute, tp, ...). Unknown names raise UsageError with close matches. `data`, `sets`,
    `model_config` and `gpu="auto"` choose the catalog (or give `catalog`); with `needed`, a
    scenario that does not fit also gets the fewest GPUs that would hold it (fit.gpus_needed).

    Given a `catalog`, a scenario asked again with other numbers (seq_len, batch, lora_rank, ...:
    the numeric inputs but the layout) reuses what the last one resolved and evaluates only the
    rules those numbers reach (see _fast): a page or a service calling it per keystroke.

    `engine="vllm@0.10.1"` (data/engines.yaml) selects the engine's rule set and, with no
    `mode`, its mode; without it, `mode` is inference and `rules` default."""
    if catalog is not None and model_config is None and not once and gpu != "auto":
        rules, mode = frame(catalog, options.get("engine"), rules, mode)
        r = _fast(catalog, model, mode, gpu, gpus, rules, params, options)
        if r is not None:
            if needed:
                from .questions.fit import fill_gpus_needed

                fill_gpus_needed(r, catalog, model, mode, gpu, rules=rules, params=params, options=options)
            return r
    cat, model, gpu, gpus = scenario_catalog(data, sets, model, model_config, gpu, gpus, options, catalog)
    rules, mode = frame(cat, options.get("engine"), rules, mode)
    result = evaluate_in(cat, model, mode, gpu=gpu, gpus=gpus, rules=rules, params=params, once=once, **options)
    if needed:
        from .questions.fit import fill_gpus_needed

        fill_gpus_needed(result, cat, model, mode, gpu, rules=rules, params=params, options=options)
    return result


PREPARED_MAX = 64  # scenarios _fast keeps, the least recently asked dropped first: memory is bounded however many calls
_PREPARED: OrderedDict = OrderedDict()
_LAYOUT = ("tp", "pp", "dp", "gpus")
_INF = math.inf


class _Prepared:
    """One scenario resolved and evaluated once, ready for other values of its numeric inputs:
    the rules they reach (`tail`, in the mode's order) as one generated function over the
    facts and the other rules' values."""

    __slots__ = ("catalog", "scenario", "compiled", "facts", "values", "names", "specs", "tail", "fn", "not_applied",
                 "scalars", "components", "lists", "constraints", "quick", "mode", "at", "total_at")

    def __init__(self, cat, result, names: tuple, not_applied: list):
        comp = result.compiled
        self.catalog, self.scenario, self.compiled, self.names = weakref.ref(cat), result.scenario, comp, names
        self.specs = [(n, f"input.{n}", cat.vocabulary.inputs[n]) for n in names]
        self.facts = result.scenario.facts(comp.leaves)
        self.values = dict(result.values)
        self.not_applied = not_applied
        key = ("tail", id(comp), names)  # the function depends on the mode and the names only: made once per catalog
        made = cat.functions.get(key)
        if made is None or made[0] is not comp:
            from .backends.loops import tail_function  # a prepared call's code: not on a one-shot CLI run

            made = cat.functions[key] = (comp, *tail_function(comp, [leaf for _n, leaf, _s in self.specs]))
        from .backends.loops import bind

        self.tail = made[1]
        self.fn = bind(made[3], tuple(self.facts[d] if d in self.facts else self.values[d] for d in made[2]))  # this scenario's fixed values
        # what run() checks of a value, by where it is in the tail (a rule's kind is fixed: a number
        # stays a number): the numbers (finite), the components among them (never negative), and
        # the per-axis lists (every item finite); each as a getter of those items (a tuple)
        first = self.values
        scalars = [i for i, n in enumerate(self.tail) if type(first[n]) is float]
        comps = set(comp.components)
        self.scalars = _items(scalars)
        self.components = _items([i for i in scalars if self.tail[i] in comps])
        self.lists = [i for i, n in enumerate(self.tail) if type(first[n]) is list]
        # the constraints the numbers reach (the others held when the scenario was prepared)
        held = set(comp.constraints)
        self.constraints = _items([i for i, n in enumerate(self.tail) if n in held])
        # an int or float already in an input's bounds is its own canonical value (as Input.coerce
        # gives it); any other value goes through coerce, which also says what is wrong with it
        self.quick = [(n, leaf, spec, -_INF if spec.minimum is None else spec.minimum,
                       min(_INF if spec.maximum is None else spec.maximum, _LIMIT), spec.decl == "integer") for n, leaf, spec in self.specs]
        self.mode = cat.rulesets[result.scenario.ruleset].modes[result.scenario.mode]
        self.at = {n: i for i, n in enumerate(self.tail)}
        self.total_at = self.at.get("total")

    def verdict(self, out) -> dict:
        """The fit rules' values of one call."""
        at, base = self.at, self.values
        return {n: out[at[n]] if n in at else base[n] for n in ("fits", "usable_memory_per_gpu", "per_gpu_total", "headroom")}


def _items(indices: list):
    """A function giving the items at `indices` of a tuple, as a tuple; None for no indices."""
    if not indices:
        return None
    if len(indices) == 1:
        i = indices[0]
        return lambda t: (t[i],)
    return itemgetter(*indices)


class _Later(Result):
    """A prepared call's Result: the total at once; the scenario with these numbers, every rule's
    value and the verdict when first read; the breakdown and warnings (Result's parts) after them.
    A caller per keystroke that reads the total and the verdict pays for nothing else."""

    def __init__(self, p: _Prepared, fast: dict, out: tuple):
        self._p, self._fast, self._out = p, fast, out
        self.compiled, self.catalog = p.compiled, p.catalog()
        self.total = Memory(out[p.total_at] if p.total_at is not None else p.values["total"])
        self._components, self._warnings, self._host = [], list(p.not_applied), []
        self._parts = self._breakdown
        self._sc = self._vals = self._verdict = None

    @property
    def scenario(self):
        if self._sc is None:
            p = self._p
            sc = object.__new__(type(p.scenario))  # the scenario as resolved, with these numbers
            sc.__dict__.update(p.scenario.__dict__)
            sc.inputs = dict(sc.inputs)
            sc.inputs.update((n, self._fast[leaf]) for n, leaf, _s in p.specs)
            self._sc = sc
        return self._sc

    @scenario.setter
    def scenario(self, sc):
        self._sc = sc

    @property
    def values(self):
        if self._vals is None:
            values = dict(self._p.values)
            values.update(zip(self._p.tail, self._out))
            self._vals = values
        return self._vals

    @values.setter
    def values(self, values):
        self._vals = values

    @property
    def fit(self):
        if self._verdict is None:
            p = self._p
            self._verdict = (make_fit(p.scenario, p.mode, p.compiled, p.verdict(self._out), lambda: self.values),) \
                if p.scenario.gpu is not None else (None,)
        return self._verdict[0]

    @fit.setter
    def fit(self, fit):
        self._verdict = (fit,)

    def _breakdown(self):
        made = _result(self.catalog, self.scenario, self.compiled, self.values, later=True)
        assert made._parts is not None
        return made._parts()


def _fast(cat, model, mode, gpu, gpus, rules, params, options):
    """The Result of a scenario asked before with other numeric inputs, or None (the caller then
    takes the full path, which also names any error). What the numbers do not reach is reused;
    the rules they reach are evaluated and checked as backends.compiler.run checks them."""
    numeric = cat.functions.get("fast-inputs")
    if numeric is None:  # the numeric inputs but the layout: what a call may change and still reuse its scenario
        numeric = cat.functions["fast-inputs"] = frozenset(n for n, spec in cat.vocabulary.inputs.items()
                                                          if spec.decl in ("integer", "number") and n not in _LAYOUT)
    try:
        names = tuple(sorted(n for n, v in options.items() if n in numeric and v is not None and v is not True and v is not False))
        rest = tuple(sorted((n, v) for n, v in options.items() if n not in names)) if len(options) > len(names) else ()
        key = (id(cat), model, mode, gpu, gpus, rules, params, rest, names)
        p = _PREPARED.get(key)
    except TypeError:  # an unhashable option: the full path says what is wrong with it
        return None
    if p is None or p.catalog() is not cat:
        if os.environ.get("VRAMRULES_RUNNER") == "interpreted":  # the test suites' one-evaluator runs
            return None
        return _first(cat, key, model, mode, gpu, gpus, rules, params, options, names)
    _PREPARED.move_to_end(key)
    fast = {}
    try:
        for n, leaf, spec, lo, hi, integer in p.quick:
            v = options[n]
            t = type(v)
            if (t is int or t is float and (not integer or v.is_integer())) and lo <= v <= hi:
                fast[leaf] = float(v)
            else:
                fast[leaf] = spec.coerce(v, spec.option)
        out = p.fn(*fast.values())
    except (ArithmeticError, ValueError, TypeError):
        return None
    # a non-finite value or a negative component: the full path locates it. (A sum of finite
    # numbers is finite unless it overflows, and then the full path answers: never a wrong value.)
    if p.scalars is not None and not -_INF < sum(p.scalars(out)) < _INF:
        return None
    if p.components is not None and min(p.components(out)) < 0:
        return None
    for i in p.lists:
        if not all(-_INF < x < _INF for x in out[i] if type(x) is float):
            return None
    if p.constraints is not None and not all(p.constraints(out)):
        return None
    return _Later(p, fast, out)


def _first(cat, key, model, mode, gpu, gpus, rules, params, options, names):
    result = evaluate_in(cat, model, mode, gpu=gpu, gpus=gpus, rules=rules, params=params, **options)
    if names and result.compiled is not None:
        p = _Prepared(cat, result, names, _not_applied(cat, result.scenario, result.compiled))
        _PREPARED[key] = p
        while len(_PREPARED) > PREPARED_MAX:
            _PREPARED.popitem(last=False)
    return result
