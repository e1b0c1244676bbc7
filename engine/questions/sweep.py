"""`vramrules sweep`: models x modes x precisions x GPUs evaluated in-process. Each
(model, mode, precision) is resolved once; GPUs then only swap the gpu.* facts before the
compiled function runs, so a scenario costs one call of plain float code."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import VramrulesError


@dataclass
class Row:
    model: str
    mode: str
    precision: str
    gpu: str
    total: float
    usable: float
    fits: bool
    components: dict
    error: str = ""


def grid(cat, models=None, modes=None, precisions=None, gpus=None, rules="default"):
    from .matrix import axes

    models, modes, gpus = axes(cat, models, modes, gpus, rules)
    from ..reading.names import find

    precisions = [find("precision", p, cat.kind("precision")).id for p in precisions or []]
    return models, modes, list(precisions) if precisions else [None], gpus


def run(cat, models, modes, precisions, gpus, rules="default", options=None, progress=None):
    """Yield a Row per scenario. A (model, mode, precision) the rules refuse (a constraint, an
    evaluation error) yields one row per GPU carrying the message. Each (model, mode, precision)
    is checked once through the located evaluator; its GPUs then run in one compiled loop that
    computes what no GPU fact touches once (compiler.compile_sweep)."""
    from ..backends.compiler import run as run_rules
    from ..evaluation.evaluate import compiled_sweep
    from ..evaluation.scenario import resolve

    options = {k: v for k, v in (options or {}).items() if v is not None}
    placements = [g for g in gpus if g not in cat.kind("gpu")]  # rtx-4090+rtx-3090: evaluated one by one
    gpus = [g for g in gpus if g in cat.kind("gpu")]
    if placements:
        yield from _placements(cat, models, modes, precisions, placements, rules, options)
    if not gpus:
        return
    total_n = len(models) * len(modes) * len(precisions) * len(gpus)
    done = 0
    for mode in modes:
        sw = compiled_sweep(cat, rules, mode)
        comp, fn, components = sw.compiled, sw.fn, sw.compiled.components
        optional = cat.rulesets[rules].modes[mode].optional
        gpu_entries = [cat.kind("gpu")[g] for g in gpus]
        rows_of: dict = {}  # GPUs of the layout -> the GPU rows (device.count is the layout's size)
        for model in models:
            for prec in precisions:
                opts = dict(options)
                if prec is not None:
                    opts["precision"] = prec
                try:
                    sc = resolve(cat, rules=rules, mode=mode, model=model, gpu=gpus[0], **opts)
                    n = sc.inputs["gpus"]
                    gpu_rows = rows_of.get(n) or rows_of.setdefault(n, [tuple(_gpu_fact(g, leaf, n) for leaf in sw.gpu_leaves) for g in gpu_entries])
                    facts = sc.facts(comp.leaves)
                    run_rules(comp, facts)  # checks once: finite values, no negative component
                    pname = sc.selections["precision"].id
                    try:
                        results = fn(facts, gpu_rows)
                    except (ArithmeticError, ValueError, TypeError):  # one GPU's facts break a rule: say which
                        results = None
                except VramrulesError as exc:
                    for g in gpus:
                        yield Row(model, mode, prec or "", g, 0.0, 0.0, False, {}, str(exc))
                    done += len(gpus)
                    continue
                if results is None:
                    yield from _one_by_one(comp, facts, sw.gpu_leaves, gpu_rows, model, mode, pname, gpus, optional)
                else:
                    for g, (ok, total, usable, fits, *values) in zip(gpus, results):
                        if not ok:
                            yield Row(model, mode, pname, g, 0.0, 0.0, False, {}, "breaks a layout constraint")
                        else:
                            yield Row(model, mode, pname, g, total, usable, bool(fits), _shown(dict(zip(components, values)), optional))
                done += len(gpus)
                if progress:
                    progress(done, total_n)


def _placements(cat, models, modes, precisions, placements, rules, options):
    """Rows for placements over GPUs of several types: each a full evaluation (its layout, and
    so most of its rules, differs from the single-type rows the compiled loop shares)."""
    from ..evaluation.evaluate import evaluate_in

    for mode in modes:
        for model in models:
            for prec in precisions:
                opts = dict(options, **({"precision": prec} if prec else {}))
                for g in placements:
                    try:
                        r = evaluate_in(cat, model, mode, gpu=g, rules=rules, **opts)
                    except VramrulesError as exc:
                        yield Row(model, mode, prec or "", g, 0.0, 0.0, False, {}, str(exc))
                        continue
                    fit = r.fit
                    assert fit is not None  # evaluated with GPUs
                    yield Row(model, mode, r.scenario.selections["precision"].id, g, r.total.bytes, fit.capacity_per_gpu.bytes,
                              fit.fits, {c.name: c.memory.bytes for c in r.components})


def _gpu_fact(gpu, leaf: str, n: float):
    """One GPU row's value of a gpu.* or device.* leaf: a sweep places the workload on n GPUs of
    one type, a placement of one device entry."""
    head, _, field = leaf.partition(".")
    if head == "gpu":
        return gpu.facts[field]
    return [n] if field == "count" else [gpu.facts[field]]


def _one_by_one(comp, facts, gpu_leaves, gpu_rows, model, mode, pname, gpus, optional=()):
    """The located evaluator, GPU by GPU: a failing GPU's row carries the rule and its file:line."""
    from ..backends.compiler import run as run_rules

    for g, row in zip(gpus, gpu_rows):
        facts.update(zip(gpu_leaves, row))
        try:
            v = run_rules(comp, facts)
        except VramrulesError as exc:
            yield Row(model, mode, pname, g, 0.0, 0.0, False, {}, str(exc))
            continue
        if not all(v[c] for c in comp.constraints):
            yield Row(model, mode, pname, g, 0.0, 0.0, False, {}, "breaks a layout constraint")
        else:
            yield Row(model, mode, pname, g, v["total"], v["usable_memory_per_gpu"], bool(v["fits"]),
                      _shown({c: v[c] for c in comp.components}, optional))


def _shown(components: dict, optional) -> dict:
    """The components as a single evaluation lists them: an optional one only when not zero."""
    return {c: v for c, v in components.items() if not (c in optional and v == 0)} if optional else components
