"""The terminal table: components, shares, total with an explicit unit, fit verdict.

It fits the width it is given (terminal.width(): $COLUMNS, the terminal's, else 80): long lines
wrap between words with a hanging indent, a number never parted from its unit. Memory is whole
bytes: what is needed rounded up, what a GPU offers and the headroom left rounded down
(reading/quantity.py)."""
from __future__ import annotations

from ..evaluation.engines import label as engine_label
from ..evaluation.engines import of as engine_of
from ..reading.quantity import available, count, memory, needed, value
from .terminal import cells, shown, wrap
from .terminal import inert as t
from .terminal import width as terminal_width


def _inputs_line(result) -> str:
    sc = result.scenario
    i = sc.inputs
    from ..evaluation.live import header_reads

    parts = [f"precision {t(sc.selections['precision'].id)}"]
    names = header_reads(result, lambda n: n.startswith(("kv_precision.", "optimizer.", "lora.", "adapter_precision."))
                         or n in ("input.lora_rank", "input.seq_len", "input.recompute", "input.activation_profile",
                                  "input.autocast"))
    if any(n.startswith("kv_precision.") for n in names):
        parts.append(f"KV {t(sc.selections['kv_precision'].id)}")
    if any(n.startswith("optimizer.") for n in names):
        parts.append(f"optimizer {t(sc.selections['optimizer'].id)}")
    if any(n.startswith("lora.") for n in names) or "input.lora_rank" in names:
        parts.append(f"LoRA r={count(i['lora_rank'])} on {t(sc.selections['lora_targets'].id)}")
    if any(n.startswith("adapter_precision.") for n in names):
        parts.append(f"adapters {t(sc.selections['adapter_precision'].id)}"
                     + (" under autocast" if "input.autocast" in names and i.get("autocast") else ""))
    if "ref_weights" in result.compiled.components:  # a mode with a reference policy: what it assumes of it
        parts.append(_reference(result))
    parts.append(f"batch {count(i['batch'])}")
    if "input.seq_len" in names:
        parts.append(f"seq_len {count(i['seq_len'])}")
    if i.get("images") and result.values.get("image_tokens"):  # the images' tokens join each sequence's context
        parts.append(f"{count(i['images'])} image{'s' if i['images'] > 1 else ''} x {count(result.values['image_tokens_per_image'])} tokens")
    if "input.activation_profile" in names:
        parts.append(f"activations {t(i['activation_profile'])}")
    if "input.recompute" in names:
        parts.append({"full": "gradient checkpointing", "none": "no recompute", "selective": "selective recompute"}.get(i["recompute"], t(i["recompute"])))
    return " · ".join(parts)


def _reference(result) -> str:
    """The reference the answer counts, and whose default it is: `reference none (trl default)`,
    `reference copy (default, no --framework)`, or as given."""
    i, origin = result.scenario.inputs, result.scenario.origin
    ref = i["reference"]
    if ref == "framework-default":
        loaded = "copy" if result.values.get("ref_copy") else "none"
        framework = i.get("framework", "none")
        return f"reference {loaded} ({t(framework)} default)" if framework != "none" else f"reference {loaded} (default, no --framework)"
    return f"reference {t(ref)}" + (" (mode default)" if origin.get("reference") == "mode default" else "")


def _pad(text: str, n: int) -> str:
    return text + " " * max(0, n - cells(text))


def _component_rows(rows, total: str, cols: int) -> list:
    """The component table; a label too long for the width wraps within its column, the memory
    and share stay on its first line."""
    vwidth = max(cells(r[1]) for r in rows + [("", total, "")])
    room = max(12, cols - vwidth - 13)  # 2 + label + 2 + memory + 2 + share (6) + 1
    width = min(room, max(cells(r[0]) for r in rows + [("component", "", "")]))
    out = [f"  {_pad('component', width)}  {'memory'.rjust(vwidth)}   share"]
    for label, mem, share in rows:
        parts = wrap(label, width) if cells(label) > width else [label]
        out.append(f"  {_pad(parts[0], width)}  {mem.rjust(vwidth)}  {share}")
        out += [f"  {p}" for p in parts[1:]]
    out.append(f"  {'-' * (width + vwidth + 10)}")
    out.append(f"  {_pad('total', width)}  {total.rjust(vwidth)}")
    return out


def table(result, unit: str = "GiB", explain: bool = False, width: int | None = None) -> str:
    """The eval table, `width` columns wide (default: terminal.width()). Data-provided text is
    escaped (terminal.inert) and the whole fits the stream's encoding (terminal.shown)."""
    cols = terminal_width() if width is None else width
    sc = result.scenario
    engine = engine_of(sc)
    head = f"{t(sc.model.id)} · {t(sc.mode)} · rules: {t(sc.ruleset)}" + (f" · engine: {t(engine_label(engine))}" if engine else "")
    lines = wrap(head, cols, "", "  ", " · ")
    lines += wrap(_inputs_line(result), cols, "  ", "  ", " · ") + [""]
    rows = [(t(c.label), memory(needed(c.memory.bytes), unit), f"{100 * c.share:5.1f}%") for c in result.components]
    lines += _component_rows(rows, memory(needed(result.total.bytes), unit), cols)
    roles = result.roles()
    if roles:
        lines += wrap("by role, per GPU: " + " · ".join(f"{t(r)} {memory(needed(b), unit)}" for r, b, _n in roles), cols, "  ", "    ", " · ")
    figures = _figures(result, unit)
    if figures:
        lines.append("")
        for label, text in figures:
            if cells(f"  {label}: {text}") <= cols:
                lines.append(f"  {label}: {text}")
            else:  # the value whole on the next line: '320.00 KiB (327,680 B)' is not parted
                lines += wrap(f"{label}:", cols, "  ", "      ") + wrap(text, cols, "      ")
    from ..evaluation.uncertainty import bounds, verdict_note

    spread = bounds(result) if result.fit else None  # a serve answer's low / best / high
    if result.fit:
        lines.append("")
        lines.extend(_fit_lines(result, unit, cols, verdict_note(spread)))
    if spread and spread["terms"]:
        lines.append("")
        lines.extend(_spread_lines(result, spread, unit, cols))
    plan = result.device_plan() if result.fit else None  # several GPUs split unevenly: each has its own lines
    if plan is None:
        lines.append("")
        lines.extend(bar_lines(result, unit, cols))
    if result.host and any(h.memory.bytes for h in result.host):
        lines.append("")
        n = result.scenario.inputs["gpus"]
        host = needed(sum(h.memory.bytes for h in result.host))
        if plan is not None:  # one process drives every GPU: the host holds one set of buffers
            lines += wrap(f"host (CPU) memory: {memory(host, unit)}", cols, "  ", "    ")
        else:
            lines += wrap(f"host (CPU) memory per GPU rank: {memory(host, unit)}" + (f"; {memory(host * n, unit)} for all {n:g} ranks" if n > 1 else ""),
                          cols, "  ", "    ")
        for h in result.host:
            if h.memory.bytes:
                lines += wrap(f"{t(h.label)}: {memory(needed(h.memory.bytes), unit)}", cols, "    ", "      ")
        lines += _host_lines(result, unit, cols)
    lines += _launcher_lines(result, cols)
    from .engine_command import lines as engine_command_lines

    command_lines = engine_command_lines(result)  # a llama.cpp profile's llama-server line (render/engine_command.py)
    if command_lines:
        lines.append("")
        lines += wrap(t(command_lines[0]), cols, "  ", "    ")
        for line in command_lines[1:]:  # a line of its own ('vLLM 0.27.1 should print at start-up:') heads the lines under it
            lines += wrap(t(line.strip()), cols, "    ", "      ") if line.startswith(" ") else wrap(t(line), cols, "  ", "    ")
    if result.catalog.overrides:
        lines.append("")
        for name, (was, now) in result.catalog.overrides.items():
            lines += wrap(f"overridden: assume.{t(name)} = {t(now)} (was {t(was)}; --set)", cols, "  ", "    ")
    if result.warnings:
        lines.append("")
        for w in result.warnings:
            lines += wrap(f"warning: {t(w)}", cols, "  ", "           ")
    if explain:
        lines.append("")
        lines.extend(explain_lines(result, cols))
    return shown("\n".join(lines) + "\n")


def _launcher_lines(result, cols: int) -> list:
    """The framework command lines that run the plan (TRL, verl), when the rule set has a
    launcher for the mode (else launch_command is not even imported)."""
    sc = result.scenario
    if not any(sc.mode in launcher["modes"] for launcher in result.catalog.rulesets[sc.ruleset].launchers):
        return []
    from ..evaluation.launch_command import launchers

    out: list = []
    for launcher in launchers(result):
        out.append("")
        out += wrap(f"run it with {t(launcher['label'])}:", cols, "  ", "    ")
        for command in launcher["lines"]:
            out += _shell_lines(t(command), cols)
    return out


def _shell_lines(command: str, cols: int) -> list:
    """One shell command over several lines, each but the last ending in ' \\' (it pastes as one
    command), broken between words only."""
    out, cur = [], ""
    room = max(20, cols - 8)
    words: list = []
    for word in command.split(" "):  # a flag and its value stay on one line: --num_processes 8
        if words and words[-1].startswith("--") and " " not in words[-1] and not word.startswith("-") and word != "&":
            words[-1] += " " + word
        else:
            words.append(word)
    for word in words:
        if cur and cells(cur) + 1 + cells(word) > room:
            out.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    out.append(cur)
    return [("    " if k == 0 else "      ") + line + (" \\" if k < len(out) - 1 else "") for k, line in enumerate(out)]


def _figures(result, unit: str = "GiB"):
    """The mode's key figures; memory in the binary or the decimal family of the chosen unit."""
    comp = result.compiled
    binary = "i" in unit  # GiB, MiB, TiB; GB, MB, TB are decimal
    from ..language.rules import report_names

    rs = result.catalog.rulesets[comp.ruleset]
    out = []
    for name in report_names(rs, rs.modes[comp.mode]):
        rule = comp.rules[name]
        if rule.per == "device":  # shown per GPU (_device_plan_lines)
            continue
        out.append((t(rule.label), t(value(result.values[name], comp.dims.get(name, ""), binary=binary))))
    return out


BAR_WIDTH = 48
BAR_CHARS = "█▓▒#=+*~%"


def bar_lines(result, unit, cols: int = 80) -> list:
    """A compact bar of the breakdown (per GPU) against the usable capacity:
    [█████████▓▒▒=====|·····]  one character per 1/48 of the larger of the two; what it shows
    follows on the bar's line when the width has room, else on the next; the legend wraps
    between its items."""
    comps = result.components
    total = result.total.bytes
    fit = result.fit
    need = fit.needed_per_gpu.bytes if fit else total
    cap = fit.capacity_per_gpu.bytes if fit else 0.0
    scale = BAR_WIDTH / max(need, cap, 1.0)
    marks, acc = [], 0.0
    for i, c in enumerate(comps):
        share = c.memory.bytes / total * need if total else 0.0
        start, acc = round(acc * scale), acc + share
        marks += [BAR_CHARS[i % len(BAR_CHARS)]] * (round(acc * scale) - start)
    if fit:
        cap_at = round(cap * scale)
        marks += ["·"] * max(0, cap_at - len(marks))
        marks.insert(min(cap_at, len(marks)), "|")
    legend = "  ".join(f"{BAR_CHARS[i % len(BAR_CHARS)]} {t(c.label)}" for i, c in enumerate(comps))
    what = f"{memory(needed(need), unit)} per GPU of {memory(available(cap), unit)} usable (| marks capacity)" if fit \
        else memory(needed(total), unit)
    bar = f"  [{''.join(marks)}]"
    out = [f"{bar} {what}"] if len(bar) + 1 + len(what) <= cols else [bar] + wrap(what, cols, "   ")
    return out + wrap(legend, cols, "   ", "   ", "  ")


def layout(result) -> str:
    i = result.scenario.inputs
    text = f"tp {i['tp']:g} x pp {i['pp']:g} x dp {i['dp']:g}"
    if i.get("cp", 1) > 1:
        text += f", cp {i['cp']:g}"
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


def _spread_lines(result, spread: dict, unit: str, cols: int = 80) -> list:
    """low / best / high: each figure that moves, at every term's low end, as estimated, at every
    term's high end; then what each end assumes (and from where), and the calibrated settings."""
    comp = result.compiled
    binary = "i" in unit
    out = wrap("low / best / high (every term with a measured spread at its low end, as estimated, at its high end):", cols, "  ", "    ")
    for name, v in spread["figures"].items():
        dim = comp.dims.get(name, "")
        shown = [memory(needed(v[e]), unit) if dim == "[information]" else t(value(v[e], dim, binary=binary)) for e in ("low", "best", "high")]
        out += wrap(f"{t(comp.rules[name].label)}: {' / '.join(shown)}", cols, "    ", "      ")
    out += wrap("verdict: " + " / ".join("fits" if spread["fits"][e] else "does not fit" for e in ("low", "best", "high")), cols, "    ", "      ")
    for term in spread["terms"]:
        ends = " / ".join(t(term["texts"][e]) for e in ("low", "best", "high"))
        out += wrap(f"{t(term['name'])}: {ends} ({t(term['source'])})", cols, "    ", "      ")
    for c in spread["calibrated"]:
        out += wrap(f"calibrated: {t(c['name'])} = {t(c['value'])}, fitted to {', '.join(t(m) for m in c['measurements'])}", cols, "    ", "      ")
    return out


def _fit_lines(result, unit, cols: int = 80, note: str = ""):
    plan = result.device_plan()
    if plan is not None:
        return _device_plan_lines(result, plan, unit, cols)
    if result.scenario.mixed:
        return _placement_lines(result, unit, cols)
    f = result.fit
    g = result.scenario.gpu
    marketed = t(g.raw.get("memory"))
    reported = g.raw.get("memory_reported") and t(g.raw.get("memory_reported"))
    cap = memory(available(f.capacity_per_gpu.bytes), unit)
    how = f"driver reports {reported}" if reported else f"as marketed: {marketed}; no driver figure on file"
    if g.facts.get("usable_fraction", 1.0) < 1.0:
        how += f"; {g.facts['usable_fraction']:.0%} usable by the GPU"
    reserve = result.scenario.inputs.get("reserve") or ()
    reserve = reserve if isinstance(reserve, (tuple, list)) else (reserve,)  # one size per GPU (vocabulary kind numbers)
    if any(reserve):  # what other programs hold (--reserve, or the memory in use with --gpu auto)
        how += f"; less --reserve {', '.join(memory(x, unit) for x in reserve)}"
    gid = t(g.id)
    if f.groups:
        return _group_fit_lines(result, unit, cols, cap, how, marketed)
    rows = [f"usable per GPU   {cap}  ({how})",
            f"needed per GPU   {memory(needed(f.needed_per_gpu.bytes), unit)}" + (f"  (the busiest GPU of {layout(result)})" if f.gpus > 1 else ""),
            f"headroom         {memory(available(f.headroom_per_gpu.bytes), unit)}"]
    host = result.host_verdict()
    if host is not None:  # the verdict for the whole plan follows the host's lines
        rows.append(f"GPU verdict      {'fits' if f.headroom_per_gpu.bytes >= 0 else 'does not fit'} on {f.gpus} x {gid}")
    elif f.fits:
        rows.append(f"verdict          FITS on {f.gpus} x {gid}" + (f" {note} (low / best / high below)" if note else ""))
    elif f.gpus_needed:
        rows.append(f"verdict          DOES NOT FIT on {f.gpus} x {gid}; needs {f.gpus_needed} x {gid}"
                    + (f" ({note}: low / best / high below)" if note else ""))
    else:
        # no layout the rules allow holds it: the per-GPU part alone is too large, or the rule set
        # does not grow this workload (llama.cpp's profile plans one GPU)
        rows.append(f"verdict          DOES NOT FIT on {f.gpus} x {gid}, nor on any number of {gid} the rules allow")
    out = wrap(f"GPU: {f.gpus} x {gid} ({t(g.name)}, {marketed})", cols, "  ", "    ")
    for row in rows:
        out += wrap(row, cols, "    ", VALUE_HANG)
    return out


VALUE_HANG = " " * 21  # under the values of the fit lines ('    usable per GPU   ')


def _host_lines(result, unit, cols: int = 80) -> list:
    """The host's usable memory, headroom and the verdict for the whole plan (GPU and host)."""
    h = result.host_verdict()
    if h is None:
        if all(name in result.values for name in ("host_usable", "host_fits")):
            return wrap("host RAM not checked: give --host-ram SIZE (e.g. 32GiB)", cols, "    ", "      ")
        return []
    f = result.fit
    pool = (f"unified memory {memory(h['ram'], unit)} less the GPU's part and the --fit margin" if result.values.get("unified_memory")
            else f"--host-ram {memory(h['ram'], unit)} less the --fit margin")  # unified: one pool, each byte counted once
    rows = [f"usable host RAM  {memory(available(h['usable']), unit)}  ({pool})",
            f"needed           {memory(needed(h['needed']), unit)}" + ("" if f else "  (every buffer: no GPU)"),
            f"headroom         {memory(available(h['headroom']), unit)}"]
    if f is None:  # the CPU is the only device
        rows.append(f"verdict          {'FITS in host RAM' if h['fits'] else 'DOES NOT FIT: the host needs ' + memory(needed(-h['headroom']), unit) + ' more'}")
    else:
        where = t(result.scenario.placement) if result.scenario.mixed else f"{f.gpus} x {t(result.scenario.gpu.id)}"
        if f.fits:
            rows.append(f"verdict          FITS: {where} and the host")
        else:
            short = [f"{s} needs {memory(needed(-room), unit)} more" for s, ok, room in
                     ((where, f.headroom_per_gpu.bytes >= 0, f.headroom_per_gpu.bytes), ("the host", h["fits"], h["headroom"])) if not ok]
            rows.append(f"verdict          DOES NOT FIT: {'; '.join(short)}")
    out = []
    for row in rows:
        out += wrap(row, cols, "    ", VALUE_HANG)
    return out


def _group_fit_lines(result, unit, cols, cap, how, marketed):
    """The verdict when some GPUs have a role of their own (a rollout engine on GPUs of its own):
    the trainer's GPUs, then each group's, each with what one of its GPUs needs, then the whole."""
    f, g = result.fit, result.scenario.gpu
    gid = t(g.id)
    out = wrap(f"GPU: {f.gpus_total} x {gid} ({t(g.name)}, {marketed}); usable per GPU {cap} ({how})", cols, "  ", "    ")
    trainer_fits = result.values.get("headroom", 0.0) >= 0
    out += wrap(f"training: {f.gpus} x {gid} ({layout(result)})", cols, "    ", "      ")
    for row in [f"needed per GPU   {memory(needed(f.needed_per_gpu.bytes), unit)}",
                f"headroom         {memory(available(f.headroom_per_gpu.bytes), unit)}",
                f"verdict          {'fits' if trainer_fits else 'does not fit'}"]:
        out += wrap(row, cols, "      ", " " * 23)
    for grp in f.groups:
        out += wrap(f"{t(grp.label)}: {grp.gpus} x {gid}", cols, "    ", "      ")
        width = max(cells(t(c.label)) for c in grp.components)
        for c in grp.components:
            out += wrap(f"{_pad(t(c.label), width)}  {memory(needed(c.memory.bytes), unit)}", cols, "      ", "        ")
        for row in [f"needed per GPU   {memory(needed(grp.needed_per_gpu.bytes), unit)}",
                    f"headroom         {memory(available(f.capacity_per_gpu.bytes - grp.needed_per_gpu.bytes), unit)}",
                    f"verdict          {'fits' if grp.fits else 'does not fit'}"]:
            out += wrap(row, cols, "      ", " " * 23)
    split = " + ".join([f"{f.gpus} training"] + [f"{grp.gpus} {t(grp.name)}" for grp in f.groups])
    if f.fits:
        verdict = f"FITS on {f.gpus_total} x {gid} ({split})"
    elif f.gpus_needed:
        verdict = f"DOES NOT FIT on {f.gpus_total} x {gid} ({split}); needs {f.gpus_needed} x {gid}"
    else:
        verdict = f"DOES NOT FIT on {f.gpus_total} x {gid} ({split}), nor on any number of {gid} the rules allow"
    out += wrap(f"verdict          {verdict}", cols, "    ", VALUE_HANG)
    return out


def _device_plan_lines(result, plan: list, unit, cols: int = 80) -> list:
    """Several GPUs with a share each (llama.cpp's layer split): per GPU, in the order the
    engine numbers them, its components, figures, need, usable memory and headroom; then the
    verdict of the GPUs together (with --host-ram, the whole plan's follows the host's lines)."""
    f, sc, comp = result.fit, result.scenario, result.compiled
    binary = "i" in unit
    out = wrap(f"GPUs: {t(sc.placement)} ({len(plan)} GPUs, each with its own share)", cols, "  ", "    ")
    for k, d in enumerate(plan):
        g = d["gpu"]
        out += wrap(f"GPU {k}: {t(g.id)} ({t(g.name)}, {t(g.raw.get('memory'))})", cols, "    ", "      ")
        rows = [(t(label), memory(needed(b), unit)) for _n, label, b in d["components"] if b]
        rows += [(t(label), "yes" if x is True else "no" if x is False else t(value(x, comp.dims.get(n, ""), binary=binary)))
                 for n, label, x in d["figures"]]
        width = max((cells(r[0]) for r in rows), default=0)
        for label, text in rows:
            out += wrap(f"{_pad(label, width)}  {text}", cols, "      ", "        ")
        verdict = "fits" if d["fits"] else f"does not fit: needs {memory(needed(-d['headroom']), unit)} more"
        out += wrap(f"needed {memory(needed(d['needed']), unit)} of {memory(available(d['usable']), unit)} usable "
                    f"(less the --fit margin); headroom {memory(available(d['headroom']), unit)}: {verdict}", cols, "      ", "        ")
    ok = all(d["fits"] for d in plan)
    if result.host_verdict() is not None:
        row = f"GPU verdict      {'fits' if ok else 'does not fit'} on {t(sc.placement)}"
    else:
        row = f"verdict          {'FITS' if ok and f.fits else 'DOES NOT FIT'} on {t(sc.placement)}"
    return out + wrap(row, cols, "    ", VALUE_HANG)


def _placement_lines(result, unit, cols: int = 80):
    """GPUs of several types: each type's usable memory, and the verdict for the smallest."""
    f, sc = result.fit, result.scenario
    out = wrap(f"GPUs: {t(sc.placement)} ({f.gpus:g} GPUs, {t(layout(result))})", cols, "  ", "    ")
    usable = result.values.get("usable_per_device")
    for k, (g, c) in enumerate(sc.devices):
        cap = memory(available(usable[k]), unit) if isinstance(usable, list) and k < len(usable) else "?"
        out += wrap(f"{c:g} x {t(g.id)} ({t(g.name)}, {t(g.raw.get('memory'))}): usable {cap} each", cols, "    ", "      ")
    for row in [f"usable per GPU   {memory(available(f.capacity_per_gpu.bytes), unit)}  (the smallest: an even split)",
                f"needed per GPU   {memory(needed(f.needed_per_gpu.bytes), unit)}" + (f"  (the busiest GPU of {layout(result)})" if f.gpus > 1 else ""),
                f"headroom         {memory(available(f.headroom_per_gpu.bytes), unit)}",
                f"verdict          {'FITS' if f.fits else 'DOES NOT FIT'} on {t(sc.placement)}"]:
        out += wrap(row, cols, "    ", VALUE_HANG)
    return out


def explain_lines(result, cols: int = 80) -> list:
    """--explain: the derivation from the total down (evaluation.explain.top_down), each rule
    once with its formula, the file:line of its rule and every value it reads (a fact's source
    the first time its entry cites it); the rules that are zero or read only on a branch not
    taken are folded into the closing lines."""
    from ..evaluation.explain import NOT_TAKEN, ZERO, top_down

    steps, folded, untaken = top_down(result)
    warnings = set(result.compiled.warnings)
    cited: set = set()
    out = wrap("derivation, from the total down (each rule once, where it is first read):", cols, "", "  ")
    for step in steps:
        skip = untaken.get(step.name, ())
        down = step.name in AVAILABLE
        out += wrap(f"{t(step.name)} = {t(value(step.value, step.dim, down=down))}", cols, "  ", "      ")
        out += wrap(t(" ".join(str(step.formula).split())), cols, "      formula: ", " " * 15)
        out += wrap(f"rule at: {t(step.where)}", cols, "      ", " " * 15)
        if step.source:
            out += wrap(f"source:  {t(step.source)}", cols, "      ", " " * 15)
        for inp in step.inputs:
            v = t(value(inp.value, inp.dim, down=inp.name in AVAILABLE))
            if inp.name in skip:
                out += wrap(f"{t(inp.name)} = {v}   (branch not taken)", cols, "      ", "          ")
            elif inp.where == "rule":
                out += wrap(f"{t(inp.name)} = {v}" + ("   (zero: folded)" if folded.get(inp.name) == ZERO else ""), cols, "      ", "          ")
            else:
                entry = f" [{t(inp.entry)}]" if inp.entry else ""
                out += wrap(f"{t(inp.name)} = {v}   <- {t(inp.where)}{entry}", cols, "      ", "          ")
                if inp.source and (inp.entry, inp.source) not in cited:  # an entry's source once, where first cited
                    cited.add((inp.entry, inp.source))
                    out += wrap(f"source: {t(inp.source)}", cols, "          ", " " * 18)
    if folded:
        out += wrap(f"folded: {len(folded)} rule(s) that do not shape the answer (--format json --explain has every step)", cols, "", "  ")
        groups = (("zero", [n for n, why in folded.items() if why == ZERO and n not in warnings]),
                  ("on a branch not taken", [n for n, why in folded.items() if why == NOT_TAKEN]),
                  ("warnings that do not hold", [n for n in folded if n in warnings]))
        for label, names in groups:
            if names:
                out += wrap(f"{label}: " + ", ".join(t(n) for n in names), cols, "  ", "    ", ", ")
    return out


# the rules (engine contract names) whose memory is what a GPU offers or leaves: rounded down
AVAILABLE = frozenset({"usable_memory_per_gpu", "usable_per_device", "headroom"})
