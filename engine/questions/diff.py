"""`vramrules diff BASE NEW`: what an assumption change does. Each side is a data directory
overlaid on the built-in data, `builtin` for the built-in data alone, or `git:REV:PATH` for a
directory as committed at a git revision. Prints the data that changed (old -> new, with
sources), the estimates that moved (largest first), the fit verdicts that flipped and every
scenario that could not be evaluated on a side, with its error (a gate fails on those)."""
from __future__ import annotations

import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError


@dataclass
class Change:
    file: str
    what: str        # added | removed | changed
    entry: str       # section/id, e.g. assumptions/cuda_context
    field: str = ""
    old: object = None
    new: object = None
    source: str = ""
    old_source: str = ""
    where: str = ""


@dataclass
class Move:
    label: str
    old: float
    new: float

    @property
    def delta(self) -> float:
        return self.new - self.old

    @property
    def rel(self) -> float:
        return self.delta / self.old if self.old else float("inf")


@dataclass
class Flip:
    label: str
    old_fits: bool
    new_fits: bool
    old_need: float
    new_need: float
    capacity: float
    key: tuple = ()   # the scenario's (model, mode, gpu, options)


@dataclass
class Impact:
    base: str
    new: str
    changes: list = field(default_factory=list)
    moves: list = field(default_factory=list)
    flips: list = field(default_factory=list)
    budgets: list = field(default_factory=list)   # Moves of the usable memory per GPU (a serving engine's budget)
    scenarios: int = 0
    unaffected: int = 0   # scenarios no changed fact reaches: their answers are the base side's, not evaluated again
    errors: list = field(default_factory=list)   # (label, side, message): evaluated on the other side only
    failed: list = field(default_factory=list)   # (label, base message, new message): evaluated on neither side

    @property
    def unevaluated(self) -> list:
        """Labels of the scenarios the gate did not evaluate on the new data: those that fail on
        both sides and those the change broke (they fail on the new side only). A scenario that
        fails on the base side only is new (e.g. a model added by NEW): nothing to compare it to,
        reported but not counted here."""
        return [f[0] for f in self.failed] + [label for label, which, _ in self.errors if which == "new"]


@contextmanager
def side(spec: str):
    """Yield the --data directories for one side of a diff."""
    if spec == "builtin":
        yield ()
        return
    if spec.startswith("git:"):
        parts = spec.split(":", 2)
        if len(parts) != 3 or not parts[1]:
            raise UsageError(f"{spec!r}: expected git:REV:PATH, e.g. git:main:org-data/")
        rev, path = parts[1], parts[2].strip("/") or "."
        kept = _kept_export(rev, path)
        if kept is not None:  # the same commit's folder at the same path every time: its catalog is cached
            yield (kept,)
            return
        with tempfile.TemporaryDirectory(prefix="vramrules-diff-") as tmp:
            _export(rev, path, Path(tmp))
            yield (tmp,)
        return
    p = Path(spec)
    if not p.is_dir():
        raise UsageError(f"{spec!r} is not a directory, 'builtin', or git:REV:PATH")
    yield (str(p),)


def _kept_export(rev: str, path: str) -> str | None:
    """git:REV:PATH exported once per commit into the cache folder (a commit never changes), so a
    gate run against the same base reads a cached catalog instead of building one in a fresh
    temporary folder each time. None when the cache is off or cannot be written."""
    import hashlib
    import os
    import shutil

    from ..reading import cache

    if not cache.enabled():
        return None
    r = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], capture_output=True)
    if r.returncode:
        return None  # _export says what is wrong
    top = subprocess.run(["git", "rev-parse", "--show-toplevel", "--show-prefix"], capture_output=True)
    where = top.stdout.decode(errors="replace") if top.returncode == 0 else ""
    key = hashlib.sha256(f"{r.stdout.decode().strip()}\0{where}\0{path}".encode()).hexdigest()[:32]
    dest = os.path.join(cache.directory(), f"git-{key}")
    if os.path.isdir(dest):
        return dest
    _prune_exports(cache.directory())
    try:
        os.makedirs(cache.directory(), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".git-export-", dir=cache.directory())
    except OSError:
        return None
    try:
        _export(rev, path, Path(tmp))
        os.replace(tmp, dest)  # whole or not at all: a concurrent run sees the folder complete or absent
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return dest if os.path.isdir(dest) else None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


KEEP_EXPORTS = 8


def _prune_exports(d: str) -> None:
    """Keep the KEEP_EXPORTS most recent commit exports (git-*) of the cache folder."""
    import os
    import shutil

    try:
        found = sorted((e for e in os.scandir(d) if e.name.startswith("git-") and e.is_dir()), key=lambda e: e.stat().st_mtime, reverse=True)
    except OSError:
        return
    for e in found[KEEP_EXPORTS - 1:]:
        shutil.rmtree(e.path, ignore_errors=True)


def _export(rev: str, path: str, dest: Path):
    def git(*args):
        r = subprocess.run(["git", *args], capture_output=True)
        if r.returncode:
            raise UsageError(f"git {' '.join(args)}: {r.stderr.decode(errors='replace').strip() or 'failed'}")
        return r.stdout

    prefix = git("rev-parse", "--show-prefix").decode().strip()
    full = str(Path(prefix) / path) if path != "." else prefix.rstrip("/") or "."
    names = git("ls-tree", "-r", "--name-only", rev, "--", full).decode().splitlines()
    if not names:
        raise UsageError(f"git:{rev}:{path} holds no files")
    base = full.rstrip("/") + "/" if full not in (".", "") else ""
    for name in names:
        if not name.endswith(".yaml"):
            continue
        rel = name[len(base):] if base and name.startswith(base) else name
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(git("show", f"{rev}:{name}"))


def data_changes(old_cat, new_cat) -> list[Change]:
    out = []
    for key in sorted(set(old_cat.files) | set(new_cat.files)):
        om, nm = old_cat.files.get(key), new_cat.files.get(key)
        od = (om.data if om else {}) or {}
        nd = (nm.data if nm else {}) or {}
        for section in sorted(set(od) | set(nd)):
            a, b = od.get(section), nd.get(section)
            if isinstance(a, dict) or isinstance(b, dict):
                a, b = a or {}, b or {}
                for ident in sorted(set(a) | set(b)):
                    out.extend(_entry(key, section, ident, a.get(ident), b.get(ident), nm))
            elif a != b:
                out.append(Change(key, "changed", section, "", a, b))
    return out


def _entry(key, section, ident, a, b, nm) -> list[Change]:
    name = f"{section}/{ident}"
    def src(e):
        return e.get("source", "") if isinstance(e, dict) else ""
    where = str(nm.where((section, ident))) if nm and b is not None else ""
    if a is None:
        return [Change(key, "added", name, "", None, b, src(b), "", where)]
    if b is None:
        return [Change(key, "removed", name, "", a, None, "", src(a))]
    out = []
    for path, x, y in _walk(a, b, ""):
        if path.rpartition(".")[2] in ("source", "note", "reviewed", "owner", "summary", "doc"):
            continue
        pointer = tuple(int(p) if p.isdigit() else p for p in path.split("."))
        out.append(Change(key, "changed", name, path, x, y, _item_source(b, pointer) or src(b), _item_source(a, pointer) or src(a),
                          str(nm.where((section, ident) + pointer)) if nm else ""))
    return out


def _item_source(e, pointer: tuple) -> str:
    """The source of the innermost record holding a changed field (an engine setting's value at a
    release cites its own), or ''."""
    best, node = "", e
    for p in pointer[:-1]:
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            return best
        if isinstance(node, dict) and node.get("source"):
            best = node["source"]
    return best


def _walk(a, b, prefix):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            nested = any(isinstance(x, (dict, list)) for x in (a.get(k), b.get(k)))
            yield from _walk(a.get(k), b.get(k), f"{prefix}{k}." if nested else f"{prefix}{k}")
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and any(isinstance(x, dict) for x in a):
        for i, (x, y) in enumerate(zip(a, b)):  # a list of records (an engine setting by release): item by item
            yield from _walk(x, y, f"{prefix}{i}.")
        return
    if a != b:
        yield prefix.rstrip("."), a, b


def impact(base: str, new: str, *, models=None, modes=None, gpus=None, rules="default", matrix_file=None,
           threshold: float = 0.0005, progress=None, every: bool = False) -> Impact:
    """The impact of going from BASE to NEW. Work follows the change: the data views compared are
    parsed only where an entry's text differs between the sides, and a scenario whose model and
    GPU entries are the same text on both sides, with nothing else changed, is not evaluated again
    (`every`: evaluate every scenario on both sides, for a gate that also wants the failures the
    change did not cause). The scenarios of a matrix file are all evaluated."""
    from ..evaluation.load import load_catalog
    from . import matrix

    with side(base) as bdirs, side(new) as ndirs:
        bcat = load_catalog(bdirs)
        ncat = load_catalog(ndirs)
        same = _same_entries(bdirs, ndirs)
        result = Impact(base, new, data_changes(_views(bdirs, same), _views(ndirs, same)))
        if matrix_file:  # the reviewer's own list: every scenario of it is evaluated
            items = matrix.scenarios(ncat, models, modes, gpus, rules, matrix_file)
            result.scenarios = len(items)
        else:
            ms, mos, gs = matrix.default_axes(ncat, models, modes, gpus, rules)
            result.scenarios = len(ms) * len(mos) * len(gs)
            reach = None if every else _reach(result.changes, same)
            items = [matrix.Scenario(m, mo, g) for m in ms for g in gs if reach is None or reach(m, g) for mo in mos]
            result.unaffected = result.scenarios - len(items)
        step = (lambda i, n: progress(i, 2 * n)) if progress else None
        old = _rows(bcat, items, rules, step)
        stepn = (lambda i, n: progress(n + i, 2 * n)) if progress else None
        new_rows = _rows(ncat, items, rules, stepn)
    seen = set()
    for sc in items:
        o, n = old[sc.key], new_rows[sc.key]
        if o.error and n.error:
            result.failed.append((sc.label(), o.error, n.error))
            continue
        if o.error or n.error:
            result.errors.append((sc.label(), "base" if o.error else "new", o.error or n.error))
            continue
        est_key = (sc.model, sc.mode, sc.options)
        if est_key not in seen and o.total and abs(n.total / o.total - 1) > threshold:
            seen.add(est_key)
            opts = " ".join(f"{k}={v}" for k, v in sc.options)
            result.moves.append(Move(f"{sc.model} · {sc.mode}" + (f" · {opts}" if opts else ""), o.total, n.total))
        if o.fits != n.fits:
            result.flips.append(Flip(sc.label(), o.fits, n.fits, o.per_gpu, n.per_gpu, n.capacity, sc.key))
        if o.capacity and n.capacity and abs(n.capacity / o.capacity - 1) > threshold:  # what the workload may use moved (an engine's memory fraction)
            result.budgets.append(Move(sc.label(), o.capacity, n.capacity))
    result.moves.sort(key=lambda m: (-abs(m.rel), m.label))
    result.budgets.sort(key=lambda m: (-abs(m.rel), m.label))
    return result


def _rows(cat, items, rules, progress) -> dict:
    """The matrix's rows on one side: the sweep loop where it applies, one evaluation each elsewhere."""
    from . import matrix, sweep

    out: dict = {}
    rest = sweep.matrix_rows(cat, items, rules, out)
    out.update(matrix.evaluate(cat, rest, rules, progress))
    return out


def _signatures(dirs) -> dict | None:
    """{(file key, section, id): the text of each layer's definition, hashed} of every model and
    GPU entry of these layers, or None when a file cannot be cut into entries (reading/chunks)."""
    import hashlib
    import os

    from ..evaluation.load import data_dirs
    from ..reading import chunks
    from ..reading.catalog import FILES, reusable_sections

    out: dict = {}
    for folder, _label in data_dirs(dirs):
        for fkey in FILES:
            sections = reusable_sections(fkey)
            path = os.path.join(str(folder), fkey)
            if not sections or not os.path.isfile(path):
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    parts = chunks.split(f.read(), set(sections))
            except (OSError, UnicodeDecodeError):
                return None  # the evaluation load reports it
            if parts is None:
                return None
            for p in parts:
                if p.key is not None:
                    k = (fkey, p.section, p.key)
                    out[k] = out.get(k, ()) + (hashlib.sha256(p.text.encode()).hexdigest(),)
    return out


def _same_entries(bdirs, ndirs) -> set:
    """The model and GPU entries written the same on both sides (in every layer that defines them)."""
    b, n = _signatures(bdirs), _signatures(ndirs)
    if b is None or n is None:
        return set()
    return {k for k, v in b.items() if n.get(k) == v}


class _View:
    """The merged data files of one side, as data_changes reads them (cat.files)."""

    def __init__(self, files: dict):
        self.files = files


def _views(dirs, same: set) -> _View:
    """One side's merged files, leaving out the entries written the same on both sides: they
    cannot differ, and a 10,000-model side is not parsed to find that out."""
    from ..errors import DataError
    from ..evaluation.load import data_dirs
    from ..reading.catalog import load_layers

    merged, problems = load_layers(data_dirs(dirs), reuse=lambda fkey, section, eid, _h: (fkey, section, eid) in same)
    if problems:
        raise DataError(problems)
    return _View(merged)


_ENTRY_FILES = {"models.yaml": "models/", "gpus.yaml": "gpus/"}


def _reach(changes, same: set):
    """A test of whether a scenario (its model and GPU) can move: None when every scenario can (a
    change to anything but model and GPU entries: an assumption, a rule, a precision reaches them
    all)."""
    for c in changes:
        prefix = _ENTRY_FILES.get(c.file)
        if prefix is None or not c.entry.startswith(prefix):
            return None
    changed = {c.entry for c in changes}
    models = {e for f, _s, e in same if f == "models.yaml"}
    gpus = {e for f, _s, e in same if f == "gpus.yaml"}

    def reach(model: str, gpu: str) -> bool:
        return model not in models or gpu not in gpus or f"models/{model}" in changed or f"gpus/{gpu}" in changed

    return reach
