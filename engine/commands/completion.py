"""Shell completion for catalog names (click's completion protocol): models, GPUs, precisions,
modes, optimizers, LoRA target sets, rule sets. Loads the catalog of the built-in data plus
VRAMRULES_DATA; a broken catalog completes nothing rather than printing errors into the shell."""
from __future__ import annotations


def _names(kind: str) -> list[str]:
    try:
        from ..api import load_catalog

        cat = load_catalog()
    except Exception:  # completion must never spill errors into the user's shell
        return []
    if kind == "mode":
        return sorted({m for rs in cat.rulesets.values() for m in rs.modes})
    if kind == "ruleset":
        return sorted(cat.rulesets)
    if kind == "gpu":
        return sorted(cat.kind("gpu")) + ["auto"]
    return sorted(cat.kind(kind))


def completer(kind: str):
    def complete(ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        return [CompletionItem(n) for n in _names(kind) if n.startswith(incomplete)]

    return complete
