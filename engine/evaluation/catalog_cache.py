"""The validated, checked catalog as JSON Lines (never pickle), keyed by a hash of every input: the
data files of every layer, the schemas, units.txt, --set overrides, in-memory documents and the
engine's own source. A hit rebuilds the catalog with no YAML parsing, no schema validation, no
Pint and no dimension checking; any changed input is a different key, so a stale entry is never
read. Merged file views (cat.files) are not cached: commands that need them load in full."""
from __future__ import annotations

import os
import time
import zlib
from collections.abc import Mapping
from typing import NoReturn

from ..errors import Location
from ..language.rules import Mode, Rule, RuleSet
from ..reading import cache
from ..reading.catalog import FILES, RULES_DIR, Assumption, Catalog, Entry, FieldType

FORMAT = 12  # 12: a rule set is a region of lines, one per rule, read one rule at a time (_rules_region)
MAX_HEADER_BYTES = 1 << 28  # the index line of a very large catalog; longer is not a header
_ENGINE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # the package: its sources key the cache
MEMO = "statkeys"      # cache file: stat signature of every input -> content key
MEMO_KEEP = 8
SETTLE_NS = 2 * 10**9  # a file modified this recently is not memoized (coarse file system clocks)


def key(dirs, sets, docs, sig=None) -> str:
    """The content key of these inputs. A warm run finds it in a memo keyed by every input file's
    size, times and inode instead of reading and hashing ~60 files. A memo entry is written only
    when every file is older than SETTLE_NS, so an edit within one tick of a coarse file system
    clock cannot leave a stale entry (git's "racily clean" rule); in-memory documents bypass it.
    `sig`: signature(dirs, sets), when the caller has it already."""
    sig = None if docs else (sig or signature(dirs, sets))
    memo = cache.read_json(MEMO) if sig is not None else None
    if isinstance(memo, dict) and isinstance(memo.get(sig[0]), str):
        return memo[sig[0]]
    k = content_key(dirs, sets, docs)
    if sig is not None and sig[1]:
        kept = list(memo.items())[-(MEMO_KEEP - 1):] if isinstance(memo, dict) else []
        cache.write_json(MEMO, dict(kept + [(sig[0], k)]), prune=False)
    return k


def _engine_sources(d: str, out: list) -> list:
    with os.scandir(d) as it:
        for e in it:
            if e.name.endswith(".py") and e.is_file():
                out.append(e.path)
            elif e.is_dir() and e.name != "__pycache__":
                _engine_sources(e.path, out)
    return out


def listing(d, suffix: str) -> list:
    """Sorted paths of folder d's files ending in suffix, [] if d is no folder. os.listdir, not
    pathlib: a warm run never imports pathlib."""
    try:
        return sorted(p for p in (os.path.join(d, n) for n in os.listdir(d) if n.endswith(suffix)) if os.path.isfile(p))
    except OSError:
        return []


def _names(d: str) -> str:
    try:
        return "/".join(sorted(n for n in os.listdir(d) if n.endswith((".yaml", ".yml"))))
    except OSError:
        return "-"


def _inputs(dirs) -> list:
    """[(label, path)] of every file the catalog depends on: the engine's source, the schemas,
    units.txt, and each layer's data files and rule files (missing ones included: creating one
    changes the key)."""
    from ..reading.datadir import builtin_data_dir, schemas_dir

    out = [(p[len(_ENGINE) + 1:], p) for p in sorted(_engine_sources(_ENGINE, []))]
    out += [(os.path.basename(p), p) for p in listing(schemas_dir(), ".json")]
    out.append(("units.txt", os.path.join(builtin_data_dir(), "units.txt")))
    for directory, layer in dirs:
        d = str(directory)
        out.append((f"layer {d} {layer}", None))
        if layer != "built-in":  # an overlay's file names: a misnamed file added later is reported, not skipped by the memo
            out.append((f"names {_names(d)} {_names(os.path.join(d, RULES_DIR))}", None))
        out += [(name, os.path.join(d, name)) for name in FILES]
        out += [(f"{RULES_DIR}/{os.path.basename(p)}", p) for p in listing(os.path.join(d, RULES_DIR), ".yaml")]
    return out


def signature(dirs, sets):
    """(text naming every input file with its stat, whether all of them are settled)."""
    lines = [f"{FORMAT}", repr(tuple(sets))]
    newest = 0
    for label, p in _inputs(dirs):
        if p is None:
            lines.append(label)
            continue
        try:
            st = os.stat(p)
        except OSError:
            lines.append(f"{p} -")
            continue
        lines.append(f"{p} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino}")
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    return "\n".join(lines), newest < time.time_ns() - SETTLE_NS


def content_key(dirs, sets, docs) -> str:
    import hashlib

    h = hashlib.sha256(f"vramrules-catalog-{FORMAT}".encode())
    for label, p in _inputs(dirs):
        h.update(f"\0{label}\0".encode())
        if p is not None and os.path.isfile(p):
            with open(p, "rb") as f:
                data = f.read()
            h.update(f"present {len(data)}\0".encode() + data)
    h.update(repr((tuple(sets), tuple((k, doc.path, repr(doc.data)) for k, doc in docs))).encode())
    return "catalog-" + h.hexdigest()[:32]


def _loc(loc: Location):
    return [loc.file, loc.line, loc.col] if loc else None


def _unloc(v):
    return Location(*v) if v else None


# ---------------------------------------------------------------- classes as JSON, from their field lists
# Each cached class declares FIELDS, its constructor's arguments in order; an object is stored as
# the list of those fields' values. A field whose value is not plain JSON has a codec here:
# (encode(value, obj), decode(value, row)), `row` being the stored fields by name. A test
# round-trips every object of the built-in catalog and checks FIELDS covers every attribute.

def _formula_out(f, rule):
    from ..language.ir import to_ir

    return [list(f.names), to_ir(f)] if f is not None else None


def _formula_in(v, row):
    from ..language.syntax import Formula

    return Formula(row["text"], None, list(v[0]), v[1]) if v is not None else None  # parsed only if needed


def _where_out(where, entry):
    f = entry.location.file if entry.location else None  # most facts lie in the entry's own file: store line, col
    return {k: (None if w is None else [w.line, w.col] if w.file == f else _loc(w)) for k, w in where.items()}


def _where_in(v, row):
    f = row["location"][0] if row["location"] else ""
    return {k: None if w is None else Location(f, *w) if len(w) == 2 else Location(*w) for k, w in v.items()}


def _many(cls, keyed: bool):
    """A codec for a list (or a dict by name) of cached objects."""
    if keyed:
        return (lambda v, _o: [dump(x) for x in v.values()], lambda v, _r: {x.name: x for x in (load(cls, d) for d in v)})
    return (lambda v, _o: [dump(x) for x in v], lambda v, _r: [load(cls, d) for d in v])


LOC = (lambda v, _o: _loc(v), lambda v, _r: _unloc(v))
CODECS: dict = {
    Entry: {"location": LOC, "fact_where": (_where_out, _where_in)},
    FieldType: {"choices": (lambda v, _o: list(v), lambda v, _r: tuple(v))},
    Assumption: {"location": LOC},
    Rule: {"formula": (_formula_out, _formula_in), "location": LOC},
    Mode: {"rules": _many(Rule, True), "location": LOC, "warnings": _many(Rule, False), "constraints": _many(Rule, False)},
    RuleSet: {"rules": _many(Rule, True), "modes": _many(Mode, True), "location": LOC, "warnings": _many(Rule, False),
              "constraints": _many(Rule, False)},
}


def dump(obj) -> list:
    codecs = CODECS[type(obj)]
    return [codecs[f][0](getattr(obj, f), obj) if f in codecs else getattr(obj, f) for f in type(obj).FIELDS]


def load(cls, values: list):
    if not isinstance(values, list) or len(values) != len(cls.FIELDS):
        raise ValueError(f"a cached {cls.__name__} has {len(values) if isinstance(values, list) else 'no'} fields, not {len(cls.FIELDS)}")
    row = dict(zip(cls.FIELDS, values))
    codecs = CODECS[cls]
    return cls(*[codecs[f][1](v, row) if f in codecs else v for f, v in row.items()])


def write(key: str, cat: Catalog, context: str = "", dirs=None) -> None:
    """One JSON Lines file: a header (types, assumptions, overrides, and the byte span of every
    other line), then one line per entry, rule set and mode check result. A run parses the
    header and only the lines it uses: one model, one rule set, one check result.

    An entry read from a file in parts (reading/chunks.py) is stored with its lines relative to
    its first line and with the hash of its text; its span is [start, end, crc, first line, hash].
    An entry taken unchanged from the catalog built before (`_Joined`) is copied as it was stored,
    never decoded. `context`: what every stored entry also depends on (reuse_context); `dirs`:
    the layers, so that the next run after an edit finds this file (lineage)."""
    import json

    lines: list = []
    offset = 0

    def add(line: bytes, *extra, crc=None) -> list:
        nonlocal offset
        lines.append(line)
        span = [offset, offset + len(line), zlib.crc32(line) if crc is None else crc, *extra]  # the checksum finds a flipped bit
        offset += len(line)
        return span

    def record(value, *extra) -> list:
        return add(json.dumps(value, separators=(",", ":")).encode() + b"\n", *extra)

    fact_keys = {kind: facts_order(kind, cat.types) for kind in cat.entries}
    files: dict = {}  # (file, layer) -> its index in the header's "files": where an entry read in parts lies

    def entries(kind, bucket, names: dict) -> dict:
        parts = cat.parts.get(kind, {})
        keys = fact_keys[kind]
        joined = bucket if isinstance(bucket, _Joined) and bucket.copies(keys) else None
        out = {}
        for eid in bucket:
            part = parts.get(eid)
            where = files.setdefault((part[2], part[3]), len(files)) if part else None
            kept = joined.stored(eid) if joined is not None else None
            if kept is not None and joined is not None and where is not None:
                out[eid] = add(kept[0], kept[1], kept[2], where, crc=kept[3])  # the same bytes: the same checksum
                names[eid] = joined.light_raw(eid)
                continue
            e = bucket[eid]
            names[eid] = {k: e.raw[k] for k in LIGHT if k in e.raw}
            row = dump(e)
            if part is None:
                out[eid] = record(_compact(row, keys), 0, "")
                continue
            first, h, file, layer = part
            _rebase(row, -first)
            _detach(row, file, layer)
            out[eid] = record(_compact(row, keys), first, h, where)
        return out

    def indexed(kind, bucket):
        names: dict = {}
        spans = entries(kind, bucket, names)
        if len(spans) <= BUCKET_SIZE:
            return spans
        n = -(-len(spans) // BUCKET_SIZE)
        buckets: list = [{} for _ in range(n)]
        for eid, span in spans.items():
            buckets[_bucket(eid, n)][eid] = span
        return {"n": len(spans), "order": record(list(spans)), "names": record(names), "buckets": [record(b) for b in buckets]}

    index = {
        "entries": {kind: indexed(kind, bucket) for kind, bucket in cat.entries.items()},
        "rulesets": _kept_rulesets(cat, add) if isinstance(cat.rulesets, _KeptRuleSets) else
        {name: add(ruleset_region(rs)) for name, rs in cat.rulesets.items()},
        "checked": _kept_checked(cat, add) if isinstance(cat.checked, _KeptChecked) else
        [[rs, mode, fit, *record([order, kinds, dims, deps])] for (rs, mode, fit), (order, kinds, dims, deps) in cat.checked.items()],
    }
    header = {
        "format": FORMAT, "size": offset, "index": index, "context": context, "fact_keys": fact_keys, "rules_key": cat.rules_key,
        "files": [list(k) for k in files],
        "body_crc": zlib.crc32(b"".join(lines)),  # one check of every line at once, for the run after an edit
        "types": {kind: {f: dump(t) for f, t in fields.items()} for kind, fields in cat.types.items()},
        "assumptions": {n: dump(a) for n, a in cat.assumptions.items()},
        "overrides": {n: list(v) for n, v in cat.overrides.items()},
        "vocabulary": cat.vocabulary.raw,
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    head = head[:-1] + b',"crc":' + str(zlib.crc32(head)).encode() + b"}"  # the header's own checksum, its last key
    cache.write_bytes(key + ".jsonl", b"".join([head + b"\n", *lines]))
    if dirs is not None and context:
        cache.write_json(_lineage(dirs), {"key": key})
        cache.write_json(_lineage(None, context), {"key": key})  # for layers in another folder: the same texts are the same entries


BUCKET_SIZE = 256  # a kind with more entries has its index in lines of about this many: the header stays small
LIGHT = ("name", "aliases", "hub")  # what finding an entry by the user's words reads (reading/names.py)


def _bucket(eid: str, n: int) -> int:
    return zlib.crc32(eid.encode()) % n


class _Index:
    """A kind's entry spans: a dict, or (a large kind) buckets of spans parsed one at a time, the
    ids in order and their names on their own lines. A warm run that evaluates one model of a
    50,000-model catalog parses one bucket."""

    def __init__(self, stored, records: _Records):
        self._records = records
        if isinstance(stored, dict) and "buckets" in stored and "n" in stored:
            self._spans: dict | None = None
            self._n, self._order, self._names, self._buckets = stored["n"], stored["order"], stored["names"], stored["buckets"]
            self._parsed: dict = {}
        else:
            self._spans = stored

    def get(self, eid):
        if self._spans is not None:
            return self._spans.get(eid)
        if not isinstance(eid, str):
            return None
        i = _bucket(eid, len(self._buckets))
        b = self._parsed.get(i)
        if b is None:
            b = self._parsed[i] = self._records.build(self._buckets[i], lambda doc: doc)
        return b.get(eid)

    def ids(self):
        return list(self._spans) if self._spans is not None else self._records.build(self._order, lambda doc: doc)

    def all(self) -> dict:
        """Every span by id (each bucket parsed once)."""
        if self._spans is not None:
            return self._spans
        out: dict = {}
        for i in range(len(self._buckets)):
            self.get_bucket(i, out)
        return out

    def get_bucket(self, i: int, into: dict) -> None:
        b = self._parsed.get(i)
        if b is None:
            b = self._parsed[i] = self._records.build(self._buckets[i], lambda doc: doc)
        into.update(b)

    def __len__(self):
        return len(self._spans) if self._spans is not None else self._n

    def names(self):
        """{id: {name, aliases, hub}} of a large kind, else None."""
        if self._spans is not None:
            return None
        if "names" not in self._parsed:
            self._parsed["names"] = self._records.build(self._names, lambda doc: doc)
        return self._parsed["names"]


class _Light:
    """What names.find reads of an entry (its id and the words it is known by), without building it."""

    __slots__ = ("id", "raw")

    def __init__(self, eid: str, raw: dict):
        self.id, self.raw = eid, raw


def facts_order(kind: str, types: dict) -> list:
    """The order build_entry gives an entry's facts (its kind's fields, then a model's layer
    groups): a stored entry whose facts are in this order keeps their values only."""
    from ..reading.catalog import GROUP_FIELDS

    keys = list(types.get(kind, {}))
    return keys + (["group." + f for f in GROUP_FIELDS] if kind == "model" else [])


def _compact(row: list, keys: list) -> list:
    """Facts and fact_where as lists in `keys` order when they have exactly those keys (half the
    bytes of a model's line); otherwise left as objects."""
    if list(row[5]) == keys and list(row[6]) == keys:
        row[5] = list(row[5].values())
        row[6] = list(row[6].values())
    return row


def _expand(row: list, keys: list) -> list:
    if isinstance(row[5], list):
        if len(row[5]) != len(keys) or len(row[6]) != len(keys):
            raise ValueError("a stored entry's facts do not match its kind's fields")
        row[5] = dict(zip(keys, row[5]))
        row[6] = dict(zip(keys, row[6]))
    return row


def _rebase(row: list, delta: int) -> None:
    """Shift a stored entry's lines in its own file by delta (its location and fact_where)."""
    loc = row[3]
    if loc:
        row[3] = [loc[0], loc[1] + delta, loc[2]]
    row[6] = {k: ([w[0] + delta, w[1]] if w is not None and len(w) == 2 else w) for k, w in row[6].items()}


assert Entry.FIELDS[3] == "location" and Entry.FIELDS[6] == "fact_where"  # _rebase's indexes


def rules_key(context: str, merged: dict, cat: Catalog) -> str:
    """What the rule sets and their checks depend on: the engine and schemas (context), every
    layer's rule files and vocabulary, and the assumptions' names, kinds and dimensions (their
    values are read at evaluation, not by the checks). '' without a context (a full load)."""
    import hashlib
    import json

    if not context:
        return ""
    h = hashlib.sha256(context.encode())
    for key in sorted(merged):
        if key.startswith(RULES_DIR + "/") or key == "vocabulary.yaml":
            h.update(f"\0{key}\0".encode() + "\0".join(merged[key].digests).encode())
    h.update(json.dumps(sorted((n, a.kind, a.dim) for n, a in cat.assumptions.items())).encode())
    return h.hexdigest()[:32]


def keep_rulesets(cat: Catalog, prev: Previous) -> None:
    """Take the rule sets and check results of `prev` instead of building and checking them."""
    cat.rulesets = _KeptRuleSets(prev)
    cat.checked = _KeptChecked(prev)


def _kept_rulesets(cat: Catalog, add) -> dict:
    kept = cat.rulesets
    assert isinstance(kept, _KeptRuleSets)
    return {name: add(kept.prev.body[span[0]:span[1]], crc=span[2]) for name, span in kept.prev.ruleset_spans.items()}


def _kept_checked(cat: Catalog, add) -> list:
    kept = cat.checked
    assert isinstance(kept, _KeptChecked)
    return [[rs, mode, fit, *add(kept.prev.body[a:b], crc=c)] for rs, mode, fit, a, b, c in kept.prev.checked_spans]


def _detach(row: list, file: str, layer: str) -> None:
    """An entry's own file and layer, stored as '' (the span names them): its line is then the
    same wherever the folder lies, and can be copied into a catalog of another folder."""
    if row[3] and row[3][0] == file:
        row[3] = ["", row[3][1], row[3][2]]
    if row[4] == layer:
        row[4] = ""


def _attach(row: list, file: str, layer: str) -> None:
    if row[3] and row[3][0] == "":
        row[3] = [file, row[3][1], row[3][2]]
    if row[4] == "":
        row[4] = layer


assert Entry.FIELDS[4] == "layer"  # _detach's index


def _lineage(dirs, context: str = "") -> str:
    """The cache file naming the catalog built last for these layers (or, dirs None, for any
    layers with this context)."""
    import hashlib

    what = repr([(str(d), label) for d, label in dirs]) if dirs is not None else f"context {context}"
    return "lineage-" + hashlib.sha256(what.encode()).hexdigest()[:32]


def reuse_context(dirs) -> str:
    """What a built model or GPU entry depends on besides its own text: the engine, the schemas,
    units.txt and (a model's native_precision names one) every layer's precisions.yaml."""
    import hashlib

    from ..reading.datadir import builtin_data_dir, schemas_dir

    h = hashlib.sha256(f"vramrules-entries-{FORMAT}".encode())
    paths = sorted(_engine_sources(_ENGINE, [])) + listing(schemas_dir(), ".json") + [os.path.join(builtin_data_dir(), "units.txt")]
    paths += [os.path.join(str(d), "precisions.yaml") for d, _layer in dirs]
    for i, p in enumerate(paths):  # contents, not where they lie: the same data in another folder is the same context
        h.update(f"\0{i}\0".encode())
        try:
            with open(p, "rb") as f:
                h.update(f.read())
        except OSError:
            h.update(b"-")
    return h.hexdigest()[:32]


class Previous:
    """The catalog built last for these layers, as far as a run after an edit uses it: its entries'
    spans and hashes, and their stored lines (read at once: one read, not one per entry)."""

    def __init__(self, records: _Records, spans: dict, context: str, fact_keys: dict, header: dict | None = None):
        self.records, self.context, self.fact_keys = records, context, fact_keys
        header = header or {}
        self.rules_key = header.get("rules_key", "")
        self.ruleset_spans = header.get("index", {}).get("rulesets", {})
        self.checked_spans = header.get("index", {}).get("checked", [])
        self.spans = {kind: _Index(stored, records) for kind, stored in spans.items()}
        self._flat: dict = {}
        self._body = self.body = records.body()

    def span(self, kind: str, eid: str):
        flat = self._flat.get(kind)
        if flat is None:
            index = self.spans.get(kind)
            flat = self._flat[kind] = index.all() if index is not None else {}
        return flat.get(eid)

    def reusable(self, kind: str, eid: str, h: str) -> bool:
        """The entry was stored from text of hash h (the whole body's checksum was checked when
        this was opened)."""
        span = self.span(kind, eid)
        if span is None or len(span) < 5 or span[4] != h or not h:
            return False
        start, end = span[0], span[1]
        return isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(self._body)

    def line(self, kind: str, eid: str) -> bytes:
        span = self.span(kind, eid)
        return self._body[span[0]:span[1]]

    def light_raw(self, kind: str, eid: str) -> dict:
        """The LIGHT fields of a stored entry (for the names line of the next file)."""
        import json

        index = self.spans.get(kind)
        names = index.names() if index is not None else None
        if names is not None:
            return names.get(eid, {})
        raw = json.loads(self.line(kind, eid))[2]
        return {k: raw[k] for k in LIGHT if k in raw}


def previous(dirs, context: str = "") -> Previous | None:
    """The last catalog written for these layers, else (with `context`) the last one written with
    this context for any layers; None when there is none (or it is of another format, damaged)."""
    prev = _previous(_lineage(dirs))
    if prev is None and context:
        prev = _previous(_lineage(None, context))
    return prev


def _previous(lineage: str) -> Previous | None:
    memo = cache.read_json(lineage)
    if not isinstance(memo, dict) or not isinstance(memo.get("key"), str):
        return None
    opened = _open(memo["key"])
    if opened is None:
        return None
    header, records = opened
    prev = Previous(records, header["index"]["entries"], header.get("context", ""), header.get("fact_keys") or {}, header)
    return prev if zlib.crc32(prev.body) == header.get("body_crc") else None  # a damaged file is not taken from


class _Joined(Mapping):
    """A kind's entries after an edit: those built in this run, and those taken unchanged from the
    catalog built before, in the order the layers define them. An unchanged entry is decoded only
    if this run asks for it, and is written to the new cache file as the bytes it was stored as,
    at its new first line."""

    def __init__(self, order, built: dict, prev: Previous, kind: str, firsts: dict):
        self._order, self._built, self._prev, self._kind, self._firsts = list(order), built, prev, kind, firsts
        self._done: dict = {}

    def _span(self, k):
        return self._prev.span(self._kind, k)

    def light_raw(self, k) -> dict:
        return self._prev.light_raw(self._kind, k)

    def copies(self, keys: list) -> bool:
        """Whether an unchanged entry's stored line can be copied as it is: its facts were stored
        in the order the new file uses (else each is decoded and stored again)."""
        return self._prev.fact_keys.get(self._kind) == keys

    def __getitem__(self, k):
        hit = self._built.get(k)
        if hit is not None:
            return hit
        hit = self._done.get(k)
        if hit is None:
            span = self._span(k)
            if span is None or k not in self._firsts:
                raise KeyError(k)
            first, file, layer = self._firsts[k]
            hit = self._done[k] = self._prev.records.build(span, _entry, first, self._prev.fact_keys.get(self._kind, []), file, layer)
        return hit

    def stored(self, k):
        """(line bytes, first line, hash, checksum) of an entry taken unchanged, else None."""
        if k in self._built:
            return None
        span = self._span(k)
        return (self._prev.line(self._kind, k), self._firsts[k][0], span[4], span[2]) if span is not None else None

    def __contains__(self, k):
        return k in self._built or (k in self._firsts and self._span(k) is not None)

    def __iter__(self):
        return iter(self._order)

    def __len__(self):
        return len(self._order)


def text_hash(cat: Catalog, kind: str, eid: str) -> str:
    """The hash of the text an entry was built from ('' when it was not read in parts, or was merged
    from two layers): what a memo of a per-entry answer (validate's parameter counts) is keyed by."""
    bucket = cat.entries.get(kind)
    if isinstance(bucket, _Built):
        span = bucket.span(eid)
        return span[4] if span is not None and len(span) > 4 else ""
    part = cat.parts.get(kind, {}).get(eid)
    return part[1] if part else ""


def join_reused(cat: Catalog, merged: dict, prev: Previous | None) -> None:
    """Put the entries the loader left out (unchanged since `prev`) into cat.entries, and record
    every entry's first line and text hash (cat.parts) for the cache file."""
    from ..reading.catalog import FILES

    for fkey, m in merged.items():
        sections = FILES.get(fkey, ("", {}))[1]
        for section, kind in sections.items():
            firsts = {eid: (part[1], part[2], part[3]) for (s, eid), part in m.parts.items() if s == section and part is not None}
            cat.parts[kind] = {eid: (part[1], part[0], part[2], part[3]) for (s, eid), part in m.parts.items() if s == section and part is not None}
            if prev is not None and any(s == section for s, _eid in m.reused):
                built = cat.entries.get(kind, {})
                cat.entries[kind] = _Joined(m.ids.get(section, {}), built, prev, kind, firsts)


def _entry(first, keys, file, layer, row):
    row = _expand(row, keys)
    if first:
        _rebase(row, first)
    _attach(row, file, layer)
    return load(Entry, row)


def _header_intact(line: bytes) -> bool:
    """The header line's checksum (its last key, over the line as it was before the key)."""
    cut = line.rfind(b',"crc":')
    if cut < 0 or not line.endswith(b"}"):
        return False
    try:
        return zlib.crc32(line[:cut] + b"}") == int(line[cut + 7:-1])
    except ValueError:
        return False


class _Records:
    """The lines after the header, read from the open file and parsed one at a time on request:
    a run reads the header and the few lines it uses, not the file (a 10,000-model overlay's
    cache is tens of MB). Writes replace the file atomically, so the open file stays the one
    whose header was read. A line found damaged only then (edited by hand) removes the file and
    stops the run with a located error; the next run rebuilds it."""

    def __init__(self, name: str, f, base: int, size: int):
        self.name, self._file, self._base, self._size = name, f, base, size

    def _read(self, start: int, end: int) -> bytes:
        if hasattr(os, "pread"):
            return os.pread(self._file.fileno(), end - start, self._base + start)
        self._file.seek(self._base + start)
        return self._file.read(end - start)

    def body(self) -> bytes:
        """Every line after the header."""
        return self._read(0, self._size)

    def line(self, span) -> bytes:
        """The stored line of this span, checked against its checksum."""
        start, end, crc = span[0], span[1], span[2]
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= self._size):
            raise ValueError("bad record span")
        line = self._read(start, end)
        if zlib.crc32(line) != crc:
            raise ValueError("the line's checksum does not match (the file changed after it was written)")
        return line

    def build(self, span, build, *args, raw: bool = False):
        import json

        try:
            line = self.line(span)
            return build(*args, line if raw else json.loads(line))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            self.damaged(exc)

    def damaged(self, exc) -> NoReturn:
        """Remove this damaged file and stop the run with a located error; the next run rebuilds it."""
        from ..errors import DataError, Problem

        path = os.path.join(cache.directory(), self.name)
        try:
            os.unlink(path)
        except OSError:
            pass
        raise DataError([Problem(Location(str(path)), "", f"the catalog cache file is damaged ({type(exc).__name__}: {exc}); it has been removed",
                                 "run the command again: the catalog is rebuilt from the data files", "cache_error")]) from None


def ruleset_region(rs: RuleSet) -> bytes:
    """A rule set as a region of lines: one line per rule (of the rule set, then of each mode), then
    the rule set's own line, whose rules are {name: [start, end]} in the region. A run reads the
    region whole (one checksum) but parses only the rules its mode reads: ~170 of ~320."""
    import json

    lines: list = []
    offset = 0

    def spans(rules: Mapping) -> dict:
        nonlocal offset
        out = {}
        for name, rule in rules.items():
            line = json.dumps(dump(rule), separators=(",", ":")).encode() + b"\n"
            out[name] = [offset, offset + len(line)]
            lines.append(line)
            offset += len(line)
        return out

    row = dump(rs)
    fields = RuleSet.FIELDS
    row[fields.index("rules")] = spans(rs.rules)
    modes = row[fields.index("modes")]
    for m, mode in zip(modes, rs.modes.values()):
        m[Mode.FIELDS.index("rules")] = spans(mode.rules)
    lines.append(json.dumps(row, separators=(",", ":")).encode() + b"\n")
    return b"".join(lines)


def _ruleset_in(region: bytes, records: _Records) -> RuleSet:
    """The rule set of a region (ruleset_region); its rules and its modes' rules are built on request."""
    import json

    cut = region.rfind(b"\n", 0, len(region) - 1) + 1
    row = json.loads(region[cut:])
    fields = RuleSet.FIELDS
    if not isinstance(row, list) or len(row) != len(fields) or not isinstance(row[fields.index("modes")], list):
        raise ValueError("a cached rule set's line is malformed")
    rules_at, modes_at, mode_rules_at = fields.index("rules"), fields.index("modes"), Mode.FIELDS.index("rules")
    own = _LazyRules(region, row[rules_at], cut, records)
    row[rules_at] = []
    theirs = {}
    for m in row[modes_at]:
        if not isinstance(m, list) or len(m) != len(Mode.FIELDS):
            raise ValueError("a cached mode is malformed")
        theirs[m[0]] = _LazyRules(region, m[mode_rules_at], cut, records)
        m[mode_rules_at] = []
    rs = load(RuleSet, row)
    rs.rules = own
    for name, mode in rs.modes.items():
        mode.rules = theirs[name]
    return rs


class _LazyRules(Mapping):
    """A rule set's (or a mode's) rules: {name: Rule}, each parsed from its line of the rule set's
    region the first time it is asked for. The region's checksum was checked when it was read."""

    def __init__(self, region: bytes, spans, end: int, records: _Records):
        if not isinstance(spans, dict):
            raise ValueError("a cached rule set's rules are malformed")
        self._region, self._spans, self._end, self._records = region, spans, end, records
        self._done: dict = {}

    def __getitem__(self, name):
        rule = self._done.get(name)
        if rule is None:
            span = self._spans[name]
            try:
                a, b = span
                if not (type(a) is int and type(b) is int and 0 <= a < b <= self._end):
                    raise ValueError("bad rule span")
                import json

                rule = self._done[name] = load(Rule, json.loads(self._region[a:b]))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
                self._records.damaged(exc)
        return rule

    def __contains__(self, name):
        return name in self._spans

    def __iter__(self):
        return iter(self._spans)

    def __len__(self):
        return len(self._spans)


class _Built(Mapping):
    """A mapping whose values are built from their cached line the first time each is asked for:
    a run that evaluates one model builds one model entry and one rule set, not the catalog."""

    def __init__(self, spans, records: _Records, build, raw: bool = False):
        self._index = spans if isinstance(spans, _Index) else _Index(spans, records)
        self._records, self._build, self._raw = records, build, raw  # raw: `build` is given the line's bytes, not its JSON
        self._done: dict = {}

    def __getitem__(self, k):
        v = self._done.get(k)
        if v is None:
            span = self._index.get(k)
            if span is None:
                raise KeyError(k)
            v = self._done[k] = self._records.build(span, self._build, k, span, raw=self._raw)
        return v

    def __contains__(self, k):
        return k in self._done or self._index.get(k) is not None

    def __iter__(self):
        return iter(self._index.ids())

    def __len__(self):
        return len(self._index)

    def span(self, k):
        return self._index.get(k)

    def light(self):
        """{id: an object with .id and .raw (name, aliases, hub)} for finding an entry by the
        user's words without building every entry: a large kind's names line; else the entries."""
        names = self._index.names()
        return self if names is None else {eid: _Light(eid, raw) for eid, raw in names.items()}


class _Checked(dict):
    """cat.checked: each (rule set, mode, with_fit) check result parsed from its line on request,
    else from the file a run that checked the mode after load kept it in (keep_checks)."""

    def __init__(self, spans: dict, records: _Records | None):
        super().__init__()
        self._spans, self._records = spans, records
        self.kept_under = ""  # keep_checks' key

    def __missing__(self, k):
        span = self._spans.get(tuple(k))
        if span is not None and self._records is not None:
            self[k] = self._records.build(span, _check_result)
            return self[k]
        found = _kept_check(self.kept_under, tuple(k)) if self.kept_under else None
        if found is None:
            raise KeyError(k)
        self[k] = found
        return found

    def get(self, k, default=None):
        try:
            return self[k]
        except KeyError:
            return default


class _KeptRuleSets(_Built):
    """The rule sets of the catalog built before, kept when nothing they depend on changed."""

    def __init__(self, prev: Previous):
        super().__init__(prev.ruleset_spans, prev.records, lambda _name, _span, region: _ruleset_in(region, prev.records), raw=True)
        self.prev = prev


class _KeptChecked(_Checked):
    """The mode check results of the catalog built before, kept with its rule sets."""

    def __init__(self, prev: Previous):
        super().__init__({(rs, mode, fit): (a, b, c) for rs, mode, fit, a, b, c in prev.checked_spans}, prev.records)
        self.prev = prev


def _check_result(doc):
    order, kinds, dims, deps = doc
    return (order, kinds, dims, deps)


def keep_checks(cat: Catalog, disk_key: str) -> None:
    """Modes are checked when first used (language/rules.mode_check), after the catalog file is
    written: keep each such check in a small file of its own, found again by every later run
    whose rule sets are the same (the rules key: an edit of a model entry keeps the checks)."""
    under = cat.rules_key or disk_key
    if not cache.enabled():
        return
    if not isinstance(cat.checked, _Checked):
        fresh = _Checked({}, None)
        fresh.update(cat.checked)
        cat.checked = fresh
    cat.checked.kept_under = under

    def keep(k, result):
        name, key = _check_file(under, k)
        cache.write_json(name, {"key": key, "check": list(result)})

    cat.on_check = keep


def _check_file(under: str, k: tuple) -> tuple:
    """(the file's name, the key it holds): named by a CRC of the key (zlib is loaded already;
    hashlib would load OpenSSL, ~10 ms) and holding the key itself, so a match is exact."""
    import zlib

    key = f"{FORMAT}\0{under}\0{k[0]}\0{k[1]}\0{k[2]}"
    return f"checked-{zlib.crc32(key.encode()):08x}{len(key):04x}", key


def _kept_check(under: str, k: tuple):
    """A kept check result, or None when there is none, it is another key's, or it does not
    have the shape of one (a damaged file is checked again, never trusted)."""
    name, key = _check_file(under, k)
    kept = cache.read_json(name)
    doc = kept.get("check") if isinstance(kept, dict) and kept.get("key") == key else None
    if not (isinstance(doc, list) and len(doc) == 4 and isinstance(doc[0], list) and all(isinstance(d, dict) for d in doc[1:])):
        return None
    order, kinds, dims, deps = doc
    if not (all(isinstance(n, str) for n in order) and all(isinstance(v, list) for v in deps.values())):
        return None
    return (order, kinds, dims, deps)


def _open(key: str):
    """(header, records) of a cache file of this format, or None."""
    import json

    f = cache.open_file(key + ".jsonl")
    if f is None:
        return None
    head = f.readline(MAX_HEADER_BYTES)
    if not head.endswith(b"\n") or not _header_intact(head[:-1]):
        f.close()
        return None  # damaged or foreign: rebuilt
    header = json.loads(head[:-1])
    size = os.fstat(f.fileno()).st_size - len(head)
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("size") != size:
        f.close()
        return None  # another format, or cut short / grown by hand: rebuilt
    return header, _Records(key + ".jsonl", f, len(head), size)


def read(key: str) -> Catalog | None:
    """The cached catalog, or None when there is none of this format. A damaged file raises
    (ValueError, KeyError, TypeError, ...): the caller rebuilds, never trusts it."""
    opened = _open(key)
    if opened is None:
        return None
    header, records = opened
    index = header["index"]
    cat = Catalog()
    fact_keys = header.get("fact_keys") or {}
    files = header.get("files") or []

    def build(eid, span, e, keys):
        file, layer = files[span[5]] if len(span) > 5 else ("", "")
        return _entry(span[3] if len(span) > 3 else 0, keys, file, layer, e)

    for kind, spans in index["entries"].items():
        keys = fact_keys.get(kind, [])
        cat.entries[kind] = _Built(_Index(spans, records), records, lambda eid, span, e, _k=keys: build(eid, span, e, _k))
    for kind, fields in header["types"].items():
        cat.types[kind] = {f: load(FieldType, t) for f, t in fields.items()}
    cat.assumptions = {n: load(Assumption, a) for n, a in header["assumptions"].items()}
    cat.rulesets = _Built(index["rulesets"], records, lambda _name, _span, region: _ruleset_in(region, records), raw=True)
    cat.checked = _Checked({(rs, mode, fit): (a, b, c) for rs, mode, fit, a, b, c in index["checked"]}, records)
    cat.overrides = {n: tuple(v) for n, v in header["overrides"].items()}
    cat.context = header.get("context", "")
    cat.rules_key = header.get("rules_key", "")
    from ..reading.vocabulary import from_raw

    cat.vocabulary = from_raw(header["vocabulary"])
    return cat
