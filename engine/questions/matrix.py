"""A scenario matrix (models x modes x GPUs) evaluated over one catalog: what `diff` compares
and `report` charts. Each (model, mode) is evaluated once per GPU with the fit rules."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UsageError, VramrulesError, unknown

REFERENCE_GPUS = ("h100-sxm-80gb", "a100-40gb", "rtx-4090", "l4")


@dataclass(frozen=True)
class Scenario:
    model: str
    mode: str
    gpu: str
    options: tuple = ()   # sorted (name, value) pairs

    @property
    def key(self) -> tuple:
        return (self.model, self.mode, self.gpu, self.options)

    def label(self) -> str:
        opts = " ".join(f"{k}={v}" for k, v in self.options)
        return f"{self.model} · {self.mode} · {self.gpu}" + (f" · {opts}" if opts else "")


@dataclass
class Row:
    scenario: Scenario
    total: float = 0.0
    per_gpu: float = 0.0
    capacity: float = 0.0
    fits: bool | None = None
    components: list = field(default_factory=list)   # [(name, label, bytes)]
    error: str = ""


def scenarios(cat, models=None, modes=None, gpus=None, rules="default", matrix_file=None) -> list[Scenario]:
    if matrix_file:
        return _from_file(matrix_file)
    models, modes, gpus = default_axes(cat, models, modes, gpus, rules)
    return [Scenario(m, mo, g) for m in models for mo in modes for g in gpus]


def default_axes(cat, models=None, modes=None, gpus=None, rules="default"):
    """The axes of the default matrix: every model and mode on the reference GPUs."""
    return axes(cat, models, modes, gpus or [g for g in REFERENCE_GPUS if g in cat.kind("gpu")], rules)


def axes(cat, models, modes, gpus, rules="default"):
    """The matrix's axes with their defaults (every model, every mode, every GPU), each name
    checked against the catalog: an unknown one is a usage error with the closest names."""
    rs = cat.rulesets.get(rules)
    if rs is None:
        raise unknown("rule set", rules, cat.rulesets)
    from ..evaluation.scenario import placement
    from ..reading.names import find

    # the user's words, to ids; the catalog's own ids are ids already (finding each would build every entry)
    models = [find("model", n, cat.kind("model")).id for n in models] if models else list(cat.kind("model"))
    modes = list(modes) if modes else list(rs.modes)
    gpus = list(gpus) if gpus else list(cat.kind("gpu"))
    for n in modes:
        if n not in rs.modes:
            raise unknown("mode", n, rs.modes)
    out = []
    for g in gpus:  # a placement (rtx-4090+rtx-3090) is a GPU axis item too
        devices = placement(cat, g)
        out.append(devices[0][0].id if len(devices) == 1 and devices[0][1] == 1 else g)
    return models, modes, out


def _from_file(path) -> list[Scenario]:
    """A matrix file: YAML `scenarios: [{model, mode, gpu, ...options}]`."""
    from pathlib import Path

    from ..reading.loader import load_file

    doc = load_file(Path(path), layer="matrix")
    items = (doc.data or {}).get("scenarios") if isinstance(doc.data, dict) else None
    if not isinstance(items, list) or not items:
        raise UsageError(f"{path}: expected `scenarios:` with a list of {{model, mode, gpu, ...}}")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not {"model", "mode", "gpu"} <= set(item):
            raise UsageError(f"{doc.where(('scenarios', i))}: each scenario needs model, mode and gpu")
        for k, v in item.items():  # names and option values are words and numbers, not lists or mappings
            if not isinstance(k, str) or not isinstance(v, (str, int, float)) or (k in ("model", "mode", "gpu") and not isinstance(v, str)):
                raise UsageError(f"{doc.where(('scenarios', i, k))}: {k}: {v!r} is not "
                                 + ("a name" if k in ("model", "mode", "gpu") else "a value (a number or a word)"))
        opts = tuple(sorted((k, v) for k, v in item.items() if k not in ("model", "mode", "gpu")))
        out.append(Scenario(item["model"], item["mode"], item["gpu"], opts))
    return out


def evaluate(cat, items: list[Scenario], rules="default", progress=None) -> dict:
    """{scenario.key: Row}. A scenario that cannot be evaluated on this side keeps its error.
    What a Row does not hold is not computed (the fewest-GPUs search cost diff three quarters of
    its time for an answer it never printed). sweep.matrix_rows gives the rows without
    components at the sweep loop's rate."""
    from ..evaluation.evaluate import evaluate_in

    out: dict = {}
    for i, sc in enumerate(items):
        row = Row(sc)
        try:
            r = evaluate_in(cat, sc.model, sc.mode, gpu=sc.gpu, rules=rules, **dict(sc.options))
            row.total = r.total.bytes
            fit = r.fit
            assert fit is not None  # evaluated with a GPU
            row.per_gpu = fit.needed_per_gpu.bytes
            row.capacity = fit.capacity_per_gpu.bytes
            row.fits = fit.fits
            row.components = [(c.name, c.label, c.memory.bytes) for c in r.components]
        except VramrulesError as exc:
            row.error = str(exc)
        out[sc.key] = row
        if progress:
            progress(i + 1, len(items))
    return out

