"""JSON files the importers read (config.json, model.safetensors.index.json) and the checks on
the values taken from them (also used for GGUF metadata).

Parsing refuses what would otherwise escape as a traceback or be silently resolved: nesting that
overflows the parser, numbers longer than Python converts, duplicate keys (JSON parsers keep the
last one). A value of the wrong kind is an error naming the file's own field, at its line and
column; numbers are never truncated (64.9 is not 64), booleans are not numbers (true is not 1)."""
from __future__ import annotations

import json
import math
import re
from functools import cache
from typing import NoReturn

from ..errors import DataError, Location, Problem
from ..reading.loader import pointer_text


class DuplicateKey(Exception):
    def __init__(self, key):
        self.key = key


def _pairs(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise DuplicateKey(k)
        out[k] = v
    return out


class Doc(dict):
    """A JSON object as read, with the text it came from (for line:col of a field)."""

    text: str = ""
    shown: str = ""


def load(raw: bytes, shown: str, what: str):
    """(parsed value, text). `what` names the file in messages: 'config.json', 'the index'."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError([Problem(Location(shown, line, col), "", f"{what} is not UTF-8 JSON", "save it as UTF-8")]) from None
    try:
        value = json.loads(text, object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        raise DataError([Problem(Location(shown, exc.lineno, exc.colno), "", f"invalid JSON: {exc.msg}")]) from None
    except DuplicateKey as dup:
        key = dup.key
        pos = duplicate_position(text, key)
        raise DataError([Problem(Location(shown, *pos), "/" + _escape(key), f"duplicate key '{_short(key)}'",
                                 "remove one of them; JSON readers silently keep the last")]) from None
    except RecursionError:
        raise DataError([Problem(Location(shown), "", f"{what} is nested too deeply")]) from None
    except ValueError:  # int(): more digits than Python converts (sys.get_int_max_str_digits)
        raise DataError([Problem(Location(shown), "", f"a number in {what} has more than 4300 digits")]) from None
    return value, text


def _escape(key) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _short(text, n: int = 60) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 3] + "..."


def describe(value) -> str:
    """A value as a message shows it: true, 64.9, the string "64", an object, a list."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return "the string " + json.dumps(_short(value, 40))
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return json.dumps(value)


def whole(value):
    """The value as an int when it is a whole number (64, or 64.0), else None. Booleans are not
    numbers here, and a float is never rounded or truncated."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


@cache
def schema_max(field: str):
    """The models schema's maximum for an entry field ('hidden_size', 'moe.num_experts')."""
    from ..reading.schema import load_schema

    node = load_schema("models")["properties"]["models"]["additionalProperties"]
    for part in field.split("."):
        node = node.get("properties", {}).get(part, {})
    return node.get("maximum")


# --- positions: the line and column of a key, found only when an error needs one ---------------

_SKIP = re.compile(r'[^"{}\[\],]+')


def _keys(text: str):
    """(pointer, offset) for every object key in valid JSON text, in order."""
    from json.decoder import scanstring  # type: ignore[attr-defined]  # the decoder's own string scanner

    stack: list = []  # [is_object, key or index]
    expect_key = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            s, end = scanstring(text, i + 1)
            if expect_key and stack and stack[-1][0]:
                stack[-1][1] = s
                yield tuple(e[1] for e in stack), i
                expect_key = False
            i = end
            continue
        if c == "{":
            stack.append([True, None])
            expect_key = True
        elif c == "[":
            stack.append([False, 0])
        elif c in "}]":
            if stack:
                stack.pop()
        elif c == ",":
            if stack and stack[-1][0]:
                expect_key = True
            elif stack:
                stack[-1][1] += 1
        else:
            m = _SKIP.match(text, i)
            i = m.end() if m else i + 1
            continue
        i += 1


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def position(text: str, pointer: tuple) -> tuple[int, int]:
    """(line, col) of the key at `pointer`, or of its nearest ancestor found; (0, 0) if none."""
    if not text or not pointer:
        return (0, 0)
    best, best_len = None, 0
    try:
        for p, offset in _keys(text):
            if len(p) <= len(pointer) and p == tuple(pointer[: len(p)]) and len(p) > best_len:
                best, best_len = offset, len(p)
                if best_len == len(pointer):
                    break
    except (ValueError, IndexError):  # not the text the value came from: no position
        return (0, 0)
    return _line_col(text, best) if best is not None else (0, 0)


def duplicate_position(text: str, key) -> tuple[int, int]:
    seen: set = set()
    try:
        for p, offset in _keys(text):
            if p[-1] == key:
                if p in seen:
                    return _line_col(text, offset)
                seen.add(p)
    except (ValueError, IndexError):
        pass
    return (0, 0)


class Fields:
    """Typed access to a JSON object's fields; every refusal names the field, at its line."""

    def __init__(self, data: dict, shown: str, text: str = "", hint: str = "", prefix: tuple = (), origin: dict | None = None):
        self.data, self.shown, self.text, self.hint, self.prefix = data, shown, text, hint, prefix
        self.origin = origin or {}  # key -> the pointer it came from, when merged from elsewhere

    def pointer(self, key) -> tuple:
        return self.origin.get(key, self.prefix + (key,))

    def fail(self, key, message: str, hint: str | None = None) -> NoReturn:
        p = self.pointer(key) if not isinstance(key, tuple) else key
        line, col = position(self.text, p)
        if hint is None:
            hint = self.hint.format(key=p[-1] if p else key, file=self.shown)
        raise DataError([Problem(Location(self.shown, line, col), pointer_text(p), message, hint)])

    def has(self, key) -> bool:
        return self.data.get(key) is not None

    def int(self, key, default=..., minimum: int = 1, field: str | None = None, maximum=None):
        """A whole number >= minimum (and <= the schema's maximum for `field`); null or absent
        is `default`, or an error naming the key when there is no default."""
        value = self.data.get(key)
        if value is None:
            if default is ...:
                self.fail(key, f"missing '{key}'")
            return default
        n = whole(value)
        if n is None:
            self.fail(key, f"must be a whole number, got {describe(value)}")
        if n < minimum:
            self.fail(key, f"must be at least {minimum}, got {describe(value)}")
        top = maximum if maximum is not None else (schema_max(field) if field else None)
        if top is not None and n > top:
            self.fail(key, f"{n} is more than vramrules accepts ({int(top)})")
        return n

    def bool(self, key, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {describe(value)}")
        return value

    def str(self, key, default=None):
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {describe(value)}")
        return value

    def dict(self, key) -> dict:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"must be an object, got {describe(value)}")
        return value

    def list(self, key) -> list:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(key, f"must be a list, got {describe(value)}")
        return value
