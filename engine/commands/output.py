"""JSON for standard output, safe to print whatever the data holds. json.dumps escapes the C0
controls, but with ensure_ascii=False it leaves DEL, the C1 controls (\\x9b is a CSI on many
terminals), U+2028/U+2029, bidi overrides and lone surrogates (from file names that are not
UTF-8) raw. Here every such character is written as a JSON escape (\\u009b), so the document reads
back the same and a terminal shows it inert; and on a stream that cannot encode the text
(latin-1, cp1252, ascii) the whole document is ASCII (ensure_ascii=True) instead of raising.
"""
from __future__ import annotations

import json
import re
import sys

import click

_NOT_ASCII = re.compile("[\x7f-\U0010ffff]")


def _escape(match: re.Match) -> str:
    ch = match.group()
    if ch != "\x7f" and ch.isprintable():
        return ch
    o = ord(ch)
    if o < 0x10000:
        return f"\\u{o:04x}"
    o -= 0x10000
    return f"\\u{0xD800 + (o >> 10):04x}\\u{0xDC00 + (o & 0x3FF):04x}"


def _encodable(text: str, stream) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def json_text(obj, stream=None, **kw) -> str:
    """json.dumps(obj, **kw) as `stream` (default: standard output) can print it: non-printable
    characters escaped (only inside strings can they occur), ASCII when the stream's encoding
    lacks a character. Parses back to the same value."""
    stream = sys.stdout if stream is None else stream
    kw.pop("ensure_ascii", None)
    text = json.dumps(obj, ensure_ascii=False, **kw)
    if text.isascii() and "\x7f" not in text:
        return text
    text = _NOT_ASCII.sub(_escape, text)
    if _encodable(text, stream):
        return text
    return json.dumps(obj, ensure_ascii=True, **kw).replace("\x7f", "\\u007f")


def echo_json(obj, **kw) -> None:
    """Print obj as JSON on standard output (json_text; keyword arguments go to json.dumps)."""
    click.echo(json_text(obj, **kw))
