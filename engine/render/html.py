"""The review report as one self-contained HTML file: inline CSS and SVG, no scripts, no network
(no external font, stylesheet or image: the font stacks name fonts installed with the systems).

The change under review comes first (the data changes with the changed assumptions highlighted,
the flipped verdicts, the scenarios not evaluated, the estimates that moved), then the matrix
charts, the verdict table and the assumption table, behind a table of contents. Every memory
figure and axis carries its unit. The chart lays its labels out so they do not collide: model
names get a column as wide as the longest (truncated past MAX_LABEL_W, the full name in a
tooltip), the capacity labels are stacked in as many rows as they need, the totals get a right
margin as wide as the widest."""
from __future__ import annotations

import colorsys
import unicodedata
from html import escape

from ..reading.quantity import memory

PALETTE = {
    "weights": "#4e79a7", "adapter_weights": "#a0cbe8", "gradients": "#f28e2b", "optimizer_states": "#e15759",
    "activations_training": "#76b7b2", "activations_inference": "#76b7b2", "kv_cache": "#59a14f",
    "dequant_buffer": "#edc948", "runtime_overhead": "#bab0ac",
}
EXTRA = ["#b07aa1", "#ff9da7", "#9c755f", "#8cd17d", "#499894", "#d37295"]

# Latin, Greek and Cyrillic first (system UI fonts, Noto Sans, DejaVu Sans), then CJK fallbacks on
# each system: Linux (Noto Sans CJK / Source Han Sans, WenQuanYi), macOS (PingFang, Hiragino),
# Windows (Microsoft YaHei, Meiryo, Malgun Gothic). Sources in the data quote Chinese and Russian.
FONTS = ('system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Helvetica Neue",Arial,"DejaVu Sans",'
         '"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Hiragino Sans GB","Microsoft YaHei",'
         '"WenQuanYi Micro Hei","Noto Sans CJK JP",Meiryo,"Malgun Gothic",sans-serif')
MONO = ('ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono","Liberation Mono",'
        '"Noto Sans Mono CJK SC","Microsoft YaHei",monospace')

CSS = """
body{font:14px/1.45 $FONTS;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
code{font-family:$MONO;font-size:.92em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{margin-top:1.4em}
table{border-collapse:collapse;width:100%;margin:.6em 0}th,td{border:1px solid #ddd;padding:.3em .5em;vertical-align:top;text-align:left}
th{background:#f4f4f4}td.num{text-align:right;white-space:nowrap}.src{color:#555;font-size:.9em;overflow-wrap:anywhere}
th .unit{font-weight:normal;color:#555;white-space:nowrap}
.fit{color:#2a7a2a;font-weight:600}.nofit{color:#b22;font-weight:600}
tr.changed td,td.flipped{background:#fff3c4}tr.changed td:first-child{box-shadow:inset 4px 0 #e0a800}
td.flipped{outline:2px solid #e0a800;outline-offset:-2px}.was{color:#555;font-weight:normal;font-size:.9em}
.legend span{display:inline-block;margin-right:1.2em;white-space:nowrap}
.legend i{display:inline-block;width:12px;height:12px;margin-right:.3em;vertical-align:-1px}
.meta{color:#555}nav#toc{background:#fafafa;border:1px solid #ddd;padding:.4em 1.2em;margin:1em 0}
nav#toc h2{margin:.3em 0;border:0;font-size:1.1em}nav#toc ol{margin:.3em 0}
.alert{background:#fde8e8;border-left:4px solid #b22;padding:.4em .8em}
svg{max-width:100%;height:auto}svg text{font:11px $FONTS;fill:#222}
svg text.total,svg text.cap{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg text.axis-title{font-weight:600}
""".replace("$FONTS", FONTS).replace("$MONO", MONO)

FONT_PX = 11
MAX_LABEL_W = 260        # the model-name column of a chart at most (px); longer names are truncated
WIDTH = 1040             # the chart (px), within the page's 1100


def colors(components) -> dict:
    """A colour per component: the palette, then EXTRA, then hues around the circle (golden
    angle): many components never share a colour."""
    out, extra, k = {}, iter(EXTRA), 0
    for name, _ in components:
        c = PALETTE.get(name) or next(extra, None)
        if c is None:
            r, g, b = colorsys.hls_to_rgb((0.13 + 0.381966 * k) % 1.0, 0.55 - 0.12 * (k % 3), 0.55)
            c = f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
            k += 1
        out[name] = c
    return out


def text_width(text: str, px: float = FONT_PX) -> float:
    """A generous estimate of the width of `text` in the sans-serif stack, with DejaVu Sans (one of
    the widest) as the measure: wide (CJK) characters, the ellipsis, m/w, M/W and other letters
    outside ASCII (Cyrillic ж, ш, ю) one em, capitals 0.8, narrow punctuation and i/l 0.4, the
    rest (lower case, digits) 0.64 em."""
    em = 0.0
    for ch in str(text):
        if ch in "il.,:;'|!()[]{} ·/-":
            em += 0.4
        elif ch in "MWmw@%…" or ord(ch) > 0x7F or unicodedata.east_asian_width(ch) in "WF":
            em += 1.0
        elif ch.isupper():
            em += 0.8
        else:
            em += 0.64
    return em * px


def _fit_text(text: str, width: float) -> str:
    """`text`, cut with an ellipsis to fit `width`."""
    if text_width(text) <= width:
        return text
    while text and text_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _unit_note(unit: str) -> str:
    from ..reading.units import DISPLAY_UNITS

    f = DISPLAY_UNITS[unit]
    if f == 1:
        return "bytes"
    k = 0
    while 1024 ** (k + 1) <= f:
        k += 1
    if 1024 ** k == f:
        return f"2<sup>{10 * k}</sup> bytes"
    k = 0
    while 1000 ** (k + 1) <= f:
        k += 1
    return f"10<sup>{3 * k}</sup> bytes"


def render(rep, unit: str = "GiB") -> str:
    col = colors(rep.components)
    sections = []   # (id, title, html parts)
    if rep.impact is not None:
        sections.append(("change", "Change under review", _impact(rep.impact, unit)))
    sections.append(("matrix", "Scenario matrix", _chart_section(rep, col, unit)))
    sections.append(("verdicts", "Fit verdicts", _matrix_table(rep, unit)))
    sections.append(("assumptions", "Assumptions", _assumptions(rep)))
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{escape(rep.title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{escape(rep.title)}</h1>",
             f'<p class="meta">Generated {escape(rep.generated)} · rule set <code>{escape(rep.ruleset)}</code> · '
             f"memory in {escape(unit)} ({_unit_note(unit)}) · data layers: {escape('; '.join(rep.layers))}</p>",
             '<nav id="toc"><h2>Contents</h2><ol>']
    parts += [f'<li><a href="#{sid}">{escape(title)}</a></li>' for sid, title, _ in sections]
    parts.append("</ol></nav>")
    for sid, title, body in sections:
        parts.append(f'<section id="section-{sid}"><h2 id="{sid}">{escape(title)}</h2>')
        parts += body
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def changed_assumptions(imp) -> dict:
    """{'assume.NAME': old value text or None} for every assumption the change touches."""
    out: dict = {}
    if imp is None:
        return out
    for c in imp.changes:
        if c.entry.startswith("assumptions/"):
            name = "assume." + c.entry.split("/", 1)[1]
            if c.what == "changed" and c.field == "value":
                out[name] = c.old
            else:
                out.setdefault(name, None)
    return out


def _assumptions(rep):
    changed = changed_assumptions(rep.impact)
    out = []
    if changed:
        out.append(f"<p>{len(changed)} assumption(s) changed by the change under review are highlighted.</p>")
    out.append('<table id="assumption-table"><thead><tr><th>name</th><th>value</th><th>owner</th>'
               "<th>reviewed</th><th>source</th></tr></thead><tbody>")
    for a in rep.assumptions:
        age = "never" if a["age_days"] is None else f"{escape(a['reviewed'])} ({a['age_days']} days ago)"
        hit = a["name"] in changed
        was = f'<br><span class="was">was {escape(str(changed[a["name"]]))}</span>' if hit and changed[a["name"]] is not None else ""
        tr = '<tr class="changed">' if hit else "<tr>"
        out.append(f"{tr}<td><code>{escape(a['name'])}</code></td>"
                   f"<td class=\"num\">{escape(str(a['value']))}{was}</td>"
                   f"<td>{escape(a['owner'])}</td><td>{age}</td><td class=\"src\">{escape(a['source'])}<br><i>{escape(a['from'])} ({escape(a['layer'])})</i></td></tr>")
    out.append("</tbody></table>")
    return out


def _chart_section(rep, col, unit):
    out = ["<p>Each bar stacks one scenario's memory components (one GPU, the mode's defaults); dashed lines are the usable "
           f"memory of each reference GPU. The axis is in {escape(unit)}. Bars longer than the axis are cut (») and labelled with their total.</p>",
           '<p class="legend">' + "".join(f'<span><i style="background:{c}"></i>{escape(lbl)}</span>'
                                          for lbl, c in dict((lbl, col[n]) for n, lbl in rep.components).items()) + "</p>"]
    for mode in rep.modes:
        rows = [r for r in rep.rows if r.scenario.mode == mode and not r.error]
        out.append(f"<h3>{escape(mode)}</h3>")
        out.append(_svg(rows, rep.gpus, col, unit, mode))
    return out


def _ticks(top: float, factor: float) -> tuple[float, float]:
    """(step, axis end) in bytes: a round step (1, 2, 2.5 or 5 x 10^k in the display unit) giving
    4 to 8 intervals, the axis ending on a tick at or past `top`."""
    import math

    t = top / factor
    if t <= 0:
        return factor, 4 * factor
    mag = 10 ** math.floor(math.log10(t / 4))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10, 20) if t / (m * mag) <= 8)
    return step * factor, math.ceil(t / step - 1e-9) * step * factor


def _svg(rows, gpus, col, unit, mode) -> str:
    from ..reading.units import DISPLAY_UNITS

    factor = DISPLAY_UNITS[unit]
    rows = sorted(rows, key=lambda r: r.total)
    names = [r.scenario.model for r in rows]
    label_w = min(max([text_width(n) for n in names] + [40]), MAX_LABEL_W) + 12
    row_h = 16
    step, axis_max = _ticks(max([g[2] for g in gpus] + [0]) * 1.6 or max((r.total for r in rows), default=factor), factor)
    plot_w0 = WIDTH - label_w - 20
    totals = [("» " if r.total > axis_max else "") + memory(r.total, unit) for r in rows]
    right = max([text_width(x) for x in totals] + [0]) + 10
    plot_w = plot_w0 - right
    scale = plot_w / axis_max

    # capacity labels, in rows: each goes in the first row where it does not overlap the last label
    caps: list = []          # (gpu, name, usable, line x, label, label's left edge, lane)
    lanes: list[float] = []  # the right edge of the last label in each lane
    for gid, name, usable in sorted(gpus, key=lambda g: g[2]):
        x = label_w + min(usable, axis_max) * scale
        text = f"{gid} {memory(usable, unit)}"
        w = text_width(text)
        left = min(max(x - w / 2, 2), WIDTH - 2 - w)
        lane = next((i for i, edge in enumerate(lanes) if left >= edge + 8), len(lanes))
        if lane == len(lanes):
            lanes.append(0.0)
        lanes[lane] = left + w
        caps.append((gid, name, usable, x, text, left, lane))
    top = 14 * len(lanes) + 12
    bottom = top + row_h * len(rows)
    height = bottom + 40

    s = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-mode="{escape(mode)}" width="{WIDTH}" height="{height}" '
         f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="memory per scenario in {escape(unit)}, {escape(mode)}">']
    for i, r in enumerate(rows):
        y = top + i * row_h
        shown = _fit_text(r.scenario.model, label_w - 12)
        s.append(f'<text class="model" x="{label_w - 6:.1f}" y="{y + 12}" text-anchor="end">{escape(shown)}'
                 f"<title>{escape(r.scenario.model)}</title></text>")
        x = label_w
        for name, label, b in r.components:
            w = min(b * scale, label_w + plot_w - x)
            if w > 0:
                s.append(f'<rect class="seg" data-component="{escape(name)}" x="{x:.1f}" y="{y + 2}" width="{w:.2f}" height="{row_h - 4}" '
                         f'fill="{col.get(name, "#999")}"><title>{escape(r.scenario.model)} {escape(label)}: {memory(b, unit)}</title></rect>')
            x += w
        s.append(f'<text class="total" x="{min(label_w + r.total * scale, label_w + plot_w) + 4:.1f}" y="{y + 12}">{escape(totals[i])}</text>')
    for gid, name, usable, x, _, _, lane in caps:   # the lines first: the labels (with a halo) are drawn over them
        s.append(f'<line class="capacity" data-gpu="{escape(gid)}" x1="{x:.1f}" y1="{14 * lane + 16}" x2="{x:.1f}" y2="{bottom + 2}" '
                 f'stroke="#333" stroke-dasharray="4 3"><title>{escape(name)}: {memory(usable, unit)} usable</title></line>')
    for gid, name, usable, _, text, left, lane in caps:
        s.append(f'<text class="cap" data-gpu="{escape(gid)}" x="{left:.1f}" y="{14 * lane + 12}">{escape(text)}'
                 f"<title>{escape(name)}: {memory(usable, unit)} usable</title></text>")
    s.append(f'<line class="axis" x1="{label_w}" y1="{bottom + 4}" x2="{label_w + plot_w}" y2="{bottom + 4}" stroke="#999"/>')
    k = 0
    while k * step <= axis_max + step * 1e-6:
        v = k * step
        x = label_w + v * scale
        s.append(f'<line x1="{x:.1f}" y1="{bottom + 4}" x2="{x:.1f}" y2="{bottom + 8}" stroke="#999"/>')
        s.append(f'<text class="tick" x="{x:.1f}" y="{bottom + 19}" text-anchor="middle">{v / factor:,.{_digits(step / factor)}f}</text>')
        k += 1
    s.append(f'<text class="axis-title" x="{label_w + plot_w / 2:.1f}" y="{bottom + 34}" text-anchor="middle">'
             f"memory per GPU ({escape(unit)})</text>")
    s.append("</svg>")
    return "".join(s)


def _digits(step: float) -> int:
    return 0 if abs(step - round(step)) < 1e-9 else 1 if abs(step * 10 - round(step * 10)) < 1e-9 else 2


def _matrix_table(rep, unit):
    flipped = {}
    if rep.impact is not None:
        for f in rep.impact.flips:
            if f.key and not f.key[3]:
                flipped[f.key[:3]] = f.old_fits
    head = "".join(f'<th>{escape(g[0])}<br><span class="unit">{memory(g[2], unit)} usable</span></th>' for g in rep.gpus)
    out = []
    if flipped:
        out.append(f"<p>{len(flipped)} verdict(s) flipped by the change under review are highlighted.</p>")
    out.append(f'<table id="matrix-table"><thead><tr><th>model</th><th>mode</th><th>total <span class="unit">({escape(unit)})</span></th>'
               f"{head}</tr></thead><tbody>")
    for r in rep.rows:
        if r.error:
            out.append(f"<tr><td>{escape(r.scenario.model)}</td><td>{escape(r.scenario.mode)}</td><td colspan=\"{len(rep.gpus) + 1}\">"
                       f"not evaluated: {escape(r.error)}</td></tr>")
            continue
        cells = []
        for g in rep.gpus:
            f = rep.fits.get((r.scenario.model, r.scenario.mode), {}).get(g[0])
            key = (r.scenario.model, r.scenario.mode, g[0])
            cls = "fit" if f else "nofit"
            if key in flipped:
                was = "fits" if flipped[key] else "no"
                cells.append(f'<td class="{cls} flipped">{"fits" if f else "no"} <span class="was">(was {was})</span></td>')
            else:
                cells.append(f'<td class="{cls}">{"fits" if f else "no"}</td>')
        out.append(f"<tr><td>{escape(r.scenario.model)}</td><td>{escape(r.scenario.mode)}</td><td class=\"num\">{memory(r.total, unit)}</td>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return out


def _impact(imp, unit):
    from .impact import _change_line, _verdict, not_evaluated

    missing = not_evaluated(imp)
    out = [f"<p><code>{escape(imp.base)}</code> → <code>{escape(imp.new)}</code> over {imp.scenarios} scenarios: "
           f"{len(imp.changes)} data change(s), {len(imp.moves)} estimate(s) moved, <b>{len(imp.flips)} verdict(s) flipped</b>"
           + (f", <b>{len(missing)} scenario(s) not evaluated</b>" if missing else "") + ".</p>"]
    if imp.unevaluated:
        out.append(f'<p class="alert">{len(imp.unevaluated)} scenario(s) could not be evaluated on the new data: '
                   "<code>diff --fail-on</code> fails on them.</p>")
    changes = sorted(imp.changes, key=lambda c: not c.entry.startswith("assumptions/"))  # assumptions first, stable
    out.append('<h3 id="diff-changes-title">Data changes</h3>')
    out.append('<table id="diff-changes"><thead><tr><th>file</th><th>change</th><th>source</th></tr></thead><tbody>')
    for c in changes:
        hit = c.entry.startswith("assumptions/")
        src = escape(c.source) + (f'<br><span class="was">was: {escape(c.old_source)}</span>' if c.old_source and c.old_source != c.source else "")
        tr = '<tr class="changed">' if hit else "<tr>"
        out.append(f"{tr}<td>{escape(c.file)}</td><td><code>{escape(_change_line(c))}</code></td>"
                   f"<td class=\"src\">{src}</td></tr>")
    out.append("</tbody></table>")
    out.append('<h3 id="diff-flips-title">Flipped verdicts</h3>')
    if imp.flips:
        out.append('<table id="diff-flips"><thead><tr><th>scenario</th><th>before</th><th>after</th>'
                   f'<th>needed per GPU <span class="unit">({escape(unit)})</span></th><th>usable <span class="unit">({escape(unit)})</span></th></tr></thead><tbody>')
        for f in imp.flips:
            out.append(f"<tr><td>{escape(f.label)}</td><td>{_verdict(f.old_fits)}</td><td><b>{_verdict(f.new_fits)}</b></td>"
                       f"<td class=\"num\">{memory(f.old_need, unit)} → {memory(f.new_need, unit)}</td><td class=\"num\">{memory(f.capacity, unit)}</td></tr>")
        out.append("</tbody></table>")
    else:
        out.append("<p>No verdict flipped.</p>")
    if missing:
        out.append('<h3 id="diff-errors-title">Scenarios not evaluated</h3>')
        out.append('<table id="diff-errors"><thead><tr><th>scenario</th><th>not evaluated on</th><th>error</th></tr></thead><tbody>')
        out += [f"<tr><td>{escape(label)}</td><td>{escape(where)}</td><td>{escape(msg)}</td></tr>" for label, where, msg in missing]
        out.append("</tbody></table>")
    out.append('<h3 id="diff-moves-title">Estimates moved (largest first)</h3>')
    out.append(f'<table id="diff-moves"><thead><tr><th>scenario</th><th>before <span class="unit">({escape(unit)})</span></th>'
               f'<th>after <span class="unit">({escape(unit)})</span></th><th>change</th></tr></thead><tbody>')
    for m in imp.moves[:50]:
        out.append(f"<tr><td>{escape(m.label)}</td><td class=\"num\">{memory(m.old, unit)}</td><td class=\"num\">{memory(m.new, unit)}</td><td class=\"num\">{m.rel:+.2%}</td></tr>")
    if len(imp.moves) > 50:
        out.append(f"<tr><td colspan=\"4\">… and {len(imp.moves) - 50} more (<code>vramrules diff</code> lists them all)</td></tr>")
    out.append("</tbody></table>")
    return out
