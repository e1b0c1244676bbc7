"""`vramrules record`: measure a real run and append it to a measurements file.

Inside your own script:

    import vramrules.importers.record
    with vramrules.importers.record.record("measurements.yaml", model="llama3.1-8b", mode="train-lora", batch=4, seq_len=2048):
        train()

or around a script, in the same process:  vramrules record --into measurements.yaml
--model llama3.1-8b --mode train-lora --batch 4 -- train.py --lr 1e-4

The peak comes from torch.cuda.max_memory_reserved/allocated (the optional extra
`vramrules[torch]`; torch is never imported by the rest of vramrules). Tests, and machines
without a GPU, pass another memory source."""
from __future__ import annotations

import contextlib
import datetime
import os
import platform

from ..errors import UsageError

MEASURES = ("peak_reserved", "peak_allocated")


class TorchSource:
    """Peak memory from torch.cuda on one device."""

    def __init__(self, device=None):
        try:
            import torch
        except ImportError:
            raise UsageError("vramrules record needs torch: pip install 'vramrules[torch]'") from None
        if not torch.cuda.is_available():
            raise UsageError("vramrules record: torch sees no CUDA device to measure")
        self.torch, self.device = torch, device
        self.framework = f"torch {torch.__version__}"

    def reset(self):
        self.torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self, measures: str) -> int:
        self.torch.cuda.synchronize(self.device)
        if measures == "peak_reserved":
            return int(self.torch.cuda.max_memory_reserved(self.device))
        return int(self.torch.cuda.max_memory_allocated(self.device))


class FixedSource:
    """A memory source with known peaks (tests, dry runs): VRAMRULES_RECORD_FAKE='allocated,reserved'."""

    framework = "fake memory source"

    def __init__(self, allocated: int, reserved: int):
        self.allocated, self.reserved = int(allocated), int(reserved)

    def reset(self):
        pass

    def peak(self, measures: str) -> int:
        return self.reserved if measures == "peak_reserved" else self.allocated


def default_source():
    fake = os.environ.get("VRAMRULES_RECORD_FAKE")
    if fake:
        a, _, r = fake.partition(",")
        return FixedSource(int(float(a)), int(float(r or a)))
    return TorchSource()


@contextlib.contextmanager
def record(into, *, model=None, mode="train-lora", measures="peak_reserved", source=None, ident=None, tolerance=0.10,
           summary=None, note="", **scenario):
    """Measure the block's peak memory and append a measurement entry to `into`."""
    if measures not in MEASURES:
        raise UsageError(f"measures must be one of {', '.join(MEASURES)}")
    from ..evaluation.evaluate import evaluate_in
    from .joined import scenario_catalog

    given = dict(scenario)
    cat, model_id, gpu, gpus = scenario_catalog(given.pop("data", ()), given.pop("sets", ()), model, given.pop("model_config", None),
                                                given.pop("gpu", None), given.pop("gpus", None), given)
    evaluate_in(cat, model_id, mode, gpu=gpu, gpus=gpus, **given)  # the scenario must be valid before the run, not after
    src = source or default_source()
    src.reset()
    yield src
    peak = src.peak(measures)
    write_entry(into, model=model, mode=mode, measures=measures, peak=peak, framework=src.framework, ident=ident,
                tolerance=tolerance, summary=summary, note=note, scenario=scenario)


def write_entry(into, *, model, mode, measures, peak, framework, ident=None, tolerance=0.10, summary=None, note="", scenario=None):
    from .yaml_append import append_entry

    now = datetime.datetime.now()
    scen = {"model": model, "mode": mode, **{k: v for k, v in (scenario or {}).items() if v is not None}}
    ident = ident or f"{model}-{mode}-{now:%Y%m%d-%H%M%S}"
    entry = {"summary": summary or f"{model} {mode}, recorded on {platform.node() or 'this machine'}",
             "scenario": scen, "measures": measures, "measured": f"{peak} B", "tolerance": tolerance,
             "framework": f"{framework} (recorded by vramrules record)",
             "source": f"measured on {platform.node() or 'this machine'} on {now:%Y-%m-%d %H:%M} by vramrules record"}
    if note:
        entry["note"] = note
    append_entry(into, "measurements", ident, entry, schema="measurements")
    return ident
