"""`vramrules report`: the material of a policy review - with a base, the impact diff (the change
under review, shown first), the scenario matrix (components per scenario against each GPU's
capacity), the verdicts, and the assumptions with sources and review dates. Rendered by
render/html.py (one self-contained file) or render/report_markdown.py."""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field


@dataclass
class Report:
    title: str
    generated: str
    layers: list
    ruleset: str
    assumptions: list          # rows from show.assumptions
    modes: list                # mode names in order
    gpus: list                 # [(id, name, usable bytes)]
    rows: list                 # matrix.Row for GPU = first reference GPU (estimates do not depend on the GPU)
    fits: dict                 # (model, mode) -> {gpu: fits}
    impact: object = None
    components: list = field(default_factory=list)  # [(name, label)] in first-seen order


def build(data=(), base=None, models=None, modes=None, gpus=None, rules="default", today=None, progress=None) -> Report:
    from ..evaluation.load import data_dirs, load_catalog
    from . import matrix
    from .show import assumptions

    cat = load_catalog(tuple(data))
    items = matrix.scenarios(cat, models, modes, gpus, rules)
    rows = matrix.evaluate(cat, items, rules, progress)
    gpu_ids = list(dict.fromkeys(s.gpu for s in items))
    first = gpu_ids[0]
    by_estimate: list = []
    fits: dict = {}
    comps: dict = {}
    for sc in items:
        row = rows[sc.key]
        fits.setdefault((sc.model, sc.mode), {})[sc.gpu] = row.fits
        if sc.gpu == first:
            by_estimate.append(row)
            for name, label, _ in row.components:
                comps.setdefault(name, label)
    gpu_rows = []
    for g in gpu_ids:
        e = cat.kind("gpu")[g]
        gpu_rows.append((g, e.name, e.facts["memory_reported"] * e.facts["usable_fraction"]))
    day = today or datetime.date.today()
    report = Report(
        title="vramrules policy review", generated=day.isoformat(),
        layers=[f"{layer}: {path}" for path, layer in data_dirs(data)], ruleset=rules,
        assumptions=assumptions(cat, day), modes=list(dict.fromkeys(s.mode for s in items)),
        gpus=gpu_rows, rows=by_estimate, fits=fits, components=list(comps.items()))
    if base is not None:
        from .diff import impact

        report.impact = impact(base, data[0] if len(data) == 1 else "builtin" if not data else data[-1],
                               models=models, modes=modes, gpus=gpus, rules=rules)
    return report
