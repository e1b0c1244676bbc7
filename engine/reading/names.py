"""The user's words for catalog entries: an id as written, in any case, a display name
(`NVIDIA GeForce RTX 4090`, `Meta-Llama-3-70B`), an alias from the data (`Q4_K_M`, `f16`), a
Hugging Face repo id listed under the entry's `hub:` (`meta-llama/Llama-3.1-8B-Instruct`, or its
name alone: `Llama-3.1-8B-Instruct`), or a
short form that names one entry (`4090`, `3060`). A short form that fits several entries is
answered with the choices, never with a guess.

A repo id (ORG/NAME) is matched only against the `hub:` lists, in any case: a fine-tune or a
quantized upload of the same name is not silently taken for the catalog's model. An unknown one
is answered with the closest catalog names and the `hf:ORG/NAME` spelling that reads the repo
itself. The `hf:`, `ollama:` and `lmstudio:` spellings are read by the importers before a name
is looked up here (eval, fit, the API); anywhere else they are a usage error that says so."""
from __future__ import annotations

import re

from ..errors import UsageError, closest, unknown

_NOT_ALNUM = r"[^a-z0-9]+"  # patterns compiled on first use (re's cache): a warm run that finds every name by id compiles none
# words a vendor puts before a product name (nvidia-smi: "NVIDIA GeForce RTX 4090")
_VENDOR = r"\b(nvidia|geforce|amd|radeon|instinct|intel|apple)\b"
# a Hugging Face repo id: ORG/NAME (huggingface_hub's validate_repo_id allows these characters)
REPO_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$"
# models read from outside the catalog (engine/importers/joined.py): the Hub, Ollama, LM Studio
SOURCES = ("hf:", "ollama:", "lmstudio:")


def _norm(text: str) -> str:
    return re.sub(_NOT_ALNUM, "", text.lower())


def _spellings(entry) -> set:
    raw = entry.raw if isinstance(entry.raw, dict) else {}
    words = [entry.id, str(raw.get("name", ""))] + [str(a) for a in raw.get("aliases") or []]
    out = {_norm(w) for w in words if w}
    out |= {_norm(re.sub(_VENDOR, " ", w.lower())) for w in words if w}
    return out - {""}


def hub_ids(entry) -> list[str]:
    """The Hugging Face repo ids an entry lists under `hub:`."""
    raw = entry.raw if isinstance(entry.raw, dict) else {}
    ids = raw.get("hub") or []
    return [str(r) for r in ids] if isinstance(ids, list) else []


def source_of(text) -> str:
    """'hf:', 'ollama:' or 'lmstudio:' when `text` names a model to read from there, else ''."""
    if not isinstance(text, str):
        return ""
    low = text[:9].lower()
    return next((s for s in SOURCES if low.startswith(s)), "")


def find(kind: str, text: str, entries):
    """The entry `text` names, or a UsageError: unknown (with the closest ids) or ambiguous
    (with every entry it could mean)."""
    hit = entries.get(text)
    if hit is not None:
        return hit
    source = source_of(text)
    if source:
        raise UsageError(f"'{text}' is a model to read from {_FROM[source]}: `vramrules eval` and `fit` (--model) and the API read it; "
                         f"this command takes {kind} names from the catalog (`vramrules list {kind}s`)")
    # the words of every entry: of a large cached kind, its names line, not every entry built
    pool = entries.light() if hasattr(entries, "light") else entries
    if re.match(REPO_ID, text):
        by_repo = _by_repo(kind, text, pool)
        if by_repo is not None:
            return entries[by_repo.id]
    named = sorted({eid for eid, e in pool.items() for repo in hub_ids(e) if repo.split("/")[-1].lower() == text.lower()})
    if len(named) == 1:  # a repo's name without its org: Llama-3.1-8B-Instruct
        return entries[named[0]]
    want = _norm(text)
    vendorless = _norm(re.sub(_VENDOR, " ", text.lower()))
    if not want:
        raise unknown(kind, text, entries)
    spelled = {eid: _spellings(e) for eid, e in pool.items()}
    for test in (lambda s: want in s or vendorless in s,                           # an id, name or alias in any case
                 lambda s: any(x.endswith(want) or (len(x) >= 4 and want.endswith(x)) for x in s),  # a tail: 'q4_k' -> gguf-q4-k
                 lambda s: any(want in x for x in s)):                            # a part: '4090', '3060', 'mi300'
        found = sorted(eid for eid, s in spelled.items() if test(s))
        if len(found) == 1:
            return entries[found[0]]
        if len(found) > 1:
            raise UsageError(f"'{text}' could be any of: {', '.join(found)}; give one id")
    raise unknown(kind, text, entries)


_FROM = {"hf:": "the Hugging Face Hub", "ollama:": "Ollama's models folder", "lmstudio:": "LM Studio's models folder"}


def _by_repo(kind: str, text: str, entries):
    """The entry listing repo id `text` under `hub:` (in any case); None when no entry of this
    kind lists repo ids (GPUs, precisions: the usual rules apply), else a UsageError."""
    want = text.lower()
    owners: dict[str, list[str]] = {}
    for eid, e in entries.items():
        for repo in hub_ids(e):
            owners.setdefault(repo.lower(), []).append(eid)
    if not owners:
        return None
    found = sorted(set(owners.get(want, ())))
    if len(found) == 1:
        return entries[found[0]]
    if len(found) > 1:
        raise UsageError(f"'{text}' could be any of: {', '.join(found)}; give one id")
    near: list[str] = []
    for repo in closest(want, owners):
        near += [eid for eid in owners[repo] if eid not in near]
    name = text.split("/", 1)[1]
    near += [eid for eid in closest(name.lower(), entries) if eid not in near]
    hint = f"closest: {', '.join(near[:4])}; " if near else ""
    raise UsageError(f"unknown {kind} '{text}': no catalog {kind} lists this Hugging Face repo ({hint}"
                     f"`--model hf:{text}` reads its config.json and safetensors headers from the Hub)")
