"""The Python API: the surface over evaluation, the questions and the importers. The CLI is a
thin layer over the same functions.

    import vramrules
    r = vramrules.evaluate(model="llama3-70b", mode="train-lora", gpu="h100-sxm-80gb")
    r.total.gib, r.fit.fits, [c.name for c in r.components]
"""
from __future__ import annotations

from .evaluation.evaluate import RUNNERS, compiled_mode, compiled_sweep, evaluate_in
from .evaluation.load import MEMO_CATALOGS, data_dirs, load_catalog
from .evaluation.result import Component, Fit, Memory, Result
from .importers.joined import scenario_catalog

__all__ = ["RUNNERS", "MEMO_CATALOGS", "Component", "Fit", "Memory", "Result", "compiled_mode", "compiled_sweep",
           "data_dirs", "evaluate", "load_catalog", "scenario_catalog"]


def evaluate(model: str | None = None, mode: str = "inference", *, gpu: str | None = None, gpus: int | None = None,
             rules: str = "default", data=(), sets=(), params: float | None = None, catalog=None, needed: bool = True,
             model_config=None, once: bool = False, **options) -> Result:
    """Estimate the memory of one scenario. Options: any input or slot of the vocabulary
    (data/vocabulary.yaml and the overlays': precision, kv_precision, batch, seq_len, lora_rank,
    recompute, tp, ...). Unknown names raise UsageError with close matches. `data`, `sets`,
    `model_config` and `gpu="auto"` choose the catalog (or give `catalog`); with `needed`, a
    scenario that does not fit also gets the fewest GPUs that would hold it (fit.gpus_needed)."""
    cat, model, gpu, gpus = scenario_catalog(data, sets, model, model_config, gpu, gpus, options, catalog)
    result = evaluate_in(cat, model, mode, gpu=gpu, gpus=gpus, rules=rules, params=params, once=once, **options)
    if needed:
        from .questions.fit import fill_gpus_needed

        fill_gpus_needed(result, cat, model, mode, gpu, rules=rules, params=params, options=options)
    return result
