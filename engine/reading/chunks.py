"""A data file cut into its entries without parsing it: each entry of a section (`models:`,
`gpus:`, ...) is the run of lines from its key to the next key at the same indentation. A run
after an edit parses and checks only the entries whose text changed (evaluation/load.py); the
rest are taken from the catalog built before.

Only the plain block layout every data file uses is cut: top-level keys at column 0, a
section's entries as plain keys at one indentation. Anything else (document markers,
directives, tabs, a flow-style section, a quoted or complex key, a line indented less than the
entries but more than 0) makes `split` return None and the file is parsed whole, as before. A cut
that YAML would read otherwise (a quoted or flow value running over an entry boundary) leaves
the entry before it unparseable, and the caller then parses the whole file: the cut never
changes what a file means. tests/test_chunks.py checks that the parts read as the whole does.
"""
from __future__ import annotations

import re

_TOP = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*):[ ]*(#.*)?$")        # a section: `models:` and nothing after it
_TOP_ANY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*:(?: |$)")         # any top-level key line
_KEY = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.+-]*):(?:[ ]|$)")    # an entry's key: plain text, then ':'


class Part:
    """One cut: an entry (section, key) or a top-level block that is not cut (key None)."""

    __slots__ = ("section", "key", "first", "text")

    def __init__(self, section: str | None, key: str | None, first: int, text: str):
        self.section, self.key, self.first, self.text = section, key, first, text  # first: 0-based line

    def __repr__(self):
        return f"Part({self.section}/{self.key} at line {self.first + 1})"


def split(text: str, sections) -> list[Part] | None:
    """The file as parts in file order, or None when it is not in the plain layout. `sections`:
    the top-level keys whose entries are cut. Leading comments and blank lines belong to no part;
    comments between entries belong to the entry before them. Regular expressions over the whole
    text, not a loop over lines: a 10 MB file is cut in a few milliseconds."""
    if "\t" in text or "\r" in text:
        return None
    tops = [m.start() for m in _LINE0.finditer("\n" + text)]  # "\n" + text: offset in text = match start
    if not tops:
        return None
    parts: list[Part] = []
    line = 0
    at = 0
    for n, start in enumerate(tops):
        end = tops[n + 1] if n + 1 < len(tops) else len(text)
        line += text.count("\n", at, start)
        at = start
        eol = text.find("\n", start, end)
        head_text = text[start:eol if eol >= 0 else end]
        if head_text.startswith(("---", "...", "%")) or not _TOP_ANY.match(head_text):
            return None
        head = _TOP.match(head_text)
        if head is None or head.group(1) not in sections:
            parts.append(Part(None, None, line, text[start:end].rstrip("\n")))
            continue
        section = head.group(1)
        parts.append(Part(section, None, line, head_text))  # the section's own line
        entries = _entries(text, eol + 1 if eol >= 0 else end, end, line + 1, section)
        if entries is None:
            return None
        parts += entries
    return parts


# Patterns start with a newline, not ^ in MULTILINE mode: a literal prefix lets the regular
# expression engine skip ahead instead of trying every position (10x faster on a large file).
_LINE0 = re.compile(r"\n[^ #\n]")                     # a line that starts at column 0 (not a comment)
_INDENT = re.compile(r"\n( +)[^ #\n]")                # the first indented line that is not a comment


def _entries(text: str, start: int, end: int, line: int, section: str):
    """The section's entries between offsets start and end (line: the 0-based line at start), or None."""
    start -= 1  # at the newline before the section's first line (the section line's own end)
    first = _INDENT.search(text, start, end)
    if first is None:
        return None  # an empty section reads as null, not {}: parsed whole
    n = len(first.group(1))
    for depth in range(1, n):
        if re.compile(rf"\n {{{depth}}}[^ #\n]").search(text, start, end):
            return None  # a line indented less than the entries
    out: list[Part] = []
    at, prev = start + 1, None
    for m in re.compile(rf"\n {{{n}}}([^ #\n][^\n]*)").finditer(text, start, end):
        key = _KEY.match(m.group(1))
        if key is None:
            return None  # a list item, a quoted or complex key, a flow section
        begin = m.start() + 1
        line += text.count("\n", at, begin)
        at = begin
        if prev is not None:
            out.append(Part(section, prev[0], prev[1], text[prev[2]:begin].rstrip("\n")))
        prev = (key.group(1), line, begin)
    if prev is not None:
        out.append(Part(section, prev[0], prev[1], text[prev[2]:end].rstrip("\n")))
    return out
