"""The user's words for catalog entries: an id as written, in any case, a display name
(`NVIDIA GeForce RTX 4090`, `Meta-Llama-3-70B`), an alias from the data (`Q4_K_M`, `f16`), or a
short form that names one entry (`4090`, `3060`, `meta-llama/Llama-3.1-8B`). A short form that
fits several entries is answered with the choices, never with a guess."""
from __future__ import annotations

import re

from ..errors import UsageError, unknown

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
# words a vendor puts before a product name (nvidia-smi: "NVIDIA GeForce RTX 4090")
_VENDOR = re.compile(r"\b(nvidia|geforce|amd|radeon|instinct|intel|apple)\b")


def _norm(text: str) -> str:
    return _NOT_ALNUM.sub("", text.lower())


def _spellings(entry) -> set:
    raw = entry.raw if isinstance(entry.raw, dict) else {}
    words = [entry.id, str(raw.get("name", ""))] + [str(a) for a in raw.get("aliases") or []]
    out = {_norm(w) for w in words if w}
    out |= {_norm(_VENDOR.sub(" ", w.lower())) for w in words if w}
    return out - {""}


def find(kind: str, text: str, entries):
    """The entry `text` names, or a UsageError: unknown (with the closest ids) or ambiguous
    (with every entry it could mean)."""
    hit = entries.get(text)
    if hit is not None:
        return hit
    want = _norm(text)
    vendorless = _norm(_VENDOR.sub(" ", text.lower()))
    if not want:
        raise unknown(kind, text, entries)
    spelled = {eid: _spellings(e) for eid, e in entries.items()}
    for test in (lambda s: want in s or vendorless in s,                           # an id, name or alias in any case
                 lambda s: any(x.endswith(want) or (len(x) >= 4 and want.endswith(x)) for x in s),  # a tail: 'q4_k' -> gguf-q4-k; org/name
                 lambda s: any(want in x for x in s)):                            # a part: '4090', '3060', 'mi300'
        found = sorted(eid for eid, s in spelled.items() if test(s))
        if len(found) == 1:
            return entries[found[0]]
        if len(found) > 1:
            raise UsageError(f"'{text}' could be any of: {', '.join(found)}; give one id")
    raise unknown(kind, text, entries)
