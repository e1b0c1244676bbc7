"""vramrules: how much GPU memory will this LLM need, and will it fit?

Every fact is sourced YAML in data/, every formula a rule in data/rules/. The API:

    import vramrules
    result = vramrules.evaluate(model="llama3-70b", mode="train-lora", gpu="h100-sxm-80gb")
"""
from __future__ import annotations

from .version import __version__

__all__ = ["__version__", "evaluate", "load_catalog", "DataError", "UsageError", "EvaluationError", "VramrulesError"]


def __getattr__(name):  # lazy: `import vramrules` costs nothing until used
    if name in ("evaluate", "load_catalog", "Result", "Memory", "Fit", "Component"):
        from . import api

        value = getattr(api, name)
    elif name in ("DataError", "UsageError", "EvaluationError", "VramrulesError"):
        from . import errors

        value = getattr(errors, name)
    else:
        raise AttributeError(name)
    globals()[name] = value  # found once: a caller per keystroke does not come back here
    return value
