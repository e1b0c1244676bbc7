"""The HTML review report's layout, read from the file (test_report_browser.py loads it in
Chromium): the change under review comes first behind a table of contents, the changed
assumptions and flipped verdicts are highlighted, every axis and column names its unit, the
chart labels do not collide with long model names, many components and close GPU capacities,
the font stacks cover the scripts of the sources (CJK, Cyrillic) and nothing is fetched."""
import html as H
import re

import pytest
import yaml
from click.testing import CliRunner

from vramrules.cli import main
from vramrules.questions.matrix import Row, Scenario
from vramrules.questions.report import Report
from vramrules.render import html as R

FRAG = "assumptions:\n  allocator_fragmentation:\n    value: 0.5\n    source: \"stress test | 压力测试 | нагрузочный тест\"\n"


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """A report of a change that flips llama3.1-8b on an L4 (fragmentation 0.05 -> 0.5)."""
    tmp = tmp_path_factory.mktemp("review")
    (tmp / "frag").mkdir()
    (tmp / "frag" / "assumptions.yaml").write_text(FRAG, encoding="utf-8")
    out = tmp / "review.html"
    r = run("report", "--out", str(out), "--data", str(tmp / "frag"), "--base", "builtin",
            "--models", "llama3.1-8b,qwen2.5-0.5b", "--modes", "inference", "--gpus", "l4,a100-40gb")
    assert r.exit_code == 0, r.output
    assert "1 flipped verdicts" in r.output
    return out.read_text(encoding="utf-8")


def _ids(page):
    return re.findall(r'<h2 id="([^"]+)"', page)


def test_the_change_comes_first_behind_a_table_of_contents(reviewed):
    assert _ids(reviewed) == ["change", "matrix", "verdicts", "assumptions"]
    toc = reviewed.split('<nav id="toc">', 1)[1].split("</nav>", 1)[0]
    assert re.findall(r'href="#([^"]+)"', toc) == ["change", "matrix", "verdicts", "assumptions"]
    assert reviewed.index('<nav id="toc">') < reviewed.index('<h2 id="change">')
    # inside the change: the data changes, the flipped verdicts, the estimates moved; then the matrix
    order = [reviewed.index(f'id="{i}"') for i in ("diff-changes", "diff-flips", "diff-moves", "matrix", "matrix-table", "assumption-table")]
    assert order == sorted(order)
    assert "1 verdict(s) flipped</b>" in reviewed


def test_changed_assumptions_and_flipped_verdicts_are_highlighted(reviewed):
    changes = reviewed.split('id="diff-changes"', 1)[1].split("</table>", 1)[0]
    assert changes.count('<tr class="changed">') == 1 and "assume.allocator_fragmentation: 0.05 -&gt; 0.5" in changes
    table = reviewed.split('id="assumption-table"', 1)[1].split("</table>", 1)[0]
    hit = [row for row in table.split("<tr") if 'class="changed"' in row]
    assert len(hit) == 1 and "assume.allocator_fragmentation" in hit[0] and "was 0.05" in hit[0]
    verdicts = reviewed.split('id="matrix-table"', 1)[1].split("</table>", 1)[0]
    flipped = re.findall(r'<td class="(\w+) flipped">([^<]*)<span class="was">\(was (\w+)\)', verdicts)
    assert flipped == [("nofit", "no ", "fits")]
    head = re.findall(r"<th>([^<]+)", reviewed.split('id="matrix-table"', 1)[1].split("</thead>", 1)[0])
    assert head == ["model", "mode", "total ", "l4", "a100-40gb"]
    row = [r for r in verdicts.split("<tr>") if "llama3.1-8b" in r][0]
    cells = re.findall(r"<td[^>]*>", row)
    assert cells[3] == '<td class="nofit flipped">' and cells[4] == '<td class="fit">'  # the L4 column


def test_nothing_is_fetched(reviewed):
    assert "<script" not in reviewed and "<link" not in reviewed and "<img" not in reviewed
    assert " src=" not in reviewed and "url(" not in reviewed and "@import" not in reviewed and "@font-face" not in reviewed
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', reviewed))


def test_font_stacks_cover_cjk_and_cyrillic(reviewed):
    css = reviewed.split("<style>", 1)[1].split("</style>", 1)[0]
    body = re.search(r"body\{font:14px/1\.45 ([^;]+);", css).group(1)
    svg = re.search(r"svg text\{font:11px ([^;]+);", css).group(1)
    assert body == svg
    fonts = [f.strip().strip('"') for f in body.split(",")]
    assert fonts[0] == "system-ui" and fonts[-1] == "sans-serif"
    for needed in ("Noto Sans", "DejaVu Sans", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei"):
        assert needed in fonts
    assert fonts.index("Noto Sans") < fonts.index("Noto Sans CJK SC")  # Cyrillic/Latin glyphs from a Latin font first
    assert "压力测试" in reviewed and "нагрузочный тест" in reviewed and '<meta charset="utf-8">' in reviewed


def _texts(svg):
    """[(class, x, y, anchor, text)] of an SVG's <text> elements (their <title> left out)."""
    out = []
    for attrs, body in re.findall(r"<text ([^>]*)>(.*?)</text>", svg):
        a = dict(re.findall(r'([\w-]+)="([^"]*)"', attrs))
        out.append((a.get("class", ""), float(a["x"]), float(a["y"]), a.get("text-anchor", "start"), H.unescape(re.sub(r"<title>.*?</title>", "", body))))
    return out


def test_axes_and_columns_name_their_unit(reviewed, tmp_path):
    svgs = re.findall(r"<svg .*?</svg>", reviewed)
    assert len(svgs) == 1
    texts = _texts(svgs[0])
    assert [t[4] for t in texts if t[0] == "axis-title"] == ["memory per GPU (GiB)"]
    ticks = [float(t[4].replace(",", "")) for t in texts if t[0] == "tick"]
    assert ticks[0] == 0 and len(ticks) >= 4 and len({round(b - a, 6) for a, b in zip(ticks, ticks[1:])}) == 1  # round, even steps
    figures = [t[4] for t in texts if t[0] in ("total", "cap")]
    assert figures and all(re.search(r"\d GiB$", f) for f in figures)
    assert not re.search(r"\d ?GB\b", " ".join(t[4] for t in texts))
    head = reviewed.split('id="matrix-table"', 1)[1].split("</thead>", 1)[0]
    assert 'total <span class="unit">(GiB)</span>' in head and "22.49 GiB usable" in head and "40.00 GiB usable" in head
    assert "memory in GiB (2<sup>30</sup> bytes)" in reviewed
    out = tmp_path / "gb.html"
    assert run("report", "--out", str(out), "--models", "qwen2.5-0.5b", "--modes", "inference", "--units", "GB").exit_code == 0
    gb = out.read_text(encoding="utf-8")
    assert "memory in GB (10<sup>9</sup> bytes)" in gb and "memory per GPU (GB)</text>" in gb


LONG = "acme-internal-llama3.1-8b-instruct-longcontext-finetune-2026-v2"


def _width(text, px=11):
    """The test's own estimate of a label's width, from DejaVu Sans' advance widths (the font
    Chromium falls back to on a bare Linux): em per character."""
    em = 0.0
    for ch in text:
        if ch in "il.,:;'|!()[]{} ·/-":
            em += 0.4 if ch in "()[]{}" else 0.36
        elif ch in "mwMW@%…" or ord(ch) > 0x7F:
            em += 1.0
        elif ch.isupper():
            em += 0.79
        else:
            em += 0.637  # the digits; lower-case letters are 0.28 (f, t, r) to 0.66
    return px * em


def _extent(t):
    cls, x, y, anchor, text = t
    w = _width(text)
    left = x - w if anchor == "end" else x - w / 2 if anchor == "middle" else x
    return left, left + w, y


def _synthetic():
    """Long model names, 14 components and six GPUs within 2 GiB of each other."""
    comps = [(f"component_{i}", f"component number {i}") for i in range(14)]
    gib = 2**30
    gpus = [(f"gpu-{n}", f"GPU {n}", (22 + 0.4 * n) * gib) for n in range(6)]
    names = [LONG, "qwen2.5-0.5b", "模型-中文名称-很长的模型名字", "модель-с-длинным-русским-названием", "x" * 120]
    rows = [Row(Scenario(m, "inference", "gpu-0"), total=(3 + 9 * i) * gib, components=[(n, lbl, (3 + 9 * i) * gib / 14) for n, lbl in comps])
            for i, m in enumerate(names)]
    fits = {(m, "inference"): {g[0]: True for g in gpus} for m in names}
    return Report("review", "2026-12-01", ["built-in: data"], "default", [], ["inference"], gpus, rows, fits, components=comps)


def test_chart_labels_do_not_collide():
    page = R.render(_synthetic())
    svg = re.search(r"<svg .*?</svg>", page).group(0)
    width = float(re.search(r'width="([\d.]+)"', svg).group(1))
    texts = _texts(svg)
    boxes = [_extent(t) for t in texts]
    assert all(left >= 0 and right <= width for left, right, _ in boxes), [t for t, b in zip(texts, boxes) if b[0] < 0 or b[1] > width]
    for i, (a, ta) in enumerate(zip(boxes, texts)):
        for b, tb in zip(boxes[i + 1:], texts[i + 1:]):
            if abs(a[2] - b[2]) < 11:  # on the same line
                assert a[1] <= b[0] or b[1] <= a[0], f"{ta[4]!r} collides with {tb[4]!r}"
    caps = [t for t in texts if t[0] == "cap"]
    assert len(caps) == 6 and len({t[2] for t in caps}) > 1  # six labels within 2 GiB need several rows
    models = [t[4] for t in texts if t[0] == "model"]
    assert LONG in models or any(m.endswith("…") for m in models)
    assert "x" * 120 not in models and f"<title>{'x' * 120}</title>" in svg  # cut, the full name in the tooltip
    assert "模型-中文名称-很长的模型名字" in models and any(m.startswith("модель-с-длинным") for m in models)


def test_many_components_get_distinct_colours():
    rep = _synthetic()
    col = R.colors(rep.components + [("weights", "weights"), ("kv_cache", "KV cache")])
    assert len(set(col.values())) == 16
    page = R.render(rep)
    legend = page.split('<p class="legend">', 1)[1].split("</p>", 1)[0]
    assert legend.count("<span>") == 14


def test_end_to_end_with_a_long_model_name(tmp_path):
    from pathlib import Path

    from vramrules.reading.datadir import builtin_data_dir

    entry = yaml.safe_load((Path(builtin_data_dir()) / "models.yaml").read_text(encoding="utf-8"))["models"]["llama3.1-8b"]
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "models.yaml").write_text(yaml.safe_dump({"models": {LONG: entry}}), encoding="utf-8")
    out = tmp_path / "r.html"
    r = run("report", "--out", str(out), "--data", str(tmp_path / "d"), "--models", f"{LONG},qwen2.5-0.5b", "--modes", "train-full",
            "--gpus", "l4,rtx-4090,rtx-3090,a100-40gb,h100-sxm-80gb")
    assert r.exit_code == 0, r.output
    svg = re.search(r"<svg .*?</svg>", out.read_text(encoding="utf-8")).group(0)
    boxes = [_extent(t) for t in _texts(svg)]
    assert min(b[0] for b in boxes) >= 0
    caps = sorted((_extent(t) for t in _texts(svg) if t[0] == "cap"), key=lambda b: (b[2], b[0]))
    assert all(a[1] <= b[0] for a, b in zip(caps, caps[1:]) if a[2] == b[2])


def test_markdown_report_puts_the_change_first(tmp_path):
    (tmp_path / "frag").mkdir()
    (tmp_path / "frag" / "assumptions.yaml").write_text(FRAG, encoding="utf-8")
    out = tmp_path / "review.md"
    r = run("report", "--out", str(out), "--data", str(tmp_path / "frag"), "--base", "builtin",
            "--models", "llama3.1-8b", "--modes", "inference", "--gpus", "l4")
    assert r.exit_code == 0, r.output
    md = out.read_text(encoding="utf-8")
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads == ["## Change under review", "## Scenario matrix", "## Assumptions"]
    assert "| **`assume.allocator_fragmentation`** | 0.5 |" in md
    assert "stress test \\| 压力测试 \\| нагрузочный тест" in md  # a | in a source stays inside its cell
    assert "| model | mode | total (GiB) |" in md and "| l4 (22.49 GiB usable) |" in md
