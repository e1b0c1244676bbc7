"""YAML -> plain data, with the file:line:col of every value.

Safe loading only: anchors/aliases, custom tags and duplicate keys are errors, never silently
resolved. Numbers like `7e9` are floats (YAML 1.2 style; PyYAML alone reads them as strings).
"""
from __future__ import annotations

import datetime
import math
import re
from pathlib import Path
from typing import Any

import yaml

from . import cache
from .errors import DataError, Location, Problem

PARSE_FORMAT = 1  # bump when the parse cache's layout or the loader's rules change

MAX_FILE_BYTES = 16 * 2**20  # data files are small; a larger one is refused, not parsed
MAX_DEPTH = 64

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    pass


_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789"))

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}

Pointer = tuple


class Document:
    """One loaded file: its data and where each value came from."""

    def __init__(self, path: str, data: Any, positions: dict | None = None, layer: str = "built-in", digest: str = ""):
        self.path, self.data, self.layer = path, data, layer
        self.positions = {} if positions is None else positions  # Pointer -> (line, col), 1-based
        self.digest = digest  # sha256 of the file's bytes ('' for in-memory documents)

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
    if text.startswith("\ufeff"):
        text = text[1:]
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


def load_file(path: Path, display: str | None = None, layer: str = "built-in") -> Document:
    shown = display or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DataError([Problem(Location(shown), "", f"file is {size} bytes; data files are limited to {MAX_FILE_BYTES} bytes", "split it, or check that this is the right file")])
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError([Problem(Location(shown), "", f"cannot read file: {exc.strerror or exc}")])
    import hashlib  # only when a file is read: a warm run reads none

    digest = hashlib.sha256(raw).hexdigest()
    key = "yaml-" + hashlib.sha256(f"{PARSE_FORMAT}\0{shown}\0{digest}".encode()).hexdigest()[:32]
    hit = cache.read_json(key)
    if isinstance(hit, dict) and "data" in hit:
        try:  # a parse of these exact bytes made earlier: no YAML work
            positions = {tuple(p[0]): (p[1], p[2]) for p in hit["positions"]}
            return Document(shown, hit["data"], positions, layer, digest)
        except (TypeError, IndexError, KeyError):
            pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError([Problem(Location(shown, line, col), "", f"not UTF-8: byte 0x{raw[exc.start]:02x}", "save the file as UTF-8")])
    doc = load_text(text, shown, layer)
    doc.digest = digest
    cache.write_json(key, {"data": doc.data, "positions": [[list(p), l, c] for p, (l, c) in doc.positions.items()]})
    return doc


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
    if node.tag not in _SCALAR_TAGS:
        problems.append(Problem(where, pointer_text(pointer), f"unsupported tag {node.tag}", "only plain YAML values are allowed"))
        return None
    try:
        value = loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        problems.append(Problem(where, pointer_text(pointer), f"bad value {node.value!r}: {exc}"))
        return None
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(Problem(where, pointer_text(pointer), f"number {node.value!r} is not finite", "use a finite number"))
        return None
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value
