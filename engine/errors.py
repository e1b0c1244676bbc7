"""Error types shared by every stage. None of them ever carries a traceback to the user."""
from __future__ import annotations

import os
from typing import NamedTuple


def shown(path: str) -> str:
    """A file as a person should read it: relative to the current folder when it lies inside it
    (data/models.yaml), else as stored (absolute paths, '--set ...', '<rules default>')."""
    if not os.path.isabs(path):
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel == ".." or rel.startswith(".." + os.sep) else rel


class Location(NamedTuple):
    """A place in a data file: 1-based line and column, as editors count. (A tuple: cheap to
    make by the thousand when the catalog cache is read, and ordered by file, line, column.)
    `file` is absolute for data files; str() shows it relative to the current folder."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{shown(self.file)}:{self.line}:{self.col}"
        return shown(self.file)


class Problem(NamedTuple):
    """One located problem in the data or rules: FILE:LINE:COL: /pointer: message (hint: ...).
    `code` is stable and machine-readable (see CODES); the stage that collects a problem gives
    it one when its maker did not."""

    location: Location
    pointer: str = ""
    message: str = ""
    hint: str = ""
    code: str = ""

    def as_json(self) -> dict:
        loc = self.location
        return {"code": self.code or "data_error", "file": shown(loc.file) if loc and loc.file else None,
                "line": loc.line or None if loc else None, "col": loc.col or None if loc else None,
                "pointer": self.pointer or None, "message": self.message, "hint": self.hint or None}

    def __str__(self) -> str:
        text = f"{self.location}: "
        if self.pointer:
            text += f"{self.pointer}: "
        text += self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


# Stable error codes (`--format json`), by the stage that found the problem. OPA's error objects
# ({code, message, location}) are the model.
CODES = {
    "yaml_error": "a data file is not the YAML the loader accepts (syntax, duplicate keys, tags, YAML 1.1 forms)",
    "schema_error": "a data file breaks its JSON Schema (types, required fields, units, dimensions)",
    "data_error": "a meaning check of the data failed (heads, windows, references, capacities)",
    "vocabulary_error": "vocabulary.yaml declares an input or slot wrongly",
    "assumption_error": "an assumption's value breaks its declared dimension or bounds",
    "override_error": "a --set value is malformed or of the wrong dimension",
    "rule_error": "a rule set does not check: names, dimensions, modes, the engine's contract",
    "rule_cycle": "rules depend on each other in a cycle",
    "policy_error": "validate's policy checks: unread assumptions, undocumented components, parameter counts",
    "import_error": "an imported config, checkpoint or GGUF file is malformed or inconsistent",
    "cache_error": "the catalog cache is damaged (it has been removed)",
    "evaluation_error": "a rule failed on this scenario (division by zero, overflow, a negative size)",
    "usage_error": "the command line or API call is wrong (unknown names, bad values)",
}


def coded(problems, code: str) -> list:
    """The problems, each with `code` unless it has one already."""
    return [p if p.code else p._replace(code=code) for p in problems]


class VramrulesError(Exception):
    """Base class; the CLI maps subclasses to exit codes."""

    exit_code = 1
    code = "data_error"

    def objects(self) -> list[dict]:
        """The error as machine-readable objects (`--format json`)."""
        problems = getattr(self, "problems", None)
        if problems:
            return [(p if p.code else p._replace(code=self.code)).as_json() for p in problems]
        return [{"code": self.code, "file": None, "line": None, "col": None, "pointer": None, "message": str(self), "hint": None}]


class DataError(VramrulesError):
    """Broken data or rules: every problem found, sorted by position (exit 1)."""

    exit_code = 1

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class EvaluationError(VramrulesError):
    """A rule failed while evaluating a scenario (division by zero, overflow, negative size)."""

    exit_code = 1
    code = "evaluation_error"

    def __init__(self, problem: Problem):
        self.problems = [problem]
        super().__init__(str(problem))


class UsageError(VramrulesError):
    """Bad user input on the command line or API (exit 2)."""

    exit_code = 2
    code = "usage_error"


def closest(name: str, choices, n: int = 3) -> list[str]:
    """Close matches for a did-you-mean hint; substring matches count too."""
    import difflib  # only when there is a name to suggest for

    choices = list(choices)
    found = difflib.get_close_matches(name, choices, n=n, cutoff=0.6)
    low = name.lower()
    for c in choices:
        if len(found) >= n:
            break
        if low and low in c.lower() and c not in found:
            found.append(c)
    return found


def did_you_mean(name: str, choices, prefix: str = "", suffix: str = "") -> str:
    """The hint every did-you-mean message uses: "did you mean 'prefix+closest+suffix'?", or ''."""
    near = closest(name, choices)
    return f"did you mean '{prefix}{near[0]}{suffix}'?" if near else ""


LIST_OF = {"rule set": "rulesets", "lora-target": "lora-targets", "rule": None}


def unknown(kind: str, name: str, choices) -> UsageError:
    """`unknown model 'llama3-7b' (did you mean: llama3-70b, llama3-8b?)`."""
    near = closest(name, choices)
    hint = f" (did you mean: {', '.join(near)}?)" if near else ""
    listing = LIST_OF.get(kind, kind + "s")
    return UsageError(f"unknown {kind} '{name}'{hint}" + (f"; `vramrules list {listing}` shows all" if listing else ""))
