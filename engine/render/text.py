"""The terminal table: components, shares, total with an explicit unit, fit verdict."""
from __future__ import annotations

from ..reading.quantity import count, memory, value
from .terminal import inert as t
from .terminal import shown


def _inputs_line(result) -> str:
    sc = result.scenario
    i = sc.inputs
    parts = [f"precision {t(sc.selections['precision'].id)}"]
    names = {c for c in result.compiled.deps for c in result.compiled.deps[c]}
    if any(n.startswith("kv_precision.") for n in names):
        parts.append(f"KV {t(sc.selections['kv_precision'].id)}")
    if any(n.startswith("optimizer.") for n in names):
        parts.append(f"optimizer {t(sc.selections['optimizer'].id)}")
    if any(n.startswith("lora.") for n in names) or "input.lora_rank" in names:
        parts.append(f"LoRA r={count(i['lora_rank'])} on {t(sc.selections['lora_targets'].id)}")
    if any(n.startswith("adapter_precision.") for n in names):
        parts.append(f"adapters {t(sc.selections['adapter_precision'].id)}")
    parts.append(f"batch {count(i['batch'])}")
    if "input.seq_len" in names:
        parts.append(f"seq_len {count(i['seq_len'])}")
    if "input.recompute" in names:
        parts.append({"full": "gradient checkpointing", "none": "no recompute", "selective": "selective recompute"}.get(i["recompute"], t(i["recompute"])))
    return " · ".join(parts)


def table(result, unit: str = "GiB", explain: bool = False) -> str:
    """The eval table. Data-provided text is escaped (terminal.inert) and the whole fits the
    stream's encoding (terminal.shown)."""
    sc = result.scenario
    lines = [f"{t(sc.model.id)} · {t(sc.mode)} · rules: {t(sc.ruleset)}", f"  {_inputs_line(result)}", ""]
    rows = [(t(c.label), memory(c.memory.bytes, unit), f"{100 * c.share:5.1f}%") for c in result.components]
    width = max(len(r[0]) for r in rows + [("component", "", "")])
    vwidth = max(len(r[1]) for r in rows + [("", memory(result.total.bytes, unit), "")])
    lines.append(f"  {'component'.ljust(width)}  {'memory'.rjust(vwidth)}   share")
    for label, mem, share in rows:
        lines.append(f"  {label.ljust(width)}  {mem.rjust(vwidth)}  {share}")
    lines.append(f"  {'-' * (width + vwidth + 10)}")
    lines.append(f"  {'total'.ljust(width)}  {memory(result.total.bytes, unit).rjust(vwidth)}")
    figures = _figures(result)
    if figures:
        lines.append("")
        for label, text in figures:
            lines.append(f"  {label}: {text}")
    if result.fit:
        lines.append("")
        lines.extend(_fit_lines(result, unit))
    lines.append("")
    lines.extend(bar_lines(result, unit))
    if result.host and any(h.memory.bytes for h in result.host):
        lines.append("")
        n = result.scenario.inputs["gpus"]
        host = sum(h.memory.bytes for h in result.host)
        lines.append(f"  host (CPU) memory per GPU rank: {memory(host, unit)}" + (f"; {memory(host * n, unit)} for all {n:g} ranks" if n > 1 else ""))
        for h in result.host:
            if h.memory.bytes:
                lines.append(f"    {t(h.label)}: {memory(h.memory.bytes, unit)}")
    if result.catalog.overrides:
        lines.append("")
        for name, (was, now) in result.catalog.overrides.items():
            lines.append(f"  overridden: assume.{t(name)} = {t(now)} (was {t(was)}; --set)")
    if result.warnings:
        lines.append("")
        lines.extend(f"  warning: {t(w)}" for w in result.warnings)
    if explain:
        lines.append("")
        lines.extend(explain_lines(result))
    return shown("\n".join(lines) + "\n")


def _figures(result):
    comp = result.compiled
    from ..language.rules import report_names

    rs = result.catalog.rulesets[comp.ruleset]
    out = []
    for name in report_names(rs, rs.modes[comp.mode]):
        rule = comp.rules[name]
        out.append((t(rule.label), t(value(result.values[name], comp.dims.get(name, "")))))
    return out


BAR_WIDTH = 48
BAR_CHARS = "█▓▒#=+*~%"


def bar_lines(result, unit) -> list:
    """A compact bar of the breakdown (per GPU) against the usable capacity:
    [█████████▓▒▒=====|·····]  one character per 1/48 of the larger of the two."""
    comps = result.components
    total = result.total.bytes
    fit = result.fit
    need = fit.needed_per_gpu.bytes if fit else total
    cap = fit.capacity_per_gpu.bytes if fit else 0.0
    scale = BAR_WIDTH / max(need, cap, 1.0)
    cells, acc = [], 0.0
    for i, c in enumerate(comps):
        share = c.memory.bytes / total * need if total else 0.0
        start, acc = round(acc * scale), acc + share
        cells += [BAR_CHARS[i % len(BAR_CHARS)]] * (round(acc * scale) - start)
    if fit:
        cap_at = round(cap * scale)
        cells += ["·"] * max(0, cap_at - len(cells))
        cells.insert(min(cap_at, len(cells)), "|")
    legend = "  ".join(f"{BAR_CHARS[i % len(BAR_CHARS)]} {t(c.label)}" for i, c in enumerate(comps))
    what = f"{memory(need, unit)} per GPU of {memory(cap, unit)} usable (| marks capacity)" if fit else memory(total, unit)
    return [f"  [{''.join(cells)}] {what}", f"   {legend}"]


def layout(result) -> str:
    i = result.scenario.inputs
    text = f"tp {i['tp']:g} x pp {i['pp']:g} x dp {i['dp']:g}"
    if i["ep"] > 1:
        text += f", ep {i['ep']:g}"
    stage = result.values.get("zero_stage", 0)
    if i["fsdp"] != "none":
        text += f", FSDP {t(i['fsdp'])}"
    elif stage:
        text += f", ZeRO-{stage:g}"
    if i["sequence_parallel"]:
        text += ", sequence parallel"
    if i["offload"] != "none":
        text += f", offload {t(i['offload'])}"
    return text


def _fit_lines(result, unit):
    if result.scenario.mixed:
        return _placement_lines(result, unit)
    f = result.fit
    g = result.scenario.gpu
    marketed = t(g.raw.get("memory"))
    reported = g.raw.get("memory_reported") and t(g.raw.get("memory_reported"))
    cap = memory(f.capacity_per_gpu.bytes, unit)
    how = f"driver reports {reported}" if reported else f"as marketed: {marketed}; no driver figure on file"
    if g.facts.get("usable_fraction", 1.0) < 1.0:
        how += f"; {g.facts['usable_fraction']:.0%} usable by the GPU"
    gid = t(g.id)
    out = [f"  GPU: {f.gpus} x {gid} ({t(g.name)}, {marketed})",
           f"    usable per GPU   {cap}  ({how})",
           f"    needed per GPU   {memory(f.needed_per_gpu.bytes, unit)}" + (f"  (the busiest GPU of {layout(result)})" if f.gpus > 1 else ""),
           f"    headroom         {memory(f.headroom_per_gpu.bytes, unit)}"]
    if f.fits:
        out.append(f"    verdict          FITS on {f.gpus} x {gid}")
    elif f.gpus_needed:
        out.append(f"    verdict          DOES NOT FIT on {f.gpus} x {gid}; needs {f.gpus_needed} x {gid}")
    else:
        out.append(f"    verdict          DOES NOT FIT: one {gid} cannot even hold the per-GPU runtime")
    return out


def _placement_lines(result, unit):
    """GPUs of several types: each type's usable memory, and the verdict for the smallest."""
    f, sc = result.fit, result.scenario
    out = [f"  GPUs: {t(sc.placement)} ({f.gpus:g} GPUs, {t(layout(result))})"]
    usable = result.values.get("usable_per_device")
    for k, (g, c) in enumerate(sc.devices):
        cap = memory(usable[k], unit) if isinstance(usable, list) and k < len(usable) else "?"
        out.append(f"    {c:g} x {t(g.id)} ({t(g.name)}, {t(g.raw.get('memory'))}): usable {cap} each")
    out += [f"    usable per GPU   {memory(f.capacity_per_gpu.bytes, unit)}  (the smallest: an even split)",
            f"    needed per GPU   {memory(f.needed_per_gpu.bytes, unit)}" + (f"  (the busiest GPU of {layout(result)})" if f.gpus > 1 else ""),
            f"    headroom         {memory(f.headroom_per_gpu.bytes, unit)}",
            f"    verdict          {'FITS' if f.fits else 'DOES NOT FIT'} on {t(sc.placement)}"]
    return out


def explain_lines(result) -> list:
    from ..evaluation.explain import derivation

    out = ["derivation (evaluation order):"]
    for step in derivation(result):
        out.append(f"  {t(step.name)} = {t(value(step.value, step.dim))}")
        out.append(f"      formula: {t(' '.join(str(step.formula).split()))}")
        out.append(f"      rule at: {t(step.where)}")
        if step.source:
            out.append(f"      source:  {t(step.source)}")
        for inp in step.inputs:
            v = t(value(inp.value, inp.dim))
            if inp.where == "rule":
                out.append(f"      {t(inp.name)} = {v}")
            else:
                entry = f" [{t(inp.entry)}]" if inp.entry else ""
                out.append(f"      {t(inp.name)} = {v}   <- {t(inp.where)}{entry}")
                if inp.source:
                    out.append(f"          source: {t(inp.source)}")
    return out
