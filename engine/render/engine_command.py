"""The text renderer's lines for a llama.cpp profile's command line (built by
evaluation/engine_command.py, which the JSON document uses too)."""
from __future__ import annotations

from ..evaluation.engine_command import PLACEHOLDER, command, model_path, ollama_line
from ..evaluation.engines import label
from ..evaluation.engines import of as engine_of


def lines(result) -> list[str]:
    """The command, and what MODEL.gguf stands for; a serving engine's command and the lines it
    prints at start-up; nothing for another rule set."""
    text = command(result)
    if text is None:
        return _serving(result)
    out = ["llama.cpp command line:", f"  {text}"]
    if model_path(result) == PLACEHOLDER:
        out.append(f"  ({PLACEHOLDER}: a GGUF of {result.scenario.model.id} at {result.scenario.selections['precision'].id})")
    line = ollama_line(result)
    if line:
        out.append(f"  {line}")
    return out


def _serving(result) -> list[str]:
    if engine_of(result.scenario) is None:  # no serving engine's profile: nothing to import
        return []
    from ..evaluation.serve_command import command as serve_command
    from ..evaluation.serve_command import plan

    p = plan(result)
    if p is None:
        return []
    name = label(result.scenario.selections["engine"])
    out = [f"{name} launch command:", f"  {serve_command(result)}"]
    out += [f"  ({n})" for n in p["notes"]]
    if p["startup"]:
        out.append(f"{name} should print at start-up:")
        out += [f"  {line}" for line in p["startup"]]
    return out
