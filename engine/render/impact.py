"""Rendering an impact diff (vramrules diff) as text, Markdown (a pull-request comment) or JSON."""
from __future__ import annotations

from ..reading.quantity import memory
from .terminal import inert as t
from .terminal import shown


def _v(x) -> str:
    if x is None:
        return "(none)"
    if isinstance(x, dict):
        return "{…}"
    return t(x)


def cell(x) -> str:
    """One Markdown table cell of data-provided text: inert (no control character or newline
    that would end the row) and every `|` escaped (it would start a new cell)."""
    return t(x).replace("|", "\\|")


def not_evaluated(imp) -> list[tuple[str, str, str]]:
    """(scenario, where, error) for every scenario not evaluated on some side: both sides first
    (the gate fails on those), then the new side (the change broke it; the gate fails too), then
    the base side (new in NEW: nothing to compare it to)."""
    out = []
    for label, old, new in imp.failed:
        out.append((label, "both sides", new if old == new else f"base: {old}; new: {new}"))
    for which in ("new", "base"):
        out += [(label, f"the {which} side", msg) for label, w, msg in imp.errors if w == which]
    return out


def _change_line(c) -> str:
    if c.what == "added":
        return f"added {t(c.entry)}"
    if c.what == "removed":
        return f"removed {t(c.entry)}"
    name = f"assume.{c.entry.split('/', 1)[1]}" if c.entry.startswith("assumptions/") and c.field == "value" else f"{c.entry}{'.' + c.field if c.field else ''}"
    name = t(name)
    return f"{name}: {_v(c.old)} -> {_v(c.new)}"


def text(imp, unit="GiB", limit=20) -> str:
    lines = [f"diff {t(imp.base)} -> {t(imp.new)} over {imp.scenarios} scenarios", ""]
    if imp.unaffected:
        lines[-1:] = [f"  ({imp.unaffected} of them reached by no change: not evaluated again)", ""]
    lines.append(f"data changes: {len(imp.changes)}")
    for c in imp.changes:
        lines.append(f"  {t(c.file)}: {_change_line(c)}")
        if c.source and c.source != c.old_source:
            lines.append(f"      source: {t(c.source)}")
            if c.old_source:
                lines.append(f"      was:    {t(c.old_source)}")
        elif c.source and c.what != "removed":
            lines.append(f"      source (unchanged): {t(c.source)}")
    lines.append("")
    lines += _moved("estimates moved", imp.moves, limit, unit, with_delta=True)
    if imp.budgets:  # only when some moved: a change of a serving engine's memory fraction
        lines.append("")
        lines += _moved("usable memory moved", imp.budgets, limit, unit, with_delta=False)
    lines.append("")
    lines.append(f"fit verdicts flipped: {len(imp.flips)}")
    for f in imp.flips:
        lines.append(f"  {t(f.label)}: {_verdict(f.old_fits)} -> {_verdict(f.new_fits)} "
                     f"(needs {memory(f.old_need, unit)} -> {memory(f.new_need, unit)} of {memory(f.capacity, unit)})")
    missing = not_evaluated(imp)
    lines.append("")
    lines.append(f"scenarios not evaluated: {len(missing)}")
    for label, where, msg in missing:
        lines.append(f"  {t(label)}: on {where}: {t(msg)}")
    return shown("\n".join(lines) + "\n")


def _verdict(fits) -> str:
    return "fits" if fits else "does not fit"


def markdown(imp, unit="GiB", limit=20) -> str:
    """Markdown for a pull-request comment: each data-provided field escaped as a table cell
    (cell(): a newline would end the row, a `|` start a new cell); the characters stay as they are."""
    lines = [f"### vramrules: `{t(imp.base)}` → `{t(imp.new)}`", "",
             (f"{len(imp.changes)} data change(s), {len(imp.moves)} estimate(s) moved, **{len(imp.flips)} fit verdict(s) flipped** "
              f"over {imp.scenarios} scenarios" + (f" ({imp.unaffected} reached by no change)" if imp.unaffected else "")
              + (f", **{len(not_evaluated(imp))} not evaluated**." if not_evaluated(imp) else ".")), ""]
    missing = not_evaluated(imp)
    if missing:
        lines += ["#### Scenarios not evaluated", "", "| scenario | not evaluated on | error |", "|---|---|---|"]
        lines += [f"| {cell(label)} | {where} | {cell(msg)} |" for label, where, msg in missing]
        lines.append("")
    if imp.changes:
        lines += ["#### Data changes", "", "| file | change | source |", "|---|---|---|"]
        for c in imp.changes:
            src = cell(c.source) if c.source != c.old_source else f"{cell(c.source)} (unchanged)" if c.source else ""
            lines.append(f"| `{cell(c.file)}` | `{cell(_change_line(c))}` | {src} |")
        lines.append("")
    if imp.flips:
        lines += ["#### Fit verdicts flipped", "", "| scenario | before | after | needed per GPU | usable |", "|---|---|---|---|---|"]
        for f in imp.flips:
            lines.append(f"| {cell(f.label)} | {_verdict(f.old_fits)} | **{_verdict(f.new_fits)}** | {memory(f.old_need, unit)} → {memory(f.new_need, unit)} | {memory(f.capacity, unit)} |")
        lines.append("")
    if imp.budgets:
        lines += ["#### Usable memory moved (a serving engine's budget)", "", "| scenario | before | after | change |", "|---|---|---|---|"]
        for m in imp.budgets[:limit]:
            lines.append(f"| {cell(m.label)} | {memory(m.old, unit)} | {memory(m.new, unit)} | {m.rel:+.2%} |")
        lines.append("")
    if imp.moves:
        lines += ["#### Estimates moved (largest first)", "", "| scenario | before | after | change |", "|---|---|---|---|"]
        for m in imp.moves[:limit]:
            lines.append(f"| {cell(m.label)} | {memory(m.old, unit)} | {memory(m.new, unit)} | {m.rel:+.2%} |")
        if len(imp.moves) > limit:
            lines.append(f"| … {len(imp.moves) - limit} more | | | |")
        lines.append("")
    return "\n".join(lines)


def as_json(imp, unit="GiB") -> dict:
    from ..evaluation.document import quantity

    return {
        "base": imp.base, "new": imp.new, "scenarios": imp.scenarios, "unaffected": imp.unaffected,
        "changes": [{"file": c.file, "what": c.what, "entry": c.entry, "field": c.field, "old": c.old, "new": c.new,
                     "source": c.source, "old_source": c.old_source, "where": c.where} for c in imp.changes],
        "moves": [{"scenario": m.label, "before": quantity(m.old, unit), "after": quantity(m.new, unit), "relative": m.rel} for m in imp.moves],
        "usable_moved": [{"scenario": m.label, "before": quantity(m.old, unit, down=True), "after": quantity(m.new, unit, down=True),
                          "relative": m.rel} for m in imp.budgets],
        "flips": [{"scenario": f.label, "before": f.old_fits, "after": f.new_fits, "needed_before": quantity(f.old_need, unit),
                   "needed_after": quantity(f.new_need, unit), "usable": quantity(f.capacity, unit)} for f in imp.flips],
        # every scenario not evaluated on some side; side "both": on neither (message: the new
        # side's error, base_message too when the base side's differs)
        "errors": [{"scenario": l, "side": "both", "message": n, **({"base_message": o} if o != n else {})} for l, o, n in imp.failed]
                  + [{"scenario": l, "side": s, "message": m} for l, s, m in imp.errors],
        "not_evaluated": len(imp.failed) + len(imp.errors),
    }


def _moved(title: str, moves: list, limit: int, unit: str, with_delta: bool) -> list:
    """A list of moved figures, the first `limit` of them: old -> new (the change, relative)."""
    out = [f"{title}: {len(moves)}"]
    for m in moves[:limit]:
        delta = (memory(m.delta, unit).replace("-", "−") if m.delta < 0 else "+" + memory(m.delta, unit)) + ", " if with_delta else ""
        out.append(f"  {t(m.label)}: {memory(m.old, unit)} -> {memory(m.new, unit)} ({delta}{m.rel:+.2%})")
    if len(moves) > limit:
        out.append(f"  ... and {len(moves) - limit} more (--limit)")
    return out
