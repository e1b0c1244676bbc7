"""The on-disk cache: JSON files (never pickle) in VRAMRULES_CACHE_DIR, else
$XDG_CACHE_HOME/vramrules, else ~/.cache/vramrules. Keys are content hashes, so a changed input
is a different key; a cache that cannot be read or written is simply not used.
VRAMRULES_NO_CACHE=1 (or --no-cache) turns it off."""
from __future__ import annotations

import json
import os


def enabled() -> bool:
    return os.environ.get("VRAMRULES_NO_CACHE", "") in ("", "0")


def directory() -> str:
    d = os.environ.get("VRAMRULES_CACHE_DIR")
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "vramrules")


KEEP = 64  # entries of one kind (yaml-*, valid-*, units-*) kept; older ones are removed
KEEP_CATALOGS = 8  # catalogs (one .jsonl file each) kept


def _prune(d: str, kind: str) -> None:
    def mtime(p):
        try:
            return os.stat(p).st_mtime
        except OSError:
            return 0.0

    files = sorted((os.path.join(d, n) for n in os.listdir(d) if n.startswith(kind + "-") and n.endswith((".json", ".jsonl"))),
                   key=mtime, reverse=True)
    for old in files[KEEP_CATALOGS if kind == "catalog" else KEEP:]:
        try:
            os.unlink(old)
        except OSError:
            pass


def read_json(key: str):
    if not enabled():
        return None
    try:
        with open(os.path.join(directory(), f"{key}.json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def open_file(name: str):
    """The cache file open for reading (binary), or None: a caller that reads only parts of it."""
    if not enabled():
        return None
    try:
        return open(os.path.join(directory(), name), "rb")
    except OSError:
        return None


def write_json(key: str, data, prune: bool = True) -> None:
    try:
        text = json.dumps(data, separators=(",", ":"))
    except (TypeError, ValueError):
        return
    write_bytes(f"{key}.json", text.encode("utf-8"), prune)


def write_bytes(name: str, data: bytes, prune: bool = True) -> None:
    """Atomically: a reader sees the old file or the whole new one, never part of it."""
    if not enabled():
        return
    d = directory()
    tmp = None
    try:
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, f".{name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(d, name))
        if prune:
            _prune(d, name.split("-", 1)[0])
    except OSError:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
