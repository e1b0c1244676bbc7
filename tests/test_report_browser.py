"""The HTML report renders in a real browser: headless Chromium (Debian's chromium package, which
.ci/run installs) loads the file; the DOM has the chart and tables, and the screenshot shows the
bars in their colours."""
import os
import shutil
import struct
import subprocess
import zlib

import pytest
from click.testing import CliRunner

from vramrules.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--hide-scrollbars"]

pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="chromium not installed (CI installs it)")


def _png_pixels(data: bytes):
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) to (width, height, rows of bytes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and ctype in (2, 6)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def test_report_renders_in_headless_chromium(tmp_path):
    assert CHROMIUM, "chromium is required in CI: .ci/run installs Debian's chromium package"
    out = tmp_path / "review.html"
    r = CliRunner().invoke(main, ["report", "--out", str(out), "--models", "llama3.1-8b,llama3-70b,mixtral-8x7b", "--modes", "inference,train-lora"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    profile = tmp_path / "profile"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", out.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert dom.count('class="chart"') == 2
    assert dom.count('class="seg"') >= 6 * 3  # three scenarios, several components each, per mode
    assert 'id="assumption-table"' in dom and "assume.cuda_context" in dom
    assert 'id="matrix-table"' in dom and "llama3-70b" in dom
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1200,2400", f"--screenshot={shot}", out.as_uri()],
                   capture_output=True, timeout=120)
    width, height, bpp, rows = _png_pixels(shot.read_bytes())
    weights_blue = bytes((0x4E, 0x79, 0xA7))
    hits = sum(1 for row in rows for x in range(0, width * bpp, bpp) if row[x:x + 3] == weights_blue)
    assert hits > 500, "the weights segments (#4e79a7) are not visible in the rendered page"


# Injected into a copy of the report (which itself has no script): every chart's <text> boxes as
# the browser lays them out, the pairs that overlap and the boxes outside the chart.
MEASURE = """<script>
const found = {overlaps: [], outside: [], texts: 0, charts: 0, font: getComputedStyle(document.body).fontFamily};
for (const svg of document.querySelectorAll("svg.chart")) {
  found.charts++;
  const vb = svg.viewBox.baseVal;
  const boxes = [...svg.querySelectorAll("text")].map(t => {
    const b = t.getBBox();
    return {text: [...t.childNodes].filter(n => n.nodeType === 3).map(n => n.nodeValue).join(""), x: b.x, y: b.y, w: b.width, h: b.height};
  });
  found.texts += boxes.length;
  boxes.forEach((a, i) => {
    if (a.x < -0.5 || a.x + a.w > vb.width + 0.5 || a.y < -0.5 || a.y + a.h > vb.height + 0.5) found.outside.push(a.text);
    for (const b of boxes.slice(i + 1))
      if (a.x + a.w > b.x + 0.5 && b.x + b.w > a.x + 0.5 && a.y + a.h > b.y + 0.5 && b.y + b.h > a.y + 0.5) found.overlaps.push([a.text, b.text]);
  });
}
const pre = document.createElement("pre"); pre.id = "layout"; pre.textContent = JSON.stringify(found); document.body.appendChild(pre);
</script>"""


def _layout(tmp_path, page: str) -> dict:
    import html
    import json
    import re

    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(html.unescape(re.search(r'<pre id="layout">(.*?)</pre>', dom, re.S).group(1)))


def test_chart_labels_do_not_overlap_in_the_browser(tmp_path):
    """Long model names (Latin, CJK, Cyrillic), 14 components and six GPUs within 2 GiB of each
    other: as Chromium lays the labels out, none overlaps another or leaves the chart."""
    assert CHROMIUM, "chromium is required in CI: .ci/run installs Debian's chromium package"
    from test_report_layout import _synthetic

    from vramrules.render.html import render

    found = _layout(tmp_path, render(_synthetic()))
    assert found["charts"] == 1 and found["texts"] >= 5 + 6 + 5 + 1
    assert found["overlaps"] == [] and found["outside"] == []
    assert "Noto Sans CJK SC" in found["font"] and "Microsoft YaHei" in found["font"]


def test_report_labels_do_not_overlap_in_the_browser(tmp_path):
    """The report of the whole catalog (every mode, the four reference GPUs, l4 and rtx-4090
    within 1.5 GiB): no label overlaps another or leaves its chart."""
    assert CHROMIUM, "chromium is required in CI: .ci/run installs Debian's chromium package"
    out = tmp_path / "review.html"
    r = CliRunner().invoke(main, ["report", "--out", str(out), "--modes", "inference,train-full"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    found = _layout(tmp_path, out.read_text(encoding="utf-8"))
    assert found["charts"] == 2 and found["texts"] > 80
    assert found["overlaps"] == [] and found["outside"] == []
