"""Text for a terminal. What the data provides (names, labels, sources, warnings, file names,
nvidia-smi output) is shown, never obeyed: ESC, CSI, OSC, BEL and every other C0/C1 control,
line separator or bidi override becomes a visible escape (\\x1b, \\x9b, \\u202e), also when the
output is piped. And what is printed fits the output stream's encoding: on a cp1252 or latin-1
terminal the bar and box characters fall back to ASCII instead of raising UnicodeEncodeError.
"""
from __future__ import annotations

import codecs
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
