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
    scenarios: int = 0
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
        with tempfile.TemporaryDirectory(prefix="vramrules-diff-") as tmp:
            _export(rev, path, Path(tmp))
            yield (tmp,)
        return
    p = Path(spec)
    if not p.is_dir():
        raise UsageError(f"{spec!r} is not a directory, 'builtin', or git:REV:PATH")
    yield (str(p),)


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
        if path in ("source", "note", "reviewed", "owner", "summary", "doc"):
            continue
        out.append(Change(key, "changed", name, path, x, y, src(b), src(a),
                          str(nm.where((section, ident) + tuple(path.split(".")))) if nm else ""))
    return out


def _walk(a, b, prefix):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            yield from _walk(a.get(k), b.get(k), f"{prefix}{k}." if isinstance(a.get(k), dict) or isinstance(b.get(k), dict) else f"{prefix}{k}")
        return
    if a != b:
        yield prefix.rstrip("."), a, b


def impact(base: str, new: str, *, models=None, modes=None, gpus=None, rules="default", matrix_file=None,
           threshold: float = 0.0005, progress=None) -> Impact:
    from ..evaluation.load import load_catalog
    from . import matrix

    with side(base) as bdirs, side(new) as ndirs:
        bcat = load_catalog(bdirs, full=True)
        ncat = load_catalog(ndirs, full=True)
        result = Impact(base, new, data_changes(bcat, ncat))
        items = matrix.scenarios(ncat, models, modes, gpus, rules, matrix_file)
        result.scenarios = len(items)
        step = (lambda i, n: progress(i, 2 * n)) if progress else None
        old = matrix.evaluate(bcat, items, rules, step)
        stepn = (lambda i, n: progress(n + i, 2 * n)) if progress else None
        new_rows = matrix.evaluate(ncat, items, rules, stepn)
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
    result.moves.sort(key=lambda m: (-abs(m.rel), m.label))
    return result
