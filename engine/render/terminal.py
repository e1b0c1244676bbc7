"""Text for a terminal. What the data provides (names, labels, sources, warnings, file names,
nvidia-smi output) is shown, never obeyed: ESC, CSI, OSC, BEL and every other C0/C1 control,
line separator or bidi override becomes a visible escape (\\x1b, \\x9b, \\u202e), also when the
output is piped. And what is printed fits the output stream's encoding: on a cp1252 or latin-1
terminal the bar and box characters fall back to ASCII instead of raising UnicodeEncodeError.
And it fits the width it is printed on (width(), wrap()): long cells (names, sources, formulas)
wrap between words, never inside a number or between a number and its unit.
"""
from __future__ import annotations

import codecs
import os
import sys

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    o = ord(ch)
    return _NAMED.get(ch) or (f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")


def inert(text) -> str:
    """One line of data-provided text with every non-printable character (str.isprintable: the
    controls, format and separator characters; the space excepted) escaped, newlines included:
    a name cannot start a line that looks like our own output."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else _escape(ch) for ch in text)


def inert_lines(text: str) -> str:
    """A whole rendered output: like inert() on each line, the newlines kept."""
    if all(line.isprintable() for line in text.split("\n")):
        return text
    return "\n".join(inert(line) for line in text.split("\n"))


# what the text renderers draw, for a stream that cannot encode it (the bar's fills stay distinct
# from its other characters: # = + * ~ %)
ASCII = {"█": "@", "▓": "X", "▒": "o", "·": ".", "−": "-", "→": "->", "←": "<-", "…": "...", "—": "-", "–": "-",
         "×": "x", "≈": "~", "≤": "<=", "≥": ">="}


def _fallback(exc):
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return "".join(ASCII.get(ch) or _escape(ch) for ch in exc.object[exc.start:exc.end]), exc.end


codecs.register_error("vramrules-ascii", _fallback)


def for_stream(text: str, stream=None) -> str:
    """`text` as the stream can encode it: unchanged for UTF-8; otherwise each character the
    encoding lacks becomes its ASCII stand-in (ASCII) or an escape (\\u2588)."""
    stream = sys.stdout if stream is None else stream
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        pass
    except LookupError:
        encoding = "ascii"
    return text.encode(encoding, "vramrules-ascii").decode(encoding)


def shown(text: str, stream=None) -> str:
    """A rendered text output, ready for click.echo: inert, and encodable by the stream."""
    return for_stream(inert_lines(text), stream)


# ---------------------------------------------------------------- the width of the output

DEFAULT_WIDTH = 80  # a pipe, a file, a terminal that does not say: what a reader, a diff or a review shows well
MIN_WIDTH = 40      # a narrower window gets 40-column lines, which it folds itself


def width(stream=None) -> int:
    """The columns text output may use: $COLUMNS when it is a whole number >= 1 (the user's word,
    as shutil.get_terminal_size and click honour it), else the terminal's width when the stream
    is a terminal, else DEFAULT_WIDTH (80): piped or redirected output does not depend on the
    window it happened to be started from. Never below MIN_WIDTH."""
    env = os.environ.get("COLUMNS", "").strip()
    if env.isascii() and env.isdigit() and int(env) >= 1:
        return max(MIN_WIDTH, int(env))
    stream = sys.stdout if stream is None else stream
    try:
        if stream.isatty():
            columns = os.get_terminal_size(stream.fileno()).columns
            if columns >= 1:
                return max(MIN_WIDTH, columns)
    except (AttributeError, OSError, ValueError):  # no fileno (a test's buffer), closed, not a terminal
        pass
    return DEFAULT_WIDTH


def _narrow(o: int) -> bool:
    """One column, no combining mark: Latin-1 and Latin Extended, general punctuation (· — …),
    arrows, mathematical operators, box drawing and block elements (the bar)."""
    return 0x20 <= o < 0x300 or 0x2000 <= o < 0x20d0 or 0x2190 <= o < 0x2300 or 0x2500 <= o < 0x25a0


_ONE_COLUMN: set = set()  # the characters found narrow so far (a table's bars and dots repeat: each is tested once)


def cells(text: str) -> int:
    """The columns `text` takes on a terminal: 2 for a wide (East Asian) character, 0 for a
    combining mark, 1 for every other."""
    if text.isascii():
        return len(text)
    chars = set(text)
    if chars <= _ONE_COLUMN:
        return len(text)
    new = chars - _ONE_COLUMN
    if all(_narrow(ord(ch)) for ch in new):
        _ONE_COLUMN.update(new)
        return len(text)
    import unicodedata  # only for text beyond the blocks our own output draws from

    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _glued(words: list) -> list:
    """Words that must stay on one line, joined: a number keeps the word after it (its unit:
    '147.64 GiB', '(327,680 B)'; '2 x h100'), unless that opens a parenthesis."""
    out: list = []
    for w in words:
        if out and w and w[0] != "(" and _number(out[-1].rpartition(" ")[2]):
            out[-1] += " " + w
        else:
            out.append(w)
    return out


def _number(word: str) -> bool:
    """'2,048', '147.64', '(327,680', '-67.99', '2': a word that is a number (not fp8_e5m2)."""
    word = word.lstrip("([~-+")
    return word[:1].isdigit() and word[-1:].isdigit()


def wrap(text: str, width: int, indent: str = "", hang: str | None = None, sep: str = " ") -> list:
    """`text` as lines of at most `width` columns: the first begins with `indent`, the others
    with `hang` (default: indent). Lines break only at `sep` (' · ' or ', ' keeps each item of a
    list whole; an item longer than a line breaks at its spaces); a number is never parted from
    the word after it, nor broken. A word longer than any line (a URL, a path) is not broken
    either, so it can be copied: the terminal folds it."""
    hang = indent if hang is None else hang
    if cells(indent) + cells(text) <= width:
        return [indent + text]
    pieces = _glued(text.split(" ")) if sep == " " else text.split(sep)
    lines: list = []
    line, empty = indent, True
    for piece in pieces:
        if sep != " " and cells(hang) + cells(piece) > width:  # an item too long for any line: at its spaces
            first = wrap(piece, width, line + ("" if empty else sep), hang)
            lines += first[:-1]
            line, empty = first[-1], False
            continue
        joined = line + piece if empty else line + sep + piece
        mark = 0 if sep[:1] == " " else len(sep.rstrip())  # room for the ',' a broken line would end with
        if empty or cells(joined) + mark <= width or cells(joined) <= cells(hang) + cells(piece):  # the last: fits no line anyway
            line, empty = joined, False
        else:
            lines.append((line + sep).rstrip() if sep[:1] != " " else line.rstrip())  # a list's ',' stays at the line's end
            line = hang + piece
    lines.append(line)
    return lines


def truncate(text: str, width: int, ellipsis: str = "…") -> str:
    """`text` cut to at most `width` columns, ending with `ellipsis` when it was cut."""
    if cells(text) <= width:
        return text
    room = max(0, width - cells(ellipsis))
    out, used = [], 0
    for ch in text:
        w = cells(ch)
        if used + w > room:
            break
        out.append(ch)
        used += w
    return "".join(out) + ellipsis
