"""--engine NAME[@VERSION]: a serving engine's profile (data/engines.yaml) at one release.

The engine decides the frame of the scenario, as the data says: the rule set that models it
(llama.cpp: `llamacpp`) and, when no --mode is given, the mode it implies (a serving engine:
`serve`). The release must be one the profile covers (`releases: first..last`, or named
`builds`); any other is refused with the range, never read as the nearest one. The scenario's
engine slot then holds the profile at that release, named `NAME@VERSION`."""
from __future__ import annotations

import re

from ..errors import UsageError, unknown
from ..reading import engine_profiles as ep
from ..reading.catalog import Entry
from ..reading.names import find

_VERSION = r"^v?(\d+(?:\.\d+){0,3})$"  # compiled on first use (re's cache)


def _numbers(text: str) -> tuple:
    return tuple(int(x) for x in text.split("."))


def _padded(a: tuple, b: tuple) -> tuple:
    n = max(len(a), len(b))
    return a + (0,) * (n - len(a)), b + (0,) * (n - len(b))


def known(entry: Entry) -> str:
    """The releases a profile covers, as a user reads them: '0.6.0 to 0.27.1' or '0c1e57098'."""
    r = entry.raw["releases"]
    if r.get("builds"):
        return ", ".join(r["builds"])
    return f"{r['first']} to {r['last']}"


def release(entry: Entry, version: str | None) -> str:
    """The release `version` names in the profile (None: its newest, or its first build), or a
    UsageError listing the releases it covers."""
    r = entry.raw["releases"]
    builds = r.get("builds")
    if version is None:
        return builds[0] if builds else r["last"]
    if builds:
        hit = next((b for b in builds if b.lower() == version.lower()), None)
        if hit is None:
            raise UsageError(f"unknown {entry.name} version '{version}': the profile covers {known(entry)} "
                             f"(--engine {entry.id}@{builds[0]}, or --engine {entry.id})")
        return hit
    m = re.match(_VERSION, version)
    if not m:
        raise UsageError(f"--engine {entry.id}@{version}: '{version}' is not a release number (write it as 0.10.1)")
    v = _numbers(m.group(1))
    lo, hi = _numbers(r["first"]), _numbers(r["last"])
    if _padded(v, lo)[0] < _padded(v, lo)[1] or _padded(v, hi)[0] > _padded(v, hi)[1]:
        raise UsageError(f"unknown {entry.name} version '{version}': the profile covers releases {known(entry)} "
                         f"(hint: a release outside them is a data change in engines.yaml, reviewed like any other)")
    return m.group(1)


def split(text) -> tuple:
    """('vllm', '0.10.1') of 'vllm@0.10.1'; (NAME, None) without a version."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"--engine must name an engine, got {text!r}")
    name, sep, version = text.strip().partition("@")
    if sep and not version:
        raise UsageError(f"--engine {text}: give a version after '@', or leave '@' out")
    return name, (version if sep else None)


def base(cat, text) -> Entry:
    """The profile entry `text` (NAME or NAME@VERSION) names, without its release."""
    name, _ = split(text)
    engines = cat.kind("engine")
    try:
        return find("engine", name, engines)
    except UsageError:
        near = unknown("engine", name, engines)
        spelled = ", ".join(f"{e.name} ({eid}" + (f"[@{known(e)}])" if not e.raw["releases"].get("builds") else ")")
                            for eid, e in engines.items())
        raise UsageError(f"{near}; known engines: {spelled}") from None


def select(cat, text) -> Entry:
    """The profile at the release `text` names: an entry with id NAME@VERSION (its `release`
    field is the version) whose facts are the settings at that release."""
    entry = base(cat, text)
    version = release(entry, split(text)[1])
    raw = dict(entry.raw)
    raw["release"] = version
    facts, where = dict(entry.facts), dict(entry.fact_where)
    if version != ep.default_release(entry.raw):
        key = ep.release_key(entry.raw["releases"], version)
        for name, (value, held) in ep.at_release(entry.raw, key, cat.types["engine"]).items():
            facts[name] = value
            where[name] = None if held is None else entry.fact_where.get(f"{name}@{held}", entry.location)
    return Entry("engine", f"{entry.id}@{version}", raw, entry.location, entry.layer, facts, where)


def frame(cat, engine, rules: str | None, mode: str | None) -> tuple:
    """(rule set, mode) of a scenario given --engine (or not), --rules and --mode (None: not
    given). The engine's rule set must be the one --rules names, if given."""
    if engine is None:
        return rules or "default", mode or "inference"
    entry = base(cat, engine)
    release(entry, split(engine)[1])  # an unknown release is refused before anything is evaluated
    wants = entry.raw["rules"]
    if rules is not None and rules != wants:
        raise UsageError(f"--engine {engine} is modelled by rule set '{wants}', but --rules says '{rules}' (leave --rules out)")
    if wants not in cat.rulesets:
        raise unknown("rule set", wants, cat.rulesets)
    return wants, mode or entry.raw["mode"]


def of(sc) -> Entry | None:
    """The engine profile a scenario's answer follows: the engine slot's entry when the scenario
    is in that engine's frame (its rule set and mode), else None (an engine given with another
    mode is reported as not applied, by the rules that read it or not)."""
    for entry in sc.selections.values():
        if entry.kind == "engine":
            return entry if entry.raw.get("rules") == sc.ruleset and entry.raw.get("mode") == sc.mode else None
    return None


def label(entry: Entry) -> str:
    """'vLLM 0.27.1'."""
    return f"{entry.name} {entry.raw.get('release', '')}".strip()
