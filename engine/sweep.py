"""`vramrules sweep`: models x modes x precisions x GPUs evaluated in-process. Each
(model, mode, precision) is resolved once; GPUs then only swap the gpu.* facts before the
compiled function runs, so a scenario costs one call of plain float code."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import VramrulesError, unknown


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
    for p in precisions or []:
        if p not in cat.kind("precision"):
            raise unknown("precision", p, cat.kind("precision"))
    return models, modes, list(precisions) if precisions else [None], gpus


def run(cat, models, modes, precisions, gpus, rules="default", options=None, progress=None):
    """Yield a Row per scenario. A (model, mode, precision) the rules refuse (a constraint, an
    evaluation error) yields one row per GPU carrying the message."""
    from .api import compiled_mode
    from .compiler import run as run_rules
    from .scenario import resolve

    options = {k: v for k, v in (options or {}).items() if v is not None}
    total_n = len(models) * len(modes) * len(precisions) * len(gpus)
    done = 0
    for mode in modes:
        comp = compiled_mode(cat, rules, mode, True, lean=True)
        gpu_leaves = [l for l in comp.leaves if l.startswith("gpu.")]
        index = {n: i for i, n in enumerate(comp.order)}
        i_total, i_usable, i_fits = index["total"], index["usable_memory_per_gpu"], index["fits"]
        comps = [(c, index[c]) for c in comp.components]
        constraints = [index[c] for c in comp.constraints]
        gpu_facts = {g: {l: cat.kind("gpu")[g].facts[l[4:]] for l in gpu_leaves} for g in gpus}
        fn = comp.fn
        for model in models:
            for prec in precisions:
                opts = dict(options)
                if prec is not None:
                    opts["precision"] = prec
                try:
                    sc = resolve(cat, rules=rules, mode=mode, model=model, gpu=gpus[0], **opts)
                    facts = sc.facts(comp.leaves)
                    run_rules(comp, facts)  # checks once: finite values, no negative component
                except VramrulesError as exc:
                    for g in gpus:
                        yield Row(model, mode, prec or "", g, 0.0, 0.0, False, {}, str(exc))
                    done += len(gpus)
                    continue
                pname = sc.selections["precision"].id
                for g in gpus:
                    facts.update(gpu_facts[g])
                    v = fn(facts)
                    if constraints and not all(v[i] for i in constraints):
                        yield Row(model, mode, pname, g, 0.0, 0.0, False, {}, "breaks a layout constraint")
                        continue
                    yield Row(model, mode, pname, g, v[i_total], v[i_usable], bool(v[i_fits]), {c: v[i] for c, i in comps})
                done += len(gpus)
                if progress:
                    progress(done, total_n)
