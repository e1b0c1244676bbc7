"""The catalog a run evaluates in: the built-in data, VRAMRULES_DATA and each --data folder,
merged, validated and built with its rule sets; served from memory (at most MEMO_CATALOGS per
process) or from the on-disk catalog cache when no input changed."""
from __future__ import annotations

import os

from ..errors import DataError, UsageError, coded
from ..reading.datadir import builtin_data_dir

_CATALOGS: dict = {}
MEMO_CATALOGS = 8  # catalogs kept in memory per process (each --model-config import is one)


def data_dirs(extra=()) -> list:
    """[(folder, layer label)]: the built-in data, then VRAMRULES_DATA (os.pathsep-separated),
    then each --data DIR. Folders are strings."""
    dirs = [(builtin_data_dir(), "built-in")]
    env = os.environ.get("VRAMRULES_DATA", "")
    for d in [p for p in env.split(os.pathsep) if p]:
        dirs.append((str(d), f"VRAMRULES_DATA:{d}"))
    for d in extra:
        dirs.append((str(d), f"--data {d}"))
    return dirs


def load_catalog(extra_data=(), builtin: bool = True, sets=(), docs=(), full: bool = False):
    """Load, validate and check every data file and rule set; raise DataError with all problems.
    `sets`: ['assume.NAME=VALUE', ...] one-run overrides (--set), merged last.
    `docs`: [(file key, loader.Document)] in-memory layers (an imported config.json, --gpu auto).
    `full`: also keep the merged file views (cat.files) that show/diff/validate read; such a load
    bypasses the on-disk catalog cache (catalog_cache.py), which the hot path uses."""
    dirs = data_dirs(extra_data) if builtin else [(str(d), f"--data {d}") for d in extra_data]
    for d, label in dirs[1 if builtin else 0:]:
        if not os.path.isdir(d):  # the user's words name a folder that is not there: a usage error (2), not broken data
            what = "VRAMRULES_DATA" if label.startswith("VRAMRULES_DATA") else "--data"
            raise UsageError(f"{what} {d}: {'not a folder' if os.path.exists(d) else 'no such folder'} "
                             "(give a folder holding any of models.yaml, gpus.yaml, ...)")
    from . import catalog_cache

    sig = catalog_cache.signature(dirs, sets)  # every input file's stat: an edited file is never served from memory
    key = (sig[0], tuple((k, d.path, repr(d.data)) for k, d in docs), full)
    if key in _CATALOGS:
        cat = _CATALOGS.pop(key)
        _CATALOGS[key] = cat  # most recently used last
        return cat
    disk_key = catalog_cache.key(dirs, sets, docs, sig)
    if not full:
        try:
            cat = catalog_cache.read(disk_key)
        except Exception:  # any unreadable cache entry is rebuilt below, never trusted
            cat = None
        if cat is not None:
            catalog_cache.keep_checks(cat, disk_key)
            _remember(key, cat)
            return cat
    from ..language.rules import build_rulesets
    from ..reading import overrides
    from ..reading.catalog import FILES, Merged, build, load_layers, measurement_problems, merge_into

    parsed = overrides.parse(sets)
    prev, context, reuse = None, "", None
    if not full and catalog_cache.cache.enabled():
        # After an edit: the entries whose text is unchanged since the catalog built last for these
        # layers are neither parsed nor checked again (a one-entry edit of a 10,000-model overlay
        # costs one entry's work, not the catalog's).
        context = catalog_cache.reuse_context(dirs)
        try:
            prev = catalog_cache.previous(dirs, context)
        except Exception:  # an unreadable cache file is never trusted
            prev = None
        if prev is not None and prev.context == context:
            last = prev
            kept_out = {(k, s, e) for k, d in docs if isinstance(d.data, dict)
                        for s, v in d.data.items() if isinstance(v, dict) for e in v}  # in-memory documents' entries

            def reuse(fkey, section, eid, h):
                return last.reusable(FILES[fkey][1][section], eid, h) and (fkey, section, eid) not in kept_out
        else:
            prev = None
    merged, problems = load_layers(dirs, reuse)
    for file_key, doc in docs:
        merge_into(merged.setdefault(file_key, Merged(file_key)), doc)
    previous = {}
    if parsed and not problems and "assumptions.yaml" in merged:
        known = (merged["assumptions.yaml"].data or {}).get("assumptions") or {}
        previous = {n: (a or {}).get("value") for n, a in known.items() if isinstance(a, dict)}
        for doc in overrides.documents(parsed, known):
            merge_into(merged["assumptions.yaml"], doc)
    cat = None
    if not problems:
        cat, problems = build(merged)
        if not problems:
            problems = coded(overrides.check_dimensions(cat, previous, parsed), "override_error")
            for name, value, _item in parsed:
                cat.overrides[name] = (previous.get(name), value)
        if not problems:
            cat.rules_key = catalog_cache.rules_key(context, merged, cat)
            if prev is not None and cat.rules_key and prev.rules_key == cat.rules_key:
                catalog_cache.keep_rulesets(cat, prev)  # no rule file, vocabulary or assumption's dimension changed: checked before
            else:
                problems = build_rulesets(cat, merged, every_mode=full)
    if problems:
        raise DataError(problems)
    assert cat is not None
    if not full:
        catalog_cache.join_reused(cat, merged, prev)
        cat.context = context
    problems = measurement_problems(cat, merged)
    if problems:
        raise DataError(problems)
    _remember(key, cat)
    catalog_cache.write(disk_key, cat, context, dirs)
    catalog_cache.keep_checks(cat, disk_key)
    return cat


def _remember(key, cat) -> None:
    """Keep at most MEMO_CATALOGS catalogs (and the functions compiled for them) in memory."""
    _CATALOGS[key] = cat
    while len(_CATALOGS) > MEMO_CATALOGS:
        del _CATALOGS[next(iter(_CATALOGS))]
