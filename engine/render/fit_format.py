"""Rendering `vramrules fit` answers: each with the command that verifies it.

A check command is the `eval` that reproduces the answer when pasted into a shell: it carries
every word that chose the catalog and the scenario (--data folders, --set overrides, --rules,
--model-config, every scenario option the user gave) and the searched value, each word quoted
for a POSIX shell. `checks` in the JSON document are the same commands, with what each shows.
"""
from __future__ import annotations

import re
import shlex

from ..evaluation.document import quantity
from ..reading.quantity import memory
from ..reading.vocabulary import option_of
from .terminal import inert as t
from .terminal import shown
from .text import layout as result_layout

LAYOUT = ("tp", "pp", "dp")


def _flag(out, name: str, value) -> list[str]:
    vocab = out.get("vocabulary")
    spec = vocab and (vocab.inputs.get(name) or vocab.slots.get(name))
    opt = spec.option if spec else option_of(name)
    if isinstance(value, bool):
        return [opt if value else "--no-" + opt[2:]]
    if isinstance(value, float):
        return [opt, _number(value)]
    return [opt, str(value)]


def _number(v: float) -> str:
    """A float as the shortest text that reads back as the same float: 7000000000, 0.9."""
    return str(int(v)) if v.is_integer() and abs(v) < 1e16 else repr(v)


def argv(out, extra: dict, mode: str | None = None) -> list[str]:
    """The `vramrules` arguments of the eval that checks an answer: the user's words, the
    scenario options and `extra` (the searched value or layout) over them."""
    words = out.get("words") or {}
    parts = ["eval"]
    if words.get("model_config"):
        parts += ["--model-config", str(words["model_config"])]
    elif words.get("model_source"):
        parts += ["--model", str(words["model_source"])]
    elif out["model"]:
        parts += ["--model", str(out["model"])]
    if out.get("params") is not None:
        parts += ["--params", _number(float(out["params"]))]
    parts += ["--mode", str(mode or out["mode"])]
    gpu = words.get("gpu") or out.get("gpu")
    if gpu:
        parts += ["--gpu", str(gpu)]
    if out["rules"] != "default":
        parts += ["--rules", str(out["rules"])]
    for d in words.get("data") or ():
        parts += ["--data", str(d)]
    for s in words.get("sets") or ():
        parts += ["--set", str(s)]
    for k, v in {**out["options"], **extra}.items():
        parts += _flag(out, k, v)
    if words.get("units", "GiB") != "GiB":
        parts += ["--units", str(words["units"])]
    return parts


def _cmd(out, extra: dict, mode: str | None = None) -> str:
    return "vramrules " + " ".join(shlex.quote(a) for a in argv(out, extra, mode))


def _check(out, extra: dict, expect: str, of: str, mode: str | None = None) -> dict:
    return {"command": _cmd(out, extra, mode), "argv": argv(out, extra, mode), "expect": expect, "of": of}


def _layout_text(lay: dict) -> str:
    return " x ".join(f"{k} {lay[k]}" for k in LAYOUT if k in lay)


def _on(gpu: str, lay: dict) -> str:
    """Where an answer holds: 'one rtx-4090', '4 x rtx-4090 (tp 4 x pp 1 x dp 1)', a placement."""
    n = int(lay.get("gpus", 1) or 1)
    placed = "+" in gpu or "," in gpu or re.match(r"\d+x.", gpu) is not None  # a placement: rtx-4090+rtx-3090, 2xrtx-3090
    axes = _layout_text(lay)  # none for a layer split (llama.cpp's: the answer's command gives its --tensor-split)
    if placed:
        return f"{t(gpu)} ({n} GPUs" + (f", {axes})" if axes else ")") if lay else t(gpu)
    if n == 1:
        return f"1 x {t(gpu)}"
    return f"{n} x {t(gpu)}" + (f" ({axes})" if axes else "")


def render(out: dict, unit: str = "GiB", explain: bool = False) -> tuple[str, dict]:
    q = out["question"]
    lines, doc = [], {"question": q, "model": out["model"] or out["params"], "mode": out["mode"], "gpu": out.get("gpu"), "options": out["options"]}
    if q == "gpus-that-fit":
        rows = out["rows"]
        opts = out["options"]
        n = rows[0][5] if rows else int(opts.get("gpus") or opts.get("tp", 1) * opts.get("pp", 1) * opts.get("dp", 1))
        if n > 1:
            given = " ".join(f"{option_of(k)} {opts[k]}" for k in ("gpus", *LAYOUT) if k in opts)
            lines.append(f"GPUs that fit {t(out['model'] or out['params'])} · {t(out['mode'])} on {n} GPUs of one type ({t(given)}; "
                         f"memory is per GPU of the {n}), most headroom first:")
        else:
            lines.append(f"GPUs that fit {t(out['model'] or out['params'])} · {t(out['mode'])} on one card ({len(rows)}), most headroom first:")
        each = " per GPU" if n > 1 else ""
        for gid, _, headroom, cap, need, _n in rows:
            lines.append(f"  {t(gid):24s} headroom {memory(headroom, unit):>12s}{each}   needs {memory(need, unit)}{each} of {memory(cap, unit)}")
        if not rows:
            lines.append("  none: try `vramrules fit --gpu NAME` for the fewest GPUs of a type")
        doc["gpus_per_layout"] = n
        doc["gpus"] = [{"gpu": g, "count": c, "headroom": quantity(h, unit), "usable": quantity(cap, unit), "needed": quantity(need, unit)}
                       for g, _, h, cap, need, c in rows]
        return shown("\n".join(lines)), doc
    a = out["answer"]
    checks: list[dict] = []
    if q.startswith("max-"):
        name = out["name"]
        flag = name.replace("_", "-")

        def at(value, expect, of):  # the eval that checks `value`: an option, or (params) the model's count itself
            return _check({**out, "params": value}, {}, expect, of) if name == "params" else _check(out, {name: value}, expect, of)

        step = getattr(a, "step", 1)  # the grain every value keeps (ring attention: 2 x cp)
        grain = f"; every {flag} a multiple of {step}" if step > 1 else ""
        if a.value is None:
            lines.append(f"nothing fits on {_on(out['gpu'], a.layout)}: {t(a.note)}{grain}")
            checks.append(at(step, "does not fit", f"{name} {step}"))
            lines.append(f"  check: {t(checks[-1]['command'])}   -> does not fit")
        else:
            note = (a.note + grain) if a.note else grain[2:]
            lines.append(f"largest {flag} that fits on {_on(out['gpu'], a.layout)}: {a.value:,}" + (f" ({t(note)})" if note else ""))
            checks.append(at(a.value, "fits", "answer"))
            lines.append(f"  check: {t(checks[-1]['command'])}   -> fits")
            if not a.note:
                checks.append(at(a.value + step, "does not fit", "answer + 1" if step == 1 else f"answer + {step}"))
                lines.append(f"         {t(checks[-1]['command'])}   -> does not fit")
        if a.command:
            lines.append(f"  llama.cpp: {t(a.command)}")
            doc["command"] = a.command
        lines.append(f"  {len(a.probes)} evaluations of the rules")
        doc.update(answer=a.value, evaluations=len(a.probes), note=a.note, layout=a.layout)
    elif q.startswith("min-") and out.get("name"):  # a searched input's minimum (min-gpus is the fewest-GPUs search below)
        name = out["name"]
        flag = name.replace("_", "-")
        if a.value is None:
            lines.append(f"nothing fits on {_on(out['gpu'], a.layout)}: {t(a.note)}")
            checks.append(_check(out, dict(a.options), "does not fit", f"{name} {a.options.get(name)}"))
            lines.append(f"  check: {t(checks[-1]['command'])}   -> does not fit")
        else:
            lines.append(f"smallest {flag} that fits on {_on(out['gpu'], a.layout)}: {a.value:,}" + (f" ({t(a.note)})" if a.note else ""))
            checks.append(_check(out, {name: a.value}, "fits", "answer"))
            lines.append(f"  check: {t(checks[-1]['command'])}   -> fits")
            if a.value > 0:
                checks.append(_check(out, {name: a.value - 1}, "does not fit", "answer - 1"))
                lines.append(f"         {t(checks[-1]['command'])}   -> does not fit")
        if a.command:
            lines.append(f"  llama.cpp: {t(a.command)}")
            doc["command"] = a.command
        lines.append(f"  {len(a.probes)} evaluations of the rules")
        doc.update(answer=a.value, evaluations=len(a.probes), note=a.note, layout=a.layout)
    else:
        one = out["one"]
        f = one.fit
        n = int(f.gpus)
        verdict = "fits" if f.fits else "does not fit"
        if f.groups:
            where = f"{f.gpus_total} x {t(out['gpu'])} ({n} training: {t(result_layout(one))}; " \
                + "; ".join(f"{g.gpus} {t(g.name)}" for g in f.groups) + ")"
            lines.append(f"{where}: {verdict} (the training GPUs need {memory(f.needed_per_gpu.bytes, unit)} each, "
                         + ", ".join(f"the {t(g.name)} GPUs {memory(g.needed_per_gpu.bytes, unit)} each" for g in f.groups)
                         + f", of {memory(f.capacity_per_gpu.bytes, unit)} usable per GPU)")
        elif n == 1:
            where = f"one {t(out['gpu'])}"
            lines.append(f"{where}: {verdict} (needs {memory(f.needed_per_gpu.bytes, unit)} of {memory(f.capacity_per_gpu.bytes, unit)})")
        else:
            where = f"{n} x {t(out['gpu'])} ({t(result_layout(one))})"
            lines.append(f"{where}: {verdict} (needs {memory(f.needed_per_gpu.bytes, unit)} per GPU of "
                         f"{memory(f.capacity_per_gpu.bytes, unit)} usable per GPU)")
        checks.append(_check(out, {}, verdict, "as given"))
        lines.append(f"  check: {t(checks[-1]['command'])}   -> {verdict}")
        kept = [k for k in LAYOUT if k in out["options"]]
        with_kept = (" with " + ", ".join(f"{option_of(k)} {out['options'][k]}" for k in kept) + " kept") if kept else ""
        if a is None or a.value is None:
            lines.append(f"fewest GPUs{t(with_kept)}: none found ({t(a.note) if a else ''})")
        else:
            lay = (" x ".join(f"{k} {v}" for k, v in a.options.items() if k in LAYOUT)
                   + (f" x cp {a.layout['cp']}" if a.layout.get("cp") else "")
                   + (f", ZeRO-{a.options['zero']}" if a.options.get("zero") else ""))
            groups = a.layout.get("groups") or {}
            if groups:  # GPUs of their own (a rollout engine's) besides the trainer's layout
                lay = f"{a.options['gpus']} training: {lay}; " + "; ".join(f"{c} {t(name)}" for name, c in groups.items())
            lines.append(f"fewest {t(out['gpu'])}{t(with_kept)}: {a.value} ({lay})")
            checks.append(_check(out, dict(a.options), "fits", "answer"))
            lines.append(f"  check: {t(checks[-1]['command'])}   -> fits")
            if out.get("answer_result") is not None:
                from ..evaluation.launch_command import launchers

                doc["launch"] = launchers(out["answer_result"])
                for launcher in doc["launch"]:
                    lines.append(f"  run it with {t(launcher['label'])}:")
                    lines += [f"    {t(c)}" for c in launcher["lines"]]
        lines.append(f"  {len(a.probes) if a else 0} evaluations of the rules")
        suggested = []
        if out["suggestions"]:
            lines.append(f"changes that fit on {where}, cheapest first:")
            for label, _cost, mode, changes, headroom in out["suggestions"]:
                cmd = _cmd(out, dict(changes), mode)
                suggested.append(cmd)
                lines.append(f"  {t(label)}: headroom {memory(headroom, unit)}" + (" per GPU" if n > 1 else ""))
                lines.append(f"    {t(cmd)}")
        doc.update(fits_on_one=f.fits if n == 1 else None,
                   as_given={"gpus": n, "layout": {a_: int(one.scenario.inputs[a_]) for a_ in LAYOUT}, "fits": f.fits,
                             "needed_per_gpu": quantity(f.needed_per_gpu.bytes, unit), "usable_per_gpu": quantity(f.capacity_per_gpu.bytes, unit)},
                   kept=kept, answer=a.value if a else None, layout=a.options if a else None, evaluations=len(a.probes) if a else 0,
                   note=a.note if a else "",
                   suggestions=[{"change": l, "cost": c, "mode": m, "set": ch, "headroom": quantity(h, unit), "command": cmd}
                                for (l, c, m, ch, h), cmd in zip(out["suggestions"], suggested)])
    doc["checks"] = checks
    if explain and a is not None:
        lines.append("probes:")
        for p in a.probes:
            state = "error: " + t(p.error) if p.error else ("fits" if p.fits else "does not fit")
            lines.append(f"  {p.options}: {state}" + (f" ({memory(p.per_gpu, unit)} of {memory(p.capacity, unit)})" if not p.error else ""))
        doc["probes"] = [{"options": p.options, "fits": p.fits, "needed": quantity(p.per_gpu, unit), "error": p.error} for p in a.probes]
    return shown("\n".join(lines)), doc
