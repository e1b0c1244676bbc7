"""The review report as Markdown (for a wiki or a pull request)."""
from __future__ import annotations

from ..reading.quantity import memory
from .terminal import inert as t


def render(rep, unit: str = "GiB") -> str:
    """Data-provided text is escaped (terminal.inert): no control character, and no newline that
    would end a table row, reaches the file."""
    lines = [f"# {t(rep.title)}", "", f"Generated {rep.generated} · rule set `{t(rep.ruleset)}` · memory in {unit} · data layers: {t('; '.join(rep.layers))}", "",
             "## Assumptions", "", "| name | value | owner | reviewed | source |", "|---|---|---|---|---|"]
    for a in rep.assumptions:
        age = "never" if a["age_days"] is None else f"{t(a['reviewed'])} ({a['age_days']} days ago)"
        lines.append(f"| `{t(a['name'])}` | {t(a['value'])} | {t(a['owner'])} | {age} | {t(a['source'])} |")
    head = " | ".join(t(g[0]) for g in rep.gpus)
    lines += ["", "## Scenario matrix", "", "Usable memory: " + ", ".join(f"{t(g[0])} {memory(g[2], unit)}" for g in rep.gpus), "",
              f"| model | mode | total | {' | '.join(t(n) for n, _ in rep.components)} | {head} |",
              "|---|---|---|" + "---|" * (len(rep.components) + len(rep.gpus))]
    for r in rep.rows:
        if r.error:
            lines.append(f"| {t(r.scenario.model)} | {t(r.scenario.mode)} | error: {t(r.error)} |")
            continue
        comp = {n: b for n, _, b in r.components}
        cells = " | ".join(memory(comp[n], unit) if n in comp else "" for n, _ in rep.components)
        fits = " | ".join("fits" if rep.fits[(r.scenario.model, r.scenario.mode)].get(g[0]) else "no" for g in rep.gpus)
        lines.append(f"| {t(r.scenario.model)} | {t(r.scenario.mode)} | {memory(r.total, unit)} | {cells} | {fits} |")
    if rep.impact is not None:
        from .impact import markdown

        lines += ["", "## Impact of the change", "", markdown(rep.impact, unit)]
    return "\n".join(lines) + "\n"
