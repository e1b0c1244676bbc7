"""Models another program installed on this machine, found by the name that program gives them:
Ollama's and LM Studio's. Each is a GGUF file (or a split of several) that gguf_file reads as
it reads any: metadata and tensor table only.

    ollama:NAME[:TAG]          $OLLAMA_MODELS (else ~/.ollama/models)/manifests/HOST/NAMESPACE/NAME/TAG,
                               as `ollama pull` names it: llama3.1:8b (registry.ollama.ai/library),
                               USER/NAME:TAG, hf.co/ORG/REPO:TAG; TAG defaults to latest. The manifest's
                               layer of type application/vnd.ollama.image.model is the GGUF blob
                               (blobs/sha256-HEX).
    lmstudio:PUBLISHER/REPO    the .gguf in ~/.lmstudio/models/PUBLISHER/REPO/ (or the older
                               ~/.cache/lm-studio/models/); /FILE.gguf or :QUANT (Q4_K_M) picks one
                               when the folder holds several; REPO alone when one publisher has it.

An unknown name is answered with what is installed. Names are checked before they become paths
(no '..', no absolute paths, no backslashes), a manifest is read with a size limit, a digest
must be sha256 and its blob a regular file of the manifest's size: a partial pull is an error,
not a smaller model."""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import DataError, Location, Problem, UsageError, closest
from . import jsondoc
from .gguf_file import SPLIT, is_projector, read_parts, read_projector, split_parts, with_projector
from .localfile import read_limited
from .model_entry import gguf_entry

OLLAMA = "ollama:"
LMSTUDIO = "lmstudio:"
REGISTRY, LIBRARY, LATEST = "registry.ollama.ai", "library", "latest"
MODEL_LAYER = "application/vnd.ollama.image.model"
PROJECTOR_LAYER = "application/vnd.ollama.image.projector"  # a vision model's mmproj, as `ollama create` stores it (server/images.go)
MAX_MANIFEST = 1 << 20
MAX_LISTED = 10_000  # entries walked while listing what is installed
SHOWN = 12           # installed names shown in a message
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")  # one path component of a name (no '..', no '/')
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?$")
_DIGEST = re.compile(r"^sha256[:-]([0-9a-f]{64})$")


def _component(part: str, whole: str, source: str) -> str:
    if not _PART.match(part) or part in (".", ".."):
        raise UsageError(f"'{whole}': {part!r} is not a {source} model name part (letters, digits, '_', '.', '-')")
    return part


def _ident(prefix: str, text: str) -> str:
    ident = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")
    return f"{prefix}-{ident}" if ident else prefix


# --- picking a GGUF among files (an LM Studio folder, a Hub repo) -------------------------------

def _base(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _tag_matches(name: str, tag: str) -> bool:
    """QUANT names the file: 'Q4_K_M' in 'Llama-3.2-1B-Instruct-Q4_K_M.gguf' (any case), as a
    whole word: not in '...-Q4_K_M_L.gguf' or '...IQ4_K_M...'."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(tag)}(?![A-Za-z0-9_])", name, re.IGNORECASE) is not None


def _part_number(name: str) -> int:
    m = SPLIT.match(_base(name))
    return int(m["n"]) if m else 1


def pick_gguf(names: list[str], choice: str | None, label: str, spell) -> list[str]:
    """The GGUF file (every part, for a split) among `names` that `choice` means: a file name
    ('x.gguf', in any case), a quant tag ('Q4_K_M'), or None for the only model there.
    `spell(choice)` is how the user would write a choice, for the messages."""
    ggufs = [n for n in names if n.lower().endswith(".gguf")]
    if choice and choice.lower().endswith(".gguf"):
        exact = [n for n in ggufs if n == choice] or [n for n in ggufs if n.lower() == choice.lower()] \
            or [n for n in ggufs if _base(n).lower() == _base(choice).lower()]
        if len(exact) == 1:
            return split_parts(exact[0], ggufs)
        if len(exact) > 1:
            raise UsageError(f"{spell(choice)} could be any of: {', '.join(exact)}; give the file's path")
        near = closest(choice, ggufs)
        raise UsageError(f"{label} has no file {choice}" + (f" (did you mean: {', '.join(near)}?)" if near else "") + _listing(ggufs, label))
    models = [n for n in ggufs if not is_projector(n)]
    if choice:
        models = [n for n in models if _tag_matches(n, choice)]
    firsts = sorted(n for n in models if _part_number(n) == 1)
    if len(firsts) == 1:
        return split_parts(firsts[0], ggufs)
    if not firsts:
        if choice:
            raise UsageError(f"{label} has no GGUF file named for '{choice}'" + _listing(ggufs, label))
        raise UsageError(f"{label} holds no GGUF model file" + (f" (only {', '.join(ggufs[:SHOWN])})" if ggufs else ""))
    tags = [t for t in (_quant_of(n) for n in firsts) if t]
    example = spell(tags[0]) if len(set(tags)) == len(firsts) else spell(_base(firsts[0]))
    raise UsageError(f"{label} holds {len(firsts)} GGUF models: {', '.join(firsts[:SHOWN])}{', ...' if len(firsts) > SHOWN else ''}; "
                     f"name one, e.g. {example}")


_QUANT = re.compile(r"(?<![A-Za-z0-9])(I?Q[0-9]_[A-Z0-9_]*?|BF16|F16|F32|MXFP4(?:_MOE)?)(?=(?:-\d{5}-of-\d{5})?\.gguf$)", re.IGNORECASE)


def _quant_of(name: str) -> str:
    m = _QUANT.search(_base(name))
    return m.group(1) if m else ""


def _listing(names, label: str) -> str:
    shown = [n for n in names if not is_projector(n)][:SHOWN]
    return f"; {label} holds: {', '.join(shown)}" if shown else ""


# --- Ollama ------------------------------------------------------------------------------------

def ollama_dir() -> Path:
    d = os.environ.get("OLLAMA_MODELS")
    return Path(os.path.expanduser(d)) if d else Path(os.path.expanduser("~")) / ".ollama" / "models"


def _ollama_path(text: str) -> tuple[str, str, str, str]:
    """(host, namespace, model, tag) of 'NAME[:TAG]', 'NS/NAME[:TAG]', 'HOST/NS/NAME[:TAG]'."""
    body = text[len(OLLAMA):]
    name, tag = body, LATEST
    slash = body.rfind("/")
    colon = body.rfind(":")
    if colon > slash:
        name, tag = body[:colon], body[colon + 1:]
    parts = name.split("/")
    if not name or not tag or len(parts) > 3 or "" in parts:
        raise UsageError(f"'{text}' is not an Ollama model name: write ollama:NAME[:TAG] (ollama:llama3.1:8b), ollama:USER/NAME:TAG "
                         "or ollama:HOST/NAMESPACE/NAME:TAG")
    if len(parts) == 3:
        host = parts[0]
        if not _HOST.match(host):
            raise UsageError(f"'{text}': {host!r} is not a registry host")
        ns, model = parts[1], parts[2]
    elif len(parts) == 2:
        host, (ns, model) = REGISTRY, parts
    else:
        host, ns, model = REGISTRY, LIBRARY, parts[0]
    for p in (ns, model, tag):
        _component(p, text, "Ollama")
    return host, ns, model, tag


def _ollama_name(host: str, ns: str, model: str, tag: str) -> str:
    if host == REGISTRY:
        return f"{model}:{tag}" if ns == LIBRARY else f"{ns}/{model}:{tag}"
    return f"{host}/{ns}/{model}:{tag}"


def ollama_installed(root: Path | None = None) -> dict[str, Path]:
    """{name as `ollama list` shows it: manifest file} of every model installed."""
    base = (root or ollama_dir()) / "manifests"
    out: dict[str, Path] = {}
    walked = 0
    try:
        for host in sorted(os.listdir(base)):
            for ns in sorted(_dirs(base / host)):
                for model in sorted(_dirs(base / host / ns)):
                    for tag in sorted(os.listdir(base / host / ns / model)):
                        walked += 1
                        if walked > MAX_LISTED:
                            return out
                        p = base / host / ns / model / tag
                        if p.is_file() and not tag.startswith("."):
                            out[_ollama_name(host, ns, model, tag)] = p
    except OSError:
        pass
    return out


def _dirs(folder: Path) -> list[str]:
    try:
        return [n for n in os.listdir(folder) if (folder / n).is_dir() and not n.startswith(".")]
    except OSError:
        return []


def ollama_entry(text: str) -> tuple[str, dict, str]:
    """(id, models.yaml entry, shown) of an Ollama model named ollama:NAME[:TAG]."""
    host, ns, model, tag = _ollama_path(text)
    root = ollama_dir()
    name = _ollama_name(host, ns, model, tag)
    manifest = root / "manifests" / host / ns / model / tag
    if not manifest.is_file():
        installed = ollama_installed(root)
        same = [n for n in installed if n.lower() == name.lower()]  # Ollama matches names in any case
        if len(same) == 1:
            name, manifest = same[0], installed[same[0]]
        else:
            raise _unknown_ollama(text, name, installed, root)
    shown = f"{OLLAMA}{name}"
    digest, want = _model_layer(manifest, shown)
    entry = read_parts([_blob(root, digest, want, manifest, name)], [shown], model)
    if not entry.get("name") or entry["name"] == model:
        entry["name"] = name
    entry = gguf_entry(entry, f"{shown} (blob sha256-{digest[:12]})")
    projector = _layer(manifest, shown, PROJECTOR_LAYER, required=False)
    if projector is not None:  # the vision projector `ollama create` stored beside the model (an mmproj GGUF)
        blob = _blob(root, projector[0], projector[1], manifest, name)
        entry["projector"] = read_projector(blob, f"{shown} (projector blob sha256-{projector[0][:12]})")
    return _ident("ollama", name), entry, shown


def _blob(root: Path, digest: str, want: int, manifest: Path, name: str) -> Path:
    """The blob of a layer, checked to hold the bytes the manifest says."""
    blob = None
    for candidate in (root / "blobs" / f"sha256-{digest}", root / "blobs" / f"sha256:{digest}"):
        if os.path.lexists(candidate):
            blob = candidate
            break
    if blob is None:
        raise DataError([Problem(Location(str(manifest)), "/layers", f"the model's blob sha256-{digest[:12]}... is not in {root / 'blobs'}",
                                 f"pull it again: ollama pull {name}")])
    try:
        size = os.stat(blob).st_size
    except OSError as exc:
        raise DataError([Problem(Location(str(blob)), "", f"cannot read: {exc.strerror or exc}")]) from None
    if size != want:
        raise DataError([Problem(Location(str(blob)), "", f"the blob holds {size} bytes, the manifest says {want}",
                                 f"a partial download? pull it again: ollama pull {name}")])
    return blob


def _model_layer(manifest: Path, shown: str) -> tuple[str, int]:
    """(sha256 hex digest, size in bytes) of the manifest's model layer."""
    found = _layer(manifest, shown, MODEL_LAYER)
    if found is None:  # _layer raised already; for mypy
        raise DataError([Problem(Location(str(manifest)), "/layers", f"no layer of type {MODEL_LAYER}")])
    return found


def _layer(manifest: Path, shown: str, media: str, required: bool = True) -> tuple[str, int] | None:
    """(sha256 hex digest, size in bytes) of the manifest's one layer of type `media`; None when
    it has none and none is required."""
    where = str(manifest)
    doc, text = jsondoc.load(read_limited(manifest, where, MAX_MANIFEST, "an Ollama manifest"), where, "the manifest")
    f = jsondoc.Fields(doc if isinstance(doc, dict) else {}, where, text, "")
    if not isinstance(doc, dict):
        raise DataError([Problem(Location(where), "", "an Ollama manifest must hold a JSON object")])
    layers = doc.get("layers")
    if not isinstance(layers, list):
        f.fail("layers", f"must be a list of layers, got {jsondoc.describe(layers)}")
    models = [(i, la) for i, la in enumerate(layers) if isinstance(la, dict) and la.get("mediaType") == media]
    if not models and not required:
        return None
    if len(models) != 1:
        raise DataError([Problem(Location(where), "/layers", f"{'no' if not models else len(models)} layers of type {media}; a model has one",
                                 f"is {shown} a model (not only an adapter or a template)?")])
    i, layer = models[0]
    digest = layer.get("digest")
    m = _DIGEST.match(digest) if isinstance(digest, str) else None
    if m is None:
        f.fail(("layers", i, "digest"), f"must be sha256:<64 hex digits>, got {jsondoc.describe(digest)}")
    size = layer.get("size")
    if not (isinstance(size, int) and not isinstance(size, bool) and size > 0):
        f.fail(("layers", i, "size"), f"must be the blob's size in bytes, got {jsondoc.describe(size)}")
    return m.group(1), size


def _unknown_ollama(text: str, name: str, installed: dict, root: Path) -> UsageError:
    if not installed:
        return UsageError(f"no Ollama model '{name}': {root} holds no models (set OLLAMA_MODELS if Ollama keeps them elsewhere)")
    near = closest(name, installed)
    names = sorted(installed)
    more = f", ... ({len(names)} in all)" if len(names) > SHOWN else ""
    hint = f" (did you mean: {', '.join(OLLAMA + n for n in near)}?)" if near else ""
    return UsageError(f"no Ollama model '{name}' in {root}{hint}; installed: {', '.join(names[:SHOWN])}{more}")


# --- LM Studio ---------------------------------------------------------------------------------

def lmstudio_dirs() -> list[Path]:
    home = Path(os.path.expanduser("~"))
    return [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]


def lmstudio_installed() -> dict[str, tuple[Path, list[str]]]:
    """{PUBLISHER/REPO: (its folder, its .gguf files)} in every LM Studio models folder (the first
    folder wins when both hold one)."""
    out: dict[str, tuple[Path, list[str]]] = {}
    walked = 0
    for root in lmstudio_dirs():
        for pub in sorted(_dirs(root)):
            for repo in sorted(_dirs(root / pub)):
                walked += 1
                if walked > MAX_LISTED:
                    return out
                folder = root / pub / repo
                try:
                    files = sorted(n for n in os.listdir(folder) if n.lower().endswith(".gguf") and (folder / n).is_file())
                except OSError:
                    continue
                if files:
                    out.setdefault(f"{pub}/{repo}", (folder, files))
    return out


def _lmstudio_spec(text: str) -> tuple[str, str | None]:
    """(PUBLISHER/REPO or REPO, the file or quant tag or None) of lmstudio:..."""
    body = text[len(LMSTUDIO):]
    choice = None
    if ":" in body:
        body, choice = body.split(":", 1)
    parts = body.split("/")
    if len(parts) == 3 and parts[2].lower().endswith(".gguf") and choice is None:
        body, choice = "/".join(parts[:2]), parts[2]
        parts = parts[:2]
    if not body or len(parts) > 2 or "" in parts or (choice is not None and not choice):
        raise UsageError(f"'{text}' is not an LM Studio model name: write lmstudio:PUBLISHER/REPO, with /FILE.gguf or :QUANT to pick one file")
    for p in parts + ([choice] if choice else []):
        _component(p, text, "LM Studio")
    return body, choice


def lmstudio_entry(text: str) -> tuple[str, dict, str]:
    """(id, models.yaml entry, shown) of an LM Studio model named lmstudio:PUBLISHER/REPO[...]."""
    name, choice = _lmstudio_spec(text)
    installed = lmstudio_installed()
    key = next((k for k in installed if k.lower() == name.lower()), None)
    if key is None and "/" not in name:
        owners = [k for k in installed if k.split("/")[1].lower() == name.lower()]
        if len(owners) > 1:
            raise UsageError(f"'{text}' could be any of: {', '.join(LMSTUDIO + k for k in owners)}; give PUBLISHER/REPO")
        key = owners[0] if owners else None
    if key is None:
        folders = " or ".join(str(d) for d in lmstudio_dirs())
        if not installed:
            raise UsageError(f"no LM Studio model '{name}': no .gguf models in {folders}")
        near = closest(name, installed) or closest(name.split("/")[-1], [k.split("/")[1] for k in installed])
        names = sorted(installed)
        more = f", ... ({len(names)} in all)" if len(names) > SHOWN else ""
        hint = f" (did you mean: {', '.join(near)}?)" if near else ""
        raise UsageError(f"no LM Studio model '{name}' in {folders}{hint}; installed: {', '.join(names[:SHOWN])}{more}")
    folder, files = installed[key]
    label = f"{LMSTUDIO}{key}"
    picked = pick_gguf(files, choice, label, lambda c: f"{label}:{c}" if not c.lower().endswith(".gguf") else f"{label}/{c}")
    shown = [f"{label}/{p}" for p in picked]
    first = picked[0]
    m = SPLIT.match(first)
    stem = (m["stem"] if m else first[: -len(".gguf")])
    entry = read_parts([folder / p for p in picked], shown, stem)
    entry = gguf_entry(entry, shown[0] + (f" and its {len(shown) - 1} other part(s)" if len(shown) > 1 else ""))
    sub = picked[0].rsplit("/", 1)[0] + "/" if "/" in picked[0] else ""  # LM Studio loads the mmproj of the model's own folder
    with_projector(entry, folder, [f for f in files if f.startswith(sub) and "/" not in f[len(sub):]], f"{label}/")
    return _ident("lmstudio", stem), entry, shown[0]
