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
    """One located problem in the data or rules: FILE:LINE:COL: /pointer: message (hint: ...)."""

    location: Location
    pointer: str = ""
    message: str = ""
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.location}: "
        if self.pointer:
            text += f"{self.pointer}: "
        text += self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class VramrulesError(Exception):
    """Base class; the CLI maps subclasses to exit codes."""

    exit_code = 1


class DataError(VramrulesError):
    """Broken data or rules: every problem found, sorted by position (exit 1)."""

    exit_code = 1

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class EvaluationError(VramrulesError):
    """A rule failed while evaluating a scenario (division by zero, overflow, negative size)."""

    exit_code = 1

    def __init__(self, problem: Problem):
        self.problems = [problem]
        super().__init__(str(problem))


class UsageError(VramrulesError):
    """Bad user input on the command line or API (exit 2)."""

    exit_code = 2


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
