"""The framework command lines of a rule set (`launchers:` in data/rules/*.yaml): which names a
launcher reads for a mode, so the mode computes them and a misspelt one is a data error when
the rules load. evaluation/launch_command.py fills them from an evaluated scenario.

A launcher lists the modes it runs; each line is parts joined by spaces; a line, a part or the
whole launcher may carry `when: {NAME: VALUE | [VALUES]}` (an input, a slot's entry id, or a
rule's value) and `modes: [...]`. {input.NAME}, {RULE}, {model.hub}, {model.id},
{devices.training} and {devices.GROUP} are the placeholders."""
from __future__ import annotations

import re

PLACEHOLDER = r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}"  # compiled on first use (re's cache)
FIXED = ("model.hub", "model.id", "devices.training")  # filled by the engine, not read from the rules


def applies(spec: dict, mode: str) -> bool:
    modes = spec.get("modes")
    return not modes or mode in modes


def parts_of(launcher: dict, mode: str):
    """(where, when, text) of every line and part of a launcher that can apply to `mode`: `where`
    is the JSON-pointer tail of the part (for errors)."""
    for i, line in enumerate(launcher["lines"]):
        if not applies(line, mode):
            continue
        yield (i,), line.get("when") or {}, ""
        for k, part in enumerate(line["parts"]):
            if isinstance(part, str):
                yield (i, "parts", k), {}, part
            elif applies(part, mode):
                yield (i, "parts", k), part.get("when") or {}, part["text"]


def names(launcher: dict, mode: str, groups: list) -> list:
    """Every name the launcher reads for `mode`: its `when` keys and its placeholders (input.NAME
    with the prefix), less what the engine fills itself."""
    out = list(launcher.get("when") or {})
    fixed = set(FIXED) | {f"devices.{g['name']}" for g in groups}
    for _where, when, text in parts_of(launcher, mode):
        out += list(when)
        out += [n for n in re.findall(PLACEHOLDER, text) if n not in fixed]
    return list(dict.fromkeys(out))
