"""Rendering `vramrules fit` answers: each with the command that verifies it."""
from __future__ import annotations

from ..evaluation.document import quantity
from ..reading.quantity import memory
from .terminal import inert as t
from .terminal import shown


def _cmd(out, extra: dict) -> str:
    parts = ["vramrules eval"]
    parts.append(f"--model {out['model']}" if out["model"] else f"--params {out['params']:g}")
    parts.append(f"--mode {out['mode']}")
    if out.get("gpu"):
        parts.append(f"--gpu {out['gpu']}")
    if out["rules"] != "default":
        parts.append(f"--rules {out['rules']}")
    opts = {**out["options"], **extra}
    for k, v in opts.items():
        if k == "recompute":
            parts.append("--gradient-checkpointing" if v == "full" else "--no-gradient-checkpointing" if v == "none" else f"--recompute {v}")
        elif isinstance(v, bool):
            parts.append(f"--{k.replace('_', '-')}" if v else f"--no-{k.replace('_', '-')}")
        else:
            parts.append(f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else f"--{k.replace('_', '-')} {v}")
    return t(" ".join(parts))


def render(out, unit="GiB", explain=False):
    q = out["question"]
    lines, doc = [], {"question": q, "model": out["model"] or out["params"], "mode": out["mode"], "gpu": out.get("gpu"), "options": out["options"]}
    if q == "gpus-that-fit":
        rows = out["rows"]
        lines.append(f"GPUs that fit {t(out['model'] or out['params'])} · {t(out['mode'])} on one card ({len(rows)}), most headroom first:")
        for gid, _, headroom, cap, need in rows:
            lines.append(f"  {t(gid):24s} headroom {memory(headroom, unit):>12s}   needs {memory(need, unit)} of {memory(cap, unit)}")
        if not rows:
            lines.append("  none: try `vramrules fit --gpu NAME` for the fewest GPUs of a type")
        doc["gpus"] = [{"gpu": g, "headroom": quantity(h, unit), "usable": quantity(c, unit), "needed": quantity(n, unit)} for g, _, h, c, n in rows]
        return shown("\n".join(lines)), doc
    a = out["answer"]
    if q.startswith("max-"):
        name = out["name"]
        flag = name.replace("_", "-")
        if a.value is None:
            lines.append(f"nothing fits: {t(a.note)}")
        else:
            placed = "+" in out["gpu"] or out["gpu"].partition("x")[0].isdigit()  # a placement: rtx-4090+rtx-3090, 2xrtx-3090
            where = t(out["gpu"]) if placed else f"{out['options'].get('gpus', 1)} x {t(out['gpu'])}"
            lines.append(f"largest {flag} that fits on {where}: {a.value:,}" + (f" ({t(a.note)})" if a.note else ""))
            lines.append(f"  check: {_cmd(out, {name: a.value})}   -> fits")
            if not a.note:
                lines.append(f"         {_cmd(out, {name: a.value + 1})}   -> does not fit")
        lines.append(f"  {len(a.probes)} evaluations of the rules")
        doc.update(answer=a.value, evaluations=len(a.probes), note=a.note)
    else:
        one = out["one"]
        f = one.fit
        lines.append(f"one {t(out['gpu'])}: {'fits' if f.fits else 'does not fit'} (needs {memory(f.needed_per_gpu.bytes, unit)} of {memory(f.capacity_per_gpu.bytes, unit)})")
        if a is None or a.value is None:
            lines.append(f"fewest GPUs: none found ({t(a.note) if a else ''})")
        else:
            layout = " x ".join(f"{k} {v}" for k, v in a.options.items() if k in ("tp", "pp", "dp")) + (f", ZeRO-{a.options['zero']}" if a.options.get("zero") else "")
            lines.append(f"fewest {t(out['gpu'])}: {a.value} ({layout})")
            lines.append(f"  check: {_cmd(out, {k: v for k, v in a.options.items()})}")
        lines.append(f"  {len(a.probes) if a else 0} evaluations of the rules")
        if out["suggestions"]:
            lines.append("changes that fit on one GPU, cheapest first:")
            for label, _cost, mode, changes, headroom in out["suggestions"]:
                extra = dict(changes)
                o2 = {**out, "mode": mode}
                lines.append(f"  {t(label)}: headroom {memory(headroom, unit)}")
                lines.append(f"    {_cmd(o2, extra)}")
        doc.update(fits_on_one=f.fits, answer=a.value if a else None, layout=a.options if a else None, evaluations=len(a.probes) if a else 0,
                   suggestions=[{"change": l, "cost": c, "mode": m, "set": ch, "headroom": quantity(h, unit)} for l, c, m, ch, h in out["suggestions"]])
    if explain and a is not None:
        lines.append("probes:")
        for p in a.probes:
            state = "error: " + t(p.error) if p.error else ("fits" if p.fits else "does not fit")
            lines.append(f"  {p.options}: {state}" + (f" ({memory(p.per_gpu, unit)} of {memory(p.capacity, unit)})" if not p.error else ""))
        doc["probes"] = [{"options": p.options, "fits": p.fits, "needed": quantity(p.per_gpu, unit), "error": p.error} for p in a.probes]
    return shown("\n".join(lines)), doc
