"""YAML -> plain data, with the file:line:col of every value.

Safe loading only: anchors/aliases, custom tags and duplicate keys are errors, never silently
resolved. Plain scalars resolve the YAML 1.2 (core schema) way: `7e9` is a float (PyYAML alone
reads it as a string), `yes` would be text. A plain scalar that a YAML 1.1 reader (PyYAML, most
editors' linters and CI scripts) reads differently is refused with a hint, see _yaml11_reading.
"""
from __future__ import annotations

import datetime
import math
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from ..errors import DataError, Location, Problem
from . import cache

PARSE_FORMAT = 2  # bump when the parse cache's layout or the loader's rules change

MAX_FILE_BYTES = 16 * 2**20  # a file parsed whole, or one entry of a file read in parts (chunks.py); larger is refused
MAX_PARTS_FILE_BYTES = 2**31  # a file read entry by entry: an organization's catalog of any size that fits in memory
MAX_DEPTH = 64

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_AMBIGUOUS = "tag:vramrules,2026:yaml-1.1-ambiguous"  # a plain scalar YAML 1.1 and 1.2 read differently


class _Loader(_Base):  # type: ignore[misc, valid-type]
    def __init__(self, stream):
        super().__init__(stream)
        self._plain: dict = {}  # plain scalar text -> its tag: a file repeats its units, kinds and numbers

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode and implicit == (True, False):
            tag = self._plain.get(value)
            if tag is None:
                tag = self._plain[value] = _AMBIGUOUS if _yaml11_reading(value) else super().resolve(kind, value, implicit)
            return tag
        if kind is yaml.ScalarNode and implicit[0] and _yaml11_reading(value):
            return _AMBIGUOUS
        return super().resolve(kind, value, implicit)


# YAML 1.2 core schema (plus dates, which the data files use, and `<<` so that merge keys are
# recognized and refused). Replaces PyYAML's YAML 1.1 table: no octal 0100000, base-60 2:00,
# yes/no/on/off booleans or 1_000 digit separators.
_Loader.yaml_implicit_resolvers = {}
_INT12 = re.compile(r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+)$")
_FLOAT12 = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_BOOL12 = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
for _tag, _regexp, _first in [
    ("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    ("tag:yaml.org,2002:int", _INT12, list("-+0123456789")),
    ("tag:yaml.org,2002:float", _FLOAT12, list("-+0123456789.")),
    ("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"]),
    ("tag:yaml.org,2002:timestamp", next(r for t, r in yaml.resolver.Resolver.yaml_implicit_resolvers["2"] if t.endswith(":timestamp")),
     list("0123456789")),
]:
    _Loader.add_implicit_resolver(_tag, _regexp, _first)


class _Refused(ValueError):
    """A value the strict constructors refuse, with the hint to show."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message, self.hint = message, hint


def _unambiguous(text: str) -> str:
    found = _yaml11_reading(text)
    if found:
        raise _Refused(*found)
    return text


def _strict_int(loader, node):
    return _int_text(loader.construct_scalar(node))


def _int_text(text: str) -> int:
    """!!int and plain integers: decimal or 0x hex only, and small enough to be a float."""
    text = _unambiguous(text)
    if not _INT12.match(text):
        raise ValueError("not an integer (YAML 1.2: decimal digits, or 0x hex)")
    if len(text) > 320:
        raise ValueError("number is too large")
    value = int(text, 16) if text.startswith("0x") else int(text)
    if abs(value) > sys.float_info.max:
        raise ValueError("number is too large")
    return value


def _strict_float(loader, node):
    return _float_text(loader.construct_scalar(node))


def _float_text(text: str) -> float:
    text = _unambiguous(text)
    if not _FLOAT12.match(text):
        raise ValueError("not a number (YAML 1.2: e.g. 1.5, 7e9)")
    low = text.lower()
    return float(low.replace(".", "")) if low.endswith(("inf", "nan")) else float(text)  # .inf -> inf


def _strict_bool(loader, node):
    return _bool_text(loader.construct_scalar(node))


def _bool_text(text: str) -> bool:
    text = _unambiguous(text)
    if text not in _BOOL12:
        raise ValueError("not a boolean (write true or false)")
    return _BOOL12[text]


_Loader.add_constructor("tag:yaml.org,2002:int", _strict_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _strict_float)
_Loader.add_constructor("tag:yaml.org,2002:bool", _strict_bool)

_OCTAL11 = re.compile(r"^[-+]?0[0-9_]+$")
_PREFIX11 = re.compile(r"^(?:[-+]?0[bo][0-9a-fA-F_]*|[-+]0x[0-9a-fA-F_]*)$")
_BASE60 = re.compile(r"^[-+]?(?:[1-9][0-9_]*(?::[0-5]?[0-9])+|[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*)$")
_BOOL11 = {"yes": True, "no": False, "on": True, "off": False, "y": True, "n": False}
_UNDERSCORE = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?|0x[0-9a-fA-F_]+)$")


def _yaml11_reading(text: str) -> tuple[str, str] | None:
    """(message, hint) when YAML 1.1 reads this plain scalar otherwise than YAML 1.2 does.

    Why refuse instead of quietly reading it the YAML 1.2 way: data files are written and read by
    other tools too (PyYAML, yq, editors, CI scripts), most of them YAML 1.1. `memory_reported:
    0100000` is 32768 to them and 100000 here, `2:00` is 120 to them and text here: a value that
    means two things is refused, located, with the spelling that means one thing."""
    if not text or len(text) > 64 or text[0] not in "-+0123456789.yYnNoO":
        return None  # (64: no data value is a longer number; also keeps int() below cheap)
    sign = -1 if text.startswith("-") else 1
    if _OCTAL11.match(text):
        digits = text.lstrip("+-").replace("_", "")
        as11 = f"octal {sign * int(digits, 8)}" if set(digits) <= set("01234567") else "text"
        return (f"{text!r} is ambiguous: YAML 1.1 reads it as {as11}, YAML 1.2 as {sign * int(digits)}",
                f"write {sign * int(digits)} without the leading zero, or quote it if it is text")
    if _PREFIX11.match(text):
        return (f"{text!r} is ambiguous: YAML 1.1 and YAML 1.2 read this number notation differently",
                "write the number in decimal, or quote it if it is text")
    if _BASE60.match(text):
        value = 0.0
        for part in text.lstrip("+-").replace("_", "").split(":"):
            value = value * 60 + float(part)
        return (f"{text!r} is ambiguous: YAML 1.1 reads it as the base-60 number {sign * value:g}, YAML 1.2 as text",
                f"quote it ('{text}') if it is text, or write the number itself")
    if text.lower() in _BOOL11 and text in (text.lower(), text.capitalize(), text.upper()):
        return (f"{text!r} is ambiguous: YAML 1.1 reads it as the boolean {'true' if _BOOL11[text.lower()] else 'false'}, YAML 1.2 as text",
                "write true or false, or quote it if it is text")
    if "_" in text and _UNDERSCORE.match(text):
        return (f"{text!r} is ambiguous: YAML 1.1 reads it as the number {text.replace('_', '')}, YAML 1.2 as text",
                "write the number without '_' separators, or quote it if it is text")
    return None


def _key_problem(key: str) -> str:
    """Why a mapping key (an entry id or field name) is refused: a quoted 'h100-sxm-80gb\\n' or a
    key with an escape sequence would otherwise pass for a second id that prints like the first."""
    if key != key.strip():
        return "has leading or trailing whitespace"
    if not key.isprintable():
        return "has a control or invisible character"
    return ""


_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}

_DIRECT = {
    "tag:yaml.org,2002:str": str,
    "tag:yaml.org,2002:int": _int_text,
    "tag:yaml.org,2002:float": _float_text,
    "tag:yaml.org,2002:bool": _bool_text,
    "tag:yaml.org,2002:null": lambda _text: None,
}

Pointer = tuple


class Document:
    """One loaded file: its data and where each value came from."""

    def __init__(self, path: str, data: Any, positions: dict | None = None, layer: str = "built-in", digest: str = ""):
        self.path, self.data, self.layer = path, data, layer
        self.positions = {} if positions is None else positions  # Pointer -> (line, col), 1-based
        self.digest = digest  # sha256 of the file's bytes ('' for in-memory documents)
        self.parts: dict = {}   # (section, id) -> (hash of the entry's text, its 0-based first line): files read in parts
        self.reused: list = []  # [(section, id)] entries left out: the caller has them built from the same text

    def __repr__(self):
        return f"Document({self.path!r}, layer={self.layer!r})"

    def where(self, pointer: Pointer) -> Location:
        """Location of a value, or of its nearest ancestor that exists in the file."""
        p = tuple(pointer)
        while p not in self.positions and p:
            p = p[:-1]
        line, col = self.positions.get(p, (0, 0))
        return Location(self.path, line, col)


def pointer_text(pointer: Pointer) -> str:
    """JSON pointer text: ('gpus', 'h100', 'memory') -> /gpus/h100/memory."""
    return "".join("/" + str(k).replace("~", "~0").replace("/", "~1") for k in pointer)


def load_text(text: str, path: str, layer: str = "built-in") -> Document:
    text = text.removeprefix("\ufeff")
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # pragma: no cover - constructor does not parse
        raise DataError([Problem(Location(path), "", f"cannot read YAML: {exc}")])
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        msg = exc.problem or exc.context or "invalid YAML"
        hint = "YAML indentation must use spaces, not tabs" if "\\t" in str(exc) or "tab" in msg else ""
        raise DataError([Problem(Location(path, line, col), "", f"invalid YAML: {msg}", hint)])
    except yaml.YAMLError as exc:
        raise DataError([Problem(Location(path), "", f"invalid YAML: {exc}")])
    doc = Document(path=path, data=None, layer=layer)
    problems: list[Problem] = []
    if node is None:
        doc.data = {}
        return doc
    doc.data = _build(node, (), doc, problems, loader, set(), 0)
    loader.dispose()
    if problems:
        raise DataError(problems)
    return doc


def load_file(path: Path, display: str | None = None, layer: str = "built-in", sections=(), reuse=None) -> Document:
    """The file's Document. `sections`: top-level keys whose entries may be read one by one
    (chunks.py); each such entry's text hash and first line go into doc.parts. `reuse(section, id,
    hash)`: True for an entry the caller already has built from this very text; it is left out of
    doc.data (listed in doc.reused) and never parsed. A file read in parts may be larger than
    MAX_FILE_BYTES, up to MAX_PARTS_FILE_BYTES."""
    shown = display or str(path)
    try:
        size = path.stat().st_size
        if size > (MAX_PARTS_FILE_BYTES if sections else MAX_FILE_BYTES):
            raise DataError([_too_large(shown, size, MAX_PARTS_FILE_BYTES if sections else MAX_FILE_BYTES)])
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError([Problem(Location(shown), "", f"cannot read file: {exc.strerror or exc}")])
    import hashlib  # only when a file is read: a warm run reads none

    digest = hashlib.sha256(raw).hexdigest()
    parts = None
    if sections:
        from . import chunks

        parts = chunks.split(_decode(raw, shown), set(sections))
        if parts is None and len(raw) > MAX_FILE_BYTES:
            raise DataError([_too_large(shown, len(raw), MAX_FILE_BYTES, "a larger file must be read entry by entry: write its sections "
                                        "in block style (one plain `id:` key per entry at one indentation)")])
        if parts is not None and (reuse is not None or len(raw) > MAX_FILE_BYTES):
            doc = _from_parts(parts, shown, layer, digest, reuse, authoritative=len(raw) > MAX_FILE_BYTES)
            if doc is not None:
                return doc
    key = "yaml-" + hashlib.sha256(f"{PARSE_FORMAT}\0{shown}\0{digest}".encode()).hexdigest()[:32]
    hit = cache.read_json(key)
    doc = None
    if isinstance(hit, dict) and "data" in hit:
        try:  # a parse of these exact bytes made earlier: no YAML work
            positions = {tuple(p[0]): (p[1], p[2]) for p in hit["positions"]}
            doc = Document(shown, hit["data"], positions, layer, digest)
        except (TypeError, IndexError, KeyError):
            doc = None
    if doc is None:
        doc = load_text(_decode(raw, shown), shown, layer)
        doc.digest = digest
        cache.write_json(key, {"data": doc.data, "positions": [[list(p), l, c] for p, (l, c) in doc.positions.items()]})
    if parts is not None:
        _hashes(doc, parts, shown, layer)
    return doc


def _too_large(shown: str, size: int, limit: int, hint: str = "split it, or check that this is the right file") -> Problem:
    return Problem(Location(shown), "", f"file is {size} bytes; data files are limited to {limit} bytes", hint)


def _decode(raw: bytes, shown: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError([Problem(Location(shown, line, col), "", f"not UTF-8: byte 0x{raw[exc.start]:02x}", "save the file as UTF-8")])


def _part_hash(shown: str, layer: str, text: str) -> str:
    """What an entry built from this text depends on besides the engine and the schemas: the text
    alone. The file and layer its locations name are stored beside it (evaluation/catalog_cache),
    so the same entry in another folder (a git revision exported elsewhere) is the same part."""
    import hashlib

    return hashlib.sha256(f"{PARSE_FORMAT}\0{text}".encode()).hexdigest()[:32]


def _hashes(doc: Document, parts, shown: str, layer: str) -> None:
    """doc.parts for a file parsed whole, when the parts read as the whole does (every entry id
    found by the cut is an entry of the parse)."""
    found = {}
    for part in parts:
        if part.key is not None:
            section = doc.data.get(part.section) if isinstance(doc.data, dict) else None
            if not isinstance(section, dict) or part.key not in section or (part.section, part.key) in found:
                return
            found[(part.section, part.key)] = (_part_hash(shown, layer, part.text), part.first)
    doc.parts = found


def _from_parts(parts, shown: str, layer: str, digest: str, reuse, authoritative: bool) -> Document | None:
    """The Document read part by part, or None when a part does not read as one entry of the
    whole would (the caller then parses the file whole, which says what is wrong). When the file
    is too large to parse whole (`authoritative`), a part's error is reported at its place."""
    data: dict = {}
    positions: dict = {}
    doc = Document(shown, data, positions, layer, digest)
    for part in parts:
        if part.section is not None and part.key is None:  # `models:` itself
            if part.section in data:
                return None
            data[part.section] = {}
            if not positions:
                positions[()] = (part.first + 1, 1)
            continue
        if part.key is not None:
            h = _part_hash(shown, layer, part.text)
            section = data[part.section]
            if part.key in section or (part.section, part.key) in doc.parts:
                return None  # a duplicate id: the whole parse reports it
            doc.parts[(part.section, part.key)] = (h, part.first)
            if (part.section,) not in positions:
                positions[(part.section,)] = (part.first + 1, len(part.text) - len(part.text.lstrip(" ")) + 1)
            if reuse is not None and reuse(part.section, part.key, h):
                doc.reused.append((part.section, part.key))
                continue
        if len(part.text) > MAX_FILE_BYTES:
            raise DataError([Problem(Location(shown, part.first + 1, 1), "", f"this part of the file is {len(part.text)} bytes; "
                                     f"one entry (or one section not in block style) is limited to {MAX_FILE_BYTES} bytes",
                                     "write the section in block style, one plain `id:` key per entry at one indentation, so it is read entry by entry")])
        try:
            sub = load_text(part.text, shown, layer)
        except DataError as exc:
            if not authoritative:
                return None
            raise DataError([Problem(Location(p.location.file, p.location.line + part.first, p.location.col) if p.location.line else p.location,
                                     (f"/{part.section}" if part.key is not None else "") + p.pointer, p.message, p.hint, p.code)
                            for p in exc.problems]) from None
        if not isinstance(sub.data, dict) or len(sub.data) != 1:
            return None
        (key, value), = sub.data.items()
        if part.key is not None:
            if key != part.key:
                return None
            data[part.section][key] = value
            prefix: tuple = (part.section,)
        else:
            if key in data:
                return None
            data[key] = value
            prefix = ()
            if not positions:
                positions[()] = (part.first + 1, 1)
        for p, (line, col) in sub.positions.items():
            if p:
                positions[prefix + p] = (line + part.first, col)
    return doc


class ValueRefused(ValueError):
    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message, self.hint = message, hint


def plain_value(text: str):
    """One value given on a command line (--set), read as a data file's value is: YAML 1.2, the
    same strict numbers and refusals. Returns a str, int, float or bool; raises ValueRefused for
    anything else (a tag, a list or mapping, null, a date, an ambiguous YAML 1.1 spelling, an
    integer past the float range). Text that is not YAML at all stays text. A float may be
    inf or nan here: the assumption's bounds refuse it by name."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise ValueRefused("no value", "give a number, a quantity such as '1 GiB', or true/false")
            if not isinstance(node, yaml.ScalarNode):
                raise ValueRefused(f"a YAML {'list' if isinstance(node, yaml.SequenceNode) else 'mapping'} is not a value",
                                   "quote a value that contains ': ' or starts with '[' or '{'")
            implicit = (not node.style, bool(node.style))  # plain: '' (C loader) or None
            if node.tag != loader.resolve(yaml.ScalarNode, node.value, implicit):  # an explicit tag that changes the reading
                raise ValueRefused(f"YAML tags ({node.tag.replace('tag:yaml.org,2002:', '!!')}) are not allowed here", "write the value without a tag")
            if node.tag == _AMBIGUOUS:
                message, hint = _yaml11_reading(node.value) or ("an ambiguous YAML 1.1 value", "quote it")
                raise ValueRefused(message, hint)
            try:
                value = loader.construct_object(node, deep=True)
            except _Refused as exc:
                raise ValueRefused(exc.message, exc.hint) from None
            except (yaml.YAMLError, ValueError, OverflowError) as exc:
                raise ValueRefused(f"bad value: {exc}") from None
        finally:
            loader.dispose()
    except yaml.YAMLError:
        return text
    if value is None or not isinstance(value, (str, int, float, bool)):
        raise ValueRefused(f"{type(value).__name__ if value is not None else 'null'} is not a value an assumption takes",
                           "give a number, a quantity such as '1 GiB', or true/false")
    return value


def _mark(node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(node, pointer, doc, problems, loader, seen, depth):
    doc.positions[pointer] = _mark(node)
    where = Location(doc.path, *_mark(node))
    if depth > MAX_DEPTH:
        problems.append(Problem(where, pointer_text(pointer), f"nesting deeper than {MAX_DEPTH} levels"))
        return None
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        if id(node) in seen:
            problems.append(Problem(where, pointer_text(pointer), "YAML aliases (*name) are not allowed in data files", "write the value out in full"))
            return None
        seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        if node.tag not in ("tag:yaml.org,2002:map",):
            problems.append(Problem(where, pointer_text(pointer), f"unsupported tag {node.tag}", "only plain YAML is allowed"))
            return None
        out: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(Problem(Location(doc.path, *_mark(key_node)), pointer_text(pointer), "YAML merge keys (<<) are not allowed", "write the keys out in full"))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(Location(doc.path, *_mark(key_node)), pointer_text(pointer), "mapping keys must be plain scalars"))
                continue
            key = key_node.value
            why = _key_problem(key)
            if why:
                problems.append(Problem(Location(doc.path, *_mark(key_node)), pointer_text(pointer), f"key {key!r} {why}",
                                        "ids and field names are plain text: remove it"))
                continue
            if key in out:
                first = doc.positions.get(pointer + (key,), (0, 0))
                problems.append(Problem(Location(doc.path, *_mark(key_node)), pointer_text(pointer + (key,)), f"duplicate key '{key}' (first defined at line {first[0]})", "remove one of them; YAML would silently keep the last"))
                continue
            out[key] = _build(value_node, pointer + (key,), doc, problems, loader, seen, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        if node.tag != "tag:yaml.org,2002:seq":
            problems.append(Problem(where, pointer_text(pointer), f"unsupported tag {node.tag}", "only plain YAML is allowed"))
            return None
        return [_build(v, pointer + (i,), doc, problems, loader, seen, depth + 1) for i, v in enumerate(node.value)]
    if node.tag == _AMBIGUOUS:
        message, hint = _yaml11_reading(node.value)
        problems.append(Problem(where, pointer_text(pointer), message, hint))
        return None
    if node.tag not in _SCALAR_TAGS:
        problems.append(Problem(where, pointer_text(pointer), f"unsupported tag {node.tag}", "only plain YAML values are allowed"))
        return None
    try:
        direct = _DIRECT.get(node.tag)  # the constructors' own functions, without PyYAML's dispatch per node
        value = direct(node.value) if direct is not None else loader.construct_object(node, deep=True)
    except _Refused as exc:
        problems.append(Problem(where, pointer_text(pointer), exc.message, exc.hint))
        return None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        shown = node.value if len(node.value) <= 40 else node.value[:40] + "..."
        problems.append(Problem(where, pointer_text(pointer), f"bad value {shown!r}: {exc}"))
        return None
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(Problem(where, pointer_text(pointer), f"number {node.value!r} is not finite", "use a finite number"))
        return None
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value
