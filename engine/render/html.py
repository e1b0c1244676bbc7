"""The review report as one self-contained HTML file: inline CSS and SVG, no scripts, no network."""
from __future__ import annotations

from html import escape

from ..reading.quantity import memory

PALETTE = {
    "weights": "#4e79a7", "adapter_weights": "#a0cbe8", "gradients": "#f28e2b", "optimizer_states": "#e15759",
    "activations_training": "#76b7b2", "activations_inference": "#76b7b2", "kv_cache": "#59a14f",
    "dequant_buffer": "#edc948", "runtime_overhead": "#bab0ac",
}
EXTRA = ["#b07aa1", "#ff9da7", "#9c755f", "#8cd17d", "#499894", "#d37295"]

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;margin:.6em 0}th,td{border:1px solid #ddd;padding:.3em .5em;vertical-align:top;text-align:left}
th{background:#f4f4f4}td.num{text-align:right;white-space:nowrap}.src{color:#555;font-size:.9em}
.fit{color:#2a7a2a;font-weight:600}.nofit{color:#b22;font-weight:600}.legend span{display:inline-block;margin-right:1.2em}
.legend i{display:inline-block;width:12px;height:12px;margin-right:.3em;vertical-align:-1px}
.meta{color:#555}svg text{font:11px system-ui,sans-serif}
"""


def colors(components) -> dict:
    out, extra = {}, iter(EXTRA)
    for name, _ in components:
        out[name] = PALETTE.get(name) or next(extra, "#999")
    return out


def render(rep, unit: str = "GiB") -> str:
    col = colors(rep.components)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{escape(rep.title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{escape(rep.title)}</h1>",
             f'<p class="meta">Generated {escape(rep.generated)} · rule set <code>{escape(rep.ruleset)}</code> · '
             f"memory in {unit} (2<sup>30</sup> bytes) unless marked · data layers: {escape('; '.join(rep.layers))}</p>"]
    parts += _assumptions(rep)
    parts += _chart_section(rep, col, unit)
    parts += _matrix_table(rep, unit)
    if rep.impact is not None:
        parts += _impact(rep.impact, unit)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _assumptions(rep):
    out = ['<h2 id="assumptions">Assumptions</h2>', "<table id=\"assumption-table\"><thead><tr><th>name</th><th>value</th><th>owner</th>"
           "<th>reviewed</th><th>source</th></tr></thead><tbody>"]
    for a in rep.assumptions:
        age = "never" if a["age_days"] is None else f"{escape(a['reviewed'])} ({a['age_days']} days ago)"
        out.append(f"<tr><td><code>{escape(a['name'])}</code></td><td class=\"num\">{escape(str(a['value']))}</td>"
                   f"<td>{escape(a['owner'])}</td><td>{age}</td><td class=\"src\">{escape(a['source'])}<br><i>{escape(a['from'])} ({escape(a['layer'])})</i></td></tr>")
    out.append("</tbody></table>")
    return out


def _chart_section(rep, col, unit):
    out = ['<h2 id="matrix">Scenario matrix</h2>',
           "<p>Each bar stacks one scenario's memory components (one GPU, the mode's defaults); dashed lines are the usable "
           "memory of each reference GPU. Bars longer than the axis are cut and labelled with their total.</p>",
           '<p class="legend">' + "".join(f'<span><i style="background:{c}"></i>{escape(l)}</span>' for l, c in dict((l, col[n]) for n, l in rep.components).items()) + "</p>"]
    for mode in rep.modes:
        rows = [r for r in rep.rows if r.scenario.mode == mode and not r.error]
        out.append(f"<h3>{escape(mode)}</h3>")
        out.append(_svg(rows, rep.gpus, col, unit, mode))
    return out


def _svg(rows, gpus, col, unit, mode) -> str:
    from ..reading.units import DISPLAY_UNITS

    rows = sorted(rows, key=lambda r: r.total)
    label_w, width, row_h, top = 170, 920, 16, 34
    plot_w = width - label_w - 90
    axis_max = max([g[2] for g in gpus] + [0]) * 1.6 or max((r.total for r in rows), default=1)
    scale = plot_w / axis_max
    height = top + row_h * len(rows) + 24
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-mode="{escape(mode)}" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" role="img" aria-label="memory per scenario, {escape(mode)}">']
    for i, r in enumerate(rows):
        y = top + i * row_h
        s.append(f'<text x="{label_w - 6}" y="{y + 11}" text-anchor="end">{escape(r.scenario.model)}</text>')
        x = label_w
        for name, label, b in r.components:
            w = min(b * scale, label_w + plot_w - x)
            if w > 0:
                s.append(f'<rect class="seg" data-component="{escape(name)}" x="{x:.1f}" y="{y + 2}" width="{w:.2f}" height="{row_h - 4}" '
                         f'fill="{col.get(name, "#999")}"><title>{escape(r.scenario.model)} {escape(label)}: {memory(b, unit)}</title></rect>')
            x += w
        cut = r.total * scale > plot_w
        s.append(f'<text x="{min(label_w + r.total * scale, label_w + plot_w) + 4:.1f}" y="{y + 11}">{"» " if cut else ""}{memory(r.total, unit)}</text>')
    for j, (gid, name, usable) in enumerate(gpus):
        x = label_w + usable * scale
        s.append(f'<line class="capacity" data-gpu="{escape(gid)}" x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 20}" '
                 f'stroke="#333" stroke-dasharray="4 3"><title>{escape(name)}: {memory(usable, unit)} usable</title></line>')
        s.append(f'<text x="{x:.1f}" y="{10 + 11 * (j % 2)}" text-anchor="middle">{escape(gid)} {memory(usable, unit)}</text>')
    s.append(f'<line x1="{label_w}" y1="{height - 20}" x2="{label_w + plot_w}" y2="{height - 20}" stroke="#999"/>')
    for k in range(5):
        v = axis_max * k / 4
        s.append(f'<text x="{label_w + v * scale:.1f}" y="{height - 6}" text-anchor="middle">{v / DISPLAY_UNITS[unit]:.0f}</text>')
    s.append("</svg>")
    return "".join(s)


def _matrix_table(rep, unit):
    head = "".join(f"<th>{escape(g[0])}</th>" for g in rep.gpus)
    out = ['<h2 id="verdicts">Fit verdicts</h2>', f'<table id="matrix-table"><thead><tr><th>model</th><th>mode</th><th>total</th>{head}</tr></thead><tbody>']
    for r in rep.rows:
        if r.error:
            out.append(f"<tr><td>{escape(r.scenario.model)}</td><td>{escape(r.scenario.mode)}</td><td colspan=\"{len(rep.gpus) + 1}\">{escape(r.error)}</td></tr>")
            continue
        cells = []
        for g in rep.gpus:
            f = rep.fits.get((r.scenario.model, r.scenario.mode), {}).get(g[0])
            cells.append('<td class="fit">fits</td>' if f else '<td class="nofit">no</td>')
        out.append(f"<tr><td>{escape(r.scenario.model)}</td><td>{escape(r.scenario.mode)}</td><td class=\"num\">{memory(r.total, unit)}</td>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return out


def _impact(imp, unit):
    from .impact import _change_line, _verdict

    out = ['<h2 id="diff">Impact of the change</h2>', f"<p><code>{escape(imp.base)}</code> → <code>{escape(imp.new)}</code>: "
           f"{len(imp.changes)} data change(s), {len(imp.moves)} estimate(s) moved, <b>{len(imp.flips)} verdict(s) flipped</b>.</p>"]
    out.append('<table id="diff-changes"><thead><tr><th>file</th><th>change</th><th>source</th></tr></thead><tbody>')
    for c in imp.changes:
        out.append(f"<tr><td>{escape(c.file)}</td><td><code>{escape(_change_line(c))}</code></td><td class=\"src\">{escape(c.source)}</td></tr>")
    out.append("</tbody></table>")
    if imp.flips:
        out.append('<table id="diff-flips"><thead><tr><th>scenario</th><th>before</th><th>after</th><th>needed per GPU</th></tr></thead><tbody>')
        for f in imp.flips:
            out.append(f"<tr><td>{escape(f.label)}</td><td>{_verdict(f.old_fits)}</td><td><b>{_verdict(f.new_fits)}</b></td>"
                       f"<td class=\"num\">{memory(f.old_need, unit)} → {memory(f.new_need, unit)}</td></tr>")
        out.append("</tbody></table>")
    out.append('<table id="diff-moves"><thead><tr><th>scenario</th><th>before</th><th>after</th><th>change</th></tr></thead><tbody>')
    for m in imp.moves[:50]:
        out.append(f"<tr><td>{escape(m.label)}</td><td class=\"num\">{memory(m.old, unit)}</td><td class=\"num\">{memory(m.new, unit)}</td><td class=\"num\">{m.rel:+.2%}</td></tr>")
    out.append("</tbody></table>")
    return out
