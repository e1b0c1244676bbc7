"""The review report as Markdown (for a wiki or a pull request): in the HTML report's order, the
change under review first (with --base), then the scenario matrix, then the assumptions."""
from __future__ import annotations

from ..reading.quantity import memory
from .impact import cell as c
from .terminal import inert as t


def render(rep, unit: str = "GiB") -> str:
    """Each data-provided field is escaped as a table cell (impact.cell: no control character,
    no newline that would end a row, no `|` that would start a cell) or made inert (terminal.inert)."""
    from .html import changed_assumptions

    lines = [f"# {t(rep.title)}", "", f"Generated {t(rep.generated)} · rule set `{t(rep.ruleset)}` · memory in {unit} · "
             f"data layers: {t('; '.join(rep.layers))}", ""]
    if rep.impact is not None:
        from .impact import markdown

        lines += ["## Change under review", "", markdown(rep.impact, unit)]
    head = " | ".join(f"{c(g[0])} ({memory(g[2], unit)} usable)" for g in rep.gpus)
    lines += ["## Scenario matrix", "", "Usable memory: " + ", ".join(f"{t(g[0])} {memory(g[2], unit)}" for g in rep.gpus), "",
              f"| model | mode | total ({unit}) | {' | '.join(f'{c(n)} ({unit})' for n, _ in rep.components)} | {head} |",
              "|---|---|---|" + "---|" * (len(rep.components) + len(rep.gpus))]
    for r in rep.rows:
        if r.error:
            lines.append(f"| {c(r.scenario.model)} | {c(r.scenario.mode)} | not evaluated: {c(r.error)} |")
            continue
        comp = {n: b for n, _, b in r.components}
        cells = " | ".join(memory(comp[n], unit) if n in comp else "" for n, _ in rep.components)
        fits = " | ".join("fits" if rep.fits[(r.scenario.model, r.scenario.mode)].get(g[0]) else "no" for g in rep.gpus)
        lines.append(f"| {c(r.scenario.model)} | {c(r.scenario.mode)} | {memory(r.total, unit)} | {cells} | {fits} |")
    changed = changed_assumptions(rep.impact)
    lines += ["", "## Assumptions", ""]
    if changed:
        lines += [f"Changed by the change under review: {', '.join(f'`{t(n)}`' for n in changed)} (**bold**).", ""]
    lines += ["| name | value | owner | reviewed | source |", "|---|---|---|---|---|"]
    for a in rep.assumptions:
        age = "never" if a["age_days"] is None else f"{c(a['reviewed'])} ({a['age_days']} days ago)"
        name = f"**`{c(a['name'])}`**" if a["name"] in changed else f"`{c(a['name'])}`"
        lines.append(f"| {name} | {c(a['value'])} | {c(a['owner'])} | {age} | {c(a['source'])} |")
    return "\n".join(lines) + "\n"
