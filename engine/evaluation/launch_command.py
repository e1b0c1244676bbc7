"""The framework command lines that run an evaluated scenario (the rule set's `launchers:`,
language/launchers.py): TRL's `trl grpo` / `trl dpo` with `trl vllm-serve` on the rollout
engine's own GPUs, verl's `main_ppo`. The flags and their spellings are data; this module only
keeps the parts whose `when` holds and fills the placeholders from the scenario's inputs, its
slots' entries and its rules' values."""
from __future__ import annotations

import re

from ..language.launchers import PLACEHOLDER, applies, parts_of


def _value(result, name: str):
    """A name of a `when` or a placeholder: an input, a slot's entry id, or a rule's value."""
    sc = result.scenario
    bare = name[len("input."):] if name.startswith("input.") else name
    if bare in sc.inputs:
        return sc.inputs[bare]
    if not name.startswith("input.") and name in sc.selections:
        return sc.selections[name].id
    return result.values.get(name)


def _same(have, want) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        return bool(have) is want if isinstance(want, bool) else False
    if isinstance(want, (int, float)) and isinstance(have, (int, float)):
        return float(have) == float(want)
    return str(have) == str(want)


def _holds(result, when: dict) -> bool:
    for name, want in when.items():
        have = _value(result, name)
        wants = want if isinstance(want, list) else [want]
        if not any(_same(have, w) for w in wants):
            return False
    return True


def _text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else f"{v:.6g}"
    return str(v)


def _devices(result) -> dict:
    """CUDA device indexes: each device group's GPUs first (TRL's docs start the server on 0..n-1),
    then the trainer's."""
    fit, out, first = result.fit, {}, 0
    for g in (fit.groups if fit else []):
        out[f"devices.{g.name}"] = ",".join(str(k) for k in range(first, first + g.gpus))
        first += g.gpus
    n = int(result.scenario.inputs.get("gpus", 1))
    out["devices.training"] = ",".join(str(k) for k in range(first, first + n))
    return out


def _fixed(result) -> dict:
    model = result.scenario.model
    hub = (model.raw.get("hub") or [None])[0] if hasattr(model, "raw") and isinstance(model.raw, dict) else None
    return {"model.hub": hub or model.id, "model.id": model.id, **_devices(result)}


def _fill(result, text: str, fixed: dict) -> str:
    def one(m):
        name = m.group(1)
        return fixed[name] if name in fixed else _text(_value(result, name))

    return re.sub(PLACEHOLDER, one, text)


def launchers(result) -> list:
    """[{name, label, source, lines}] of the rule set's launchers for this scenario's mode whose
    `when` holds; [] when none does."""
    rs = result.catalog.rulesets[result.scenario.ruleset]
    mode = result.scenario.mode
    fixed = None
    out = []
    for launcher in rs.launchers:
        if mode not in launcher["modes"] or not _holds(result, launcher.get("when") or {}):
            continue
        fixed = fixed if fixed is not None else _fixed(result)
        lines = []
        for line in launcher["lines"]:
            if not applies(line, mode) or not _holds(result, line.get("when") or {}):
                continue
            words = [_fill(result, text, fixed) for _where, when, text in parts_of({"lines": [line]}, mode)
                     if text and _holds(result, when)]
            lines.append(" ".join(words))
        out.append({"name": launcher["name"], "label": launcher["label"], "source": launcher["source"], "lines": lines})
    return out
