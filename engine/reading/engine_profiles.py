"""Engine profiles (data/engines.yaml) at one release: the releases a profile covers, and the
value each setting has there. A setting is a list of values by release, each holding from its
`since` to the next item's, with its own source and review date; formulas read the value at the
selected release as `engine.NAME` (the schema's `x-fields` declares each name's kind; the catalog
reads them, reading/catalog.py _engines)."""
from __future__ import annotations

import re

from ..valuekinds import BOOL, ENUM, NUM

_NUMBER = r"^v?(\d+(?:\.\d+){0,3})$"  # compiled on first use (re's cache)


def numbers(text: str) -> tuple:
    return tuple(int(x) for x in text.split("."))


def release_key(releases: dict, text: str):
    """A sortable key of a release: its numbers (first..last profiles), its place among the
    builds (build-named ones); None when `text` is not a release of that kind."""
    builds = releases.get("builds")
    if builds:
        low = [b.lower() for b in builds]
        return (low.index(text.lower()),) if text.lower() in low else None
    m = re.match(_NUMBER, text)
    return numbers(m.group(1)) if m else None


def _le(a: tuple, b: tuple) -> bool:
    n = max(len(a), len(b))
    return a + (0,) * (n - len(a)) <= b + (0,) * (n - len(b))


at_or_before = _le


def covers(releases: dict, key: tuple) -> bool:
    """Whether a release (its key) lies in the profile's range."""
    if releases.get("builds"):
        return True
    return _le(numbers(releases["first"]), key) and _le(key, numbers(releases["last"]))


def value_of(ft, raw_value) -> object:
    """A setting's value as formulas read it: bytes for a quantity, a float, a bool or a choice."""
    if ft.kind == NUM and ft.dim:
        from .units import canonical, quantity

        return canonical(quantity(raw_value))
    if ft.kind == NUM:
        return float(raw_value)
    if ft.kind == BOOL:
        return bool(raw_value)
    return str(raw_value) if ft.kind == ENUM else raw_value


def default_of(ft) -> object:
    return value_of(ft, ft.default) if ft.default is not None else (0.0 if ft.kind == NUM else False if ft.kind == BOOL else "")


def at_release(raw: dict, key: tuple, types: dict) -> dict:
    """{setting: (value, index of the item that holds, or None for the schema default)} at the
    release whose key is `key`: the last item whose since is at or before it."""
    releases = raw.get("releases") or {}
    out = {}
    settings = raw.get("settings") or {}
    for name, ft in types.items():
        held = None
        for i, item in enumerate(settings.get(name) or []):
            since = release_key(releases, str(item.get("since", "")))
            if since is not None and _le(since, key):
                held = i
        out[name] = (default_of(ft), None) if held is None else (value_of(ft, settings[name][held]["value"]), held)
    return out


def held_items(raw: dict, release: str) -> dict:
    """{setting: the item (its value, source, spread, calibrated_on) that holds at `release`}:
    what an answer at that release cites of each setting the profile gives."""
    releases = raw.get("releases") or {}
    key = release_key(releases, release)
    out = {}
    for name, items in (raw.get("settings") or {}).items():
        for item in items or []:
            since = release_key(releases, str(item.get("since", "")))
            if key is not None and since is not None and _le(since, key):
                out[name] = item
    return out


def default_release(raw: dict) -> str:
    r = raw.get("releases") or {}
    return r["builds"][0] if r.get("builds") else r.get("last", "")


def problems(raw: dict, types: dict) -> list:
    return _setting_problems(raw, types) + launch_problems(raw)


def _setting_problems(raw: dict, types: dict) -> list:
    """(pointer, message, hint) of what the schema cannot see: a releases block with neither or
    both shapes, a since that is no release of the profile, items out of order, the first
    item after the first release (the oldest releases would have no value)."""
    out: list = []
    r = raw.get("releases") or {}
    has_range, has_builds = "first" in r or "last" in r, bool(r.get("builds"))
    if has_range == has_builds or (has_range and not ("first" in r and "last" in r)):
        out.append((("releases",), "give first and last (a numeric range) or builds (named builds), not both or neither",
                    "releases: {first: '0.6.0', last: '0.27.1'}"))
        return out
    if has_range and not _le(numbers(r["first"]), numbers(r["last"])):
        out.append((("releases", "last"), f"last {r['last']} is before first {r['first']}", "swap them"))
    first_key = release_key(r, r["builds"][0] if has_builds else r["first"])
    for name, items in (raw.get("settings") or {}).items():
        prev = None
        for i, item in enumerate(items or []):
            key = release_key(r, str(item.get("since", "")))
            if key is None:
                out.append((("settings", name, i, "since"), f"since '{item.get('since')}' is not a release of this profile",
                            "a release number like 0.21.0" if has_range else f"one of the builds: {', '.join(r['builds'])}"))
                continue
            if prev is not None and not (_le(prev, key) and prev != key):
                out.append((("settings", name, i, "since"), f"since {item['since']} is not after the item before it", "list the values oldest first"))
            out += [(("settings", name, i, *pointer), message, hint) for pointer, message, hint in _spread_problems(item, types.get(name))]
            if i == 0 and first_key is not None and not _le(key, first_key):
                out.append((("settings", name, 0, "since"), f"the first value of {name} starts at {item['since']}, after the profile's first release",
                            "start the first value at the profile's first release, or move the range"))
            prev = key
    return out


def _spread_problems(item: dict, ft) -> list:
    """A spread must hold its value: low <= value <= high, in the value's kind of unit (the
    schema checked each end's unit; the order is checked here)."""
    spread = item.get("spread")
    if not isinstance(spread, dict) or ft is None or ft.kind != NUM:
        return []
    low, value, high = (float(value_of(ft, x)) for x in (spread["low"], item["value"], spread["high"]))  # type: ignore[arg-type]  # numbers: units the schema passed
    if not low <= value <= high:
        return [(("spread",), f"the spread [{spread['low']}, {spread['high']}] does not hold the value {item['value']}",
                 "low <= value <= high: the value is the best estimate inside the measured range")]
    return []


# the plan's values a launch template may name (evaluation/serve_command.py fills them)
FIELDS = ("model", "tp", "pp", "seq_len", "batch", "memory_fraction", "kv_precision", "kv_dtype", "prefill_tokens",
          "kv_tokens", "kv_blocks", "max_concurrency", "pool_gib", "k_gib", "v_gib", "max_loras", "max_lora_rank")


def template_problem(text: str) -> str | None:
    """Why a launch template is not one the plan fills (a field outside FIELDS, an attribute or
    an index of one, a conversion, a format other than a number's), or None."""
    import string  # only when a launch template is checked

    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        return f"not a template: {exc}"
    for _lit, name, spec, conv in parts:
        if name is None:
            continue
        if name not in FIELDS:
            return f"unknown field {{{name}}} (the fields: {', '.join(FIELDS)})"
        if conv or (spec and not all(c in ",.0123456789fdg" for c in spec)):
            return f"{{{name}}} takes only a number format such as :, or :.2f"
    return None


def launch_problems(raw: dict) -> list:
    """(pointer, message, hint) of a profile's launch entries: a since that is no release of the
    profile or out of order, a template the plan cannot fill."""
    out: list = []
    r = raw.get("releases") or {}
    prev = None
    for i, item in enumerate(raw.get("launch") or []):
        key = release_key(r, str(item.get("since", "")))
        if key is None:
            out.append((("launch", i, "since"), f"since '{item.get('since')}' is not a release of this profile", ""))
        elif prev is not None and not (_le(prev, key) and prev != key):
            out.append((("launch", i, "since"), f"since {item['since']} is not after the item before it", "list them oldest first"))
        prev = key if key is not None else prev
        texts: list = [(("command", j), w) for j, w in enumerate(item.get("command") or [])]
        texts += [(("flags", j, "value"), f.get("value", "")) for j, f in enumerate(item.get("flags") or [])]
        texts += [(("startup", j), line) for j, line in enumerate(item.get("startup") or [])]
        for pointer, text in texts:
            why = template_problem(text)
            if why:
                out.append((("launch", i, *pointer), why, "write {seq_len}, {kv_tokens:,}, {pool_gib:.2f}, ..."))
    return out
