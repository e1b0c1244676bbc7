"""The text renderer's lines for a llama.cpp profile's command line (built by
evaluation/engine_command.py, which the JSON document uses too)."""
from __future__ import annotations

from ..evaluation.engine_command import PLACEHOLDER, command, model_path, ollama_line


def lines(result) -> list[str]:
    """The command, and what MODEL.gguf stands for; nothing for another rule set."""
    text = command(result)
    if text is None:
        return []
    out = ["llama.cpp command line:", f"  {text}"]
    if model_path(result) == PLACEHOLDER:
        out.append(f"  ({PLACEHOLDER}: a GGUF of {result.scenario.model.id} at {result.scenario.selections['precision'].id})")
    line = ollama_line(result)
    if line:
        out.append(f"  {line}")
    return out
