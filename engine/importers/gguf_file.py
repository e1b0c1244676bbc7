"""A local GGUF file -> a models.yaml entry with the exact stored bytes per quant type.

Reads only the metadata and the tensor table; tensor data is never loaded. The file is walked
here, with a bound on every count, instead of by the gguf package's GGUFReader: that reader
loops once per element a header claims, so 37 bytes claiming an array of 2**40 values hang it
and fill memory. The gguf package (the `gguf` extra) still supplies the quant types' block
sizes. Every tensor's data must lie inside the file, aligned, without overlapping another's;
every metadata value memory depends on must be a whole number of the right size."""
from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import NoReturn

from ..errors import DataError, Location, Problem, UsageError
from ..reading.loader import pointer_text
from . import jsondoc
from .localfile import open_regular

ARCHS = {"llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "qwen3": "qwen3", "qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe",
         "gemma": "gemma", "gemma2": "gemma2", "gemma3": "gemma3", "phi3": "phi3"}

VERSIONS = (2, 3)
MAX_KV = 1 << 16              # metadata entries (a model has some dozens)
MAX_TENSORS = 1 << 16         # a model has some thousands
MAX_WALK = 1 << 24            # array elements walked one by one (strings, nested arrays), all arrays together
MAX_KEY = 1 << 16
MAX_STRING = 1 << 24          # one string value
MAX_KEPT = 1 << 16            # elements of an integer array kept (per-layer head counts)
MAX_DIMS = 4                  # GGML_MAX_DIMS
MAX_NESTING = 8
MAX_SHOWN = 256               # a string value this short is kept, for messages; longer ones are skipped
DEFAULT_ALIGNMENT = 32

SCALARS = {0: ("B", "uint8"), 1: ("b", "int8"), 2: ("H", "uint16"), 3: ("h", "int16"), 4: ("I", "uint32"), 5: ("i", "int32"),
           6: ("f", "float32"), 7: ("?", "bool"), 10: ("Q", "uint64"), 11: ("q", "int64"), 12: ("d", "float64")}
STRING, ARRAY = 8, 9
INTEGERS = {0, 1, 2, 3, 4, 5, 10, 11}
KEEP_STRINGS = ("general.architecture", "general.name", "clip.projector_type")


class Array:
    """A metadata array: its element type, length, and the values when small and numeric."""

    def __init__(self, itype: int, count: int, values=None):
        self.itype, self.count, self.values = itype, count, values


class _Walk:
    """Sequential, bounded reads of the file; every read is checked against the file's size."""

    def __init__(self, f, size: int, shown: str):
        self.f, self.size, self.shown, self.pos, self.walked = f, size, shown, 0, 0
        self.order = "<"

    def fail(self, message: str, pointer: str = "", hint: str = "") -> NoReturn:
        raise DataError([Problem(Location(self.shown), pointer, message, hint)])

    def take(self, n: int, what: str, pointer: str = "") -> bytes:
        if n > self.size - self.pos:
            self.fail(f"{what} runs past the end of the file", pointer, "the file is truncated, or not a GGUF file")
        raw = self.f.read(n)
        if len(raw) != n:
            self.fail(f"{what} runs past the end of the file", pointer, "the file is truncated, or not a GGUF file")
        self.pos += n
        return raw

    def skip(self, n: int, what: str, pointer: str = ""):
        if n > self.size - self.pos:
            self.fail(f"{what} runs past the end of the file", pointer, "the file is truncated, or not a GGUF file")
        self.f.seek(n, 1)
        self.pos += n

    def unpack(self, code: str, what: str, pointer: str = ""):
        return struct.unpack(self.order + code, self.take(struct.calcsize(code), what, pointer))[0]

    def string(self, what: str, limit: int, pointer: str = "", keep: bool = True):
        n = self.unpack("Q", what, pointer)
        if n > limit:
            self.fail(f"{what} of {n} bytes is longer than vramrules reads ({limit})", pointer)
        if not keep and n > MAX_SHOWN:
            self.skip(n, what, pointer)
            return None
        raw = self.take(n, what, pointer)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"{what} is not UTF-8", pointer)

    def count(self, n: int):
        self.walked += n
        if self.walked > MAX_WALK:
            self.fail(f"the metadata holds more than {MAX_WALK} array values walked one by one", "", "is this a model file?")

    def value(self, vtype: int, pointer: str, keep_string: bool, depth: int = 0):
        if vtype in SCALARS:
            return self.unpack(SCALARS[vtype][0], "a metadata value", pointer)
        if vtype == STRING:
            return self.string("a metadata string", MAX_STRING, pointer, keep=keep_string)
        if vtype != ARRAY:
            self.fail(f"unknown metadata value type {vtype}", pointer)
        if depth >= MAX_NESTING:
            self.fail(f"arrays nested deeper than {MAX_NESTING} levels", pointer)
        itype = self.unpack("I", "an array's type", pointer)
        n = self.unpack("Q", "an array's length", pointer)
        if itype in SCALARS:
            width = struct.calcsize(SCALARS[itype][0])
            if n * width > self.size - self.pos:
                self.fail(f"an array of {n} values runs past the end of the file", pointer, "the file is truncated, or not a GGUF file")
            if itype in INTEGERS and n <= MAX_KEPT:
                raw = self.take(n * width, "an array", pointer)
                return Array(itype, n, list(struct.unpack(f"{self.order}{n}{SCALARS[itype][0]}", raw)))
            self.skip(n * width, "an array", pointer)
            return Array(itype, n)
        if itype not in (STRING, ARRAY):
            self.fail(f"unknown metadata array type {itype}", pointer)
        if n * 8 > self.size - self.pos:  # every string or array element takes at least 8 bytes
            self.fail(f"an array of {n} values runs past the end of the file", pointer, "the file is truncated, or not a GGUF file")
        self.count(n)
        for _ in range(n):
            self._element(itype, pointer, depth + 1)
        return Array(itype, n)

    def _element(self, itype: int, pointer: str, depth: int):
        if itype == STRING:
            n = self.unpack("Q", "a metadata string", pointer)
            self.skip(n, "a metadata string", pointer)
        else:
            self.value(itype, pointer, False, depth)


def _quant_sizes():
    try:
        import gguf  # deferred: numpy-backed, only for GGUF files
    except ImportError:
        raise UsageError("reading GGUF needs the gguf package: pip install 'vramrules[gguf]'") from None
    return {int(t): (t.name, block, size) for t, (block, size) in gguf.GGML_QUANT_SIZES.items()}


def scan(path: Path, shown: str | None = None) -> tuple[dict, list[dict]]:
    """(metadata {key: value}, tensors [{name, dims, type, n_elements, n_bytes, offset}]),
    every count and offset checked against the file."""
    shown = shown or str(path)
    quants = _quant_sizes()
    f, size = open_regular(path, shown)
    with f:
        return scan_stream(f, size, shown, quants)


def scan_stream(f, size: int, shown: str, quants: dict | None = None) -> tuple[dict, list[dict]]:
    """scan() of any binary stream of `size` bytes that has read(n) and seek(n, 1): an open
    file, or the bytes of a file on the Hub fetched by range requests as they are read."""
    w = _Walk(f, size, shown)
    try:
        return _scan(w, quants if quants is not None else _quant_sizes())
    except OSError as exc:
        raise DataError([Problem(Location(shown), "", f"cannot read: {exc.strerror or exc}")]) from None


def _scan(w: _Walk, quants: dict):
    if w.size < 24 or w.take(4, "the GGUF magic") != b"GGUF":
        w.fail("not a readable GGUF file: it does not start with the GGUF magic and header", "", "is this a .gguf model file?")
    raw = w.take(4, "the GGUF version")
    version = struct.unpack("<I", raw)[0]
    if version & 0xFFFF == 0:  # written on a machine of the other byte order
        w.order = ">"
        version = struct.unpack(">I", raw)[0]
    if version not in VERSIONS:
        w.fail(f"not a readable GGUF file: version {version} (vramrules reads versions {', '.join(map(str, VERSIONS))})")
    n_tensors = w.unpack("Q", "the tensor count")
    n_kv = w.unpack("Q", "the metadata count")
    if n_kv > MAX_KV or n_tensors > MAX_TENSORS:
        w.fail(f"not a readable GGUF file: it claims {n_kv} metadata entries and {n_tensors} tensors", "", "is this a model file?")
    meta: dict = {}
    for _ in range(n_kv):
        key = w.string("a metadata key", MAX_KEY)
        pointer = "/" + jsondoc._escape(key)
        if key in meta:
            w.fail("the metadata lists this key twice", pointer)
        vtype = w.unpack("I", "a metadata type", pointer)
        meta[key] = (vtype, w.value(vtype, pointer, key in KEEP_STRINGS))
    tensors, names = [], set()
    for _ in range(n_tensors):
        name = w.string("a tensor name", MAX_KEY)
        pointer = "/" + jsondoc._escape(name)
        if name in names:
            w.fail("the tensor table lists this tensor twice", pointer)
        names.add(name)
        n_dims = w.unpack("I", "a tensor's dimension count", pointer)
        if not 1 <= n_dims <= MAX_DIMS:
            w.fail(f"has {n_dims} dimensions (GGUF tensors have 1 to {MAX_DIMS})", pointer)
        dims = [w.unpack("Q", "a tensor's dimensions", pointer) for _ in range(n_dims)]
        ttype = w.unpack("I", "a tensor's type", pointer)
        offset = w.unpack("Q", "a tensor's offset", pointer)
        if ttype not in quants:
            w.fail(f"unknown tensor type {ttype}", pointer, "a newer quant type than the installed gguf package knows? pip install -U gguf")
        qname, block, tsize = quants[ttype]
        elements = 1
        for d in dims:
            elements *= d
        if elements >= 1 << 63:
            w.fail(f"claims {elements} values", pointer)
        if dims[0] % block:
            w.fail(f"its rows of {dims[0]} values are not whole {qname} blocks of {block}", pointer)
        tensors.append({"name": name, "dims": dims, "type": qname, "n_elements": elements, "n_bytes": elements // block * tsize,
                        "offset": offset, "pointer": pointer})
    alignment = DEFAULT_ALIGNMENT
    if "general.alignment" in meta:
        vtype, value = meta["general.alignment"]
        if vtype != 4 or value == 0 or value & (value - 1):
            w.fail("must be a uint32 power of two", "/general.alignment")
        alignment = value
    start = -(-w.pos // alignment) * alignment
    reach = None
    for t in sorted(tensors, key=lambda t: t["offset"]):  # stable: the table's order among equal offsets
        begin, end = start + t["offset"], start + t["offset"] + t["n_bytes"]
        if t["offset"] % alignment:
            w.fail(f"its data offset {t['offset']} is not a multiple of the alignment {alignment}", t["pointer"])
        if end > w.size:
            w.fail(f"its data reaches past the end of the file (byte {end} of {w.size})", t["pointer"], "the file is truncated")
        if reach is not None and t["n_bytes"] and begin < reach[1]:
            w.fail(f"its data overlaps tensor '{jsondoc._short(reach[0])}'", t["pointer"], "two tensors cannot share bytes; the file is corrupt")
        if t["n_bytes"] and (reach is None or end > reach[1]):
            reach = (t["name"], end)
    return meta, tensors


class _Meta:
    """Typed access to the metadata; every refusal names the key, as a JSON pointer."""

    def __init__(self, meta: dict, shown: str):
        self.meta, self.shown = meta, shown

    def fail(self, message: str, key: str = "", hint: str = "") -> NoReturn:
        raise DataError([Problem(Location(self.shown), pointer_text((key,)) if key else "", message, hint)])

    @staticmethod
    def kind(vtype: int, value) -> str:
        if vtype == STRING:
            return jsondoc.describe(value) if value is not None else "a string"
        if isinstance(value, Array):
            return "a list"
        return jsondoc.describe(value)

    def string(self, key: str, default=None):
        if key not in self.meta:
            return default
        vtype, value = self.meta[key]
        if vtype != STRING:
            self.fail(f"must be a string, got {self.kind(vtype, value)}", key)
        return value

    def number(self, key: str, default=..., minimum: int = 1, field: str | None = None, per_layer: bool = False):
        """A whole number (an integer type, or an integral float); a per-layer array only when
        all its layers agree."""
        if key not in self.meta:
            if default is ...:
                self.fail(f"GGUF metadata lacks '{key}'")
            return default
        vtype, value = self.meta[key]
        if isinstance(value, Array) and per_layer and value.itype in INTEGERS and value.values:
            low, high = min(value.values), max(value.values)
            if low != high:
                self.fail(f"differs from layer to layer ({low} to {high}); vramrules models one value for all layers", key)
            value = low
        elif vtype in (STRING, 7) or isinstance(value, Array):
            self.fail(f"must be a whole number, got {self.kind(vtype, value)}", key)
        n = jsondoc.whole(value)
        if n is None:
            self.fail(f"must be a whole number, got {jsondoc.describe(value)}", key)
        if n < minimum:
            self.fail(f"must be at least {minimum}, got {n}", key)
        top = jsondoc.schema_max(field) if field else None
        if top is not None and n > top:
            self.fail(f"{n} is more than vramrules accepts ({int(top)})", key)
        return n


SPLIT_COUNT = "split.count"
# llama.cpp's gguf-split names: PREFIX-00001-of-00003.gguf
SPLIT = re.compile(r"^(?P<stem>.+)-(?P<n>\d{5})-of-(?P<total>\d{5})\.gguf$", re.IGNORECASE)


def read(path: Path) -> dict:
    """The entry of a local GGUF file given by its path, or of every part of the split whose first
    part it is (name-00001-of-0000N.gguf: the other parts beside it, each one required), with the
    mmproj projector beside it (its `projector` block) as llama-server -hf and LM Studio load one."""
    folder = path.parent
    try:
        names = sorted(n.name for n in folder.iterdir())
    except OSError as exc:
        raise DataError([Problem(Location(str(folder)), "", f"cannot list the folder: {exc.strerror or exc}")]) from None
    m = SPLIT.match(path.name)
    if m:
        parts = split_parts(str(path), [str(folder / n) for n in names])
        entry = read_parts([Path(p) for p in parts], parts, m["stem"])
    else:
        entry = read_parts([path], [str(path)], path.stem)
    return entry if is_projector(path.name) else with_projector(entry, folder, names)


# --- the multimodal projector beside a model (llama.cpp's mmproj, tools/mtmd/clip.cpp) ----------

PROJECTOR_ARCH = "clip"  # general.architecture of an mmproj file (tools/mtmd/clip-impl.h)
# of several projectors beside one model, the one llama-server would be pointed at: the 16-bit file as published
PROJECTOR_PREFERENCE = ("f16", "bf16", "f32")


def is_projector(name: str) -> bool:
    """A vision projector shipped beside the model (mmproj-*.gguf), not a language model."""
    return name.rsplit("/", 1)[-1].lower().startswith("mmproj") and name.lower().endswith(".gguf")


def pick_projector(names) -> str | None:
    """The mmproj file among `names` (file names of the model's folder or repo), or None: the only
    one, else the first of PROJECTOR_PREFERENCE its name ends in, else the first by name."""
    found = sorted(n for n in names if is_projector(n))
    if len(found) <= 1:
        return found[0] if found else None
    for want in PROJECTOR_PREFERENCE:
        hit = [n for n in found if n.lower().removesuffix(".gguf").endswith(want)]
        if hit:
            return hit[0]
    return found[0]


def projector_of(meta: dict, tensor_list: list[dict], shown: str) -> dict:
    """The models.yaml `projector` block of a scanned mmproj GGUF: what its tensors store (the
    vision encoder and the projector into the language model), its projector type and image size."""
    m = _Meta(meta, shown)
    arch = m.string("general.architecture")
    if arch != PROJECTOR_ARCH:
        m.fail(f"is {jsondoc._short(str(arch))!r}, not the {PROJECTOR_ARCH!r} of a multimodal projector", "general.architecture",
               "an mmproj file is written by llama.cpp's convert_hf_to_gguf.py --mmproj")
    _nbytes, params, out = _checkpoint(tensor_list)
    if params <= 0:
        m.fail("the projector's tensor table holds no parameters")
    kind = m.string("clip.projector_type")
    if isinstance(kind, str) and kind.isprintable() and 0 < len(kind) <= 64:
        out["projector_type"] = kind
    for key, field in (("clip.vision.image_size", "image_size"), ("clip.vision.patch_size", "patch_size")):
        value = m.number(key, 0, minimum=0, field=None)
        if value:
            out[field] = value
    return out


def read_projector(path: Path, shown: str | None = None) -> dict:
    shown = shown or str(path)
    meta, tensor_list = scan(path, shown)
    block = projector_of(meta, tensor_list, shown)
    block["source"] = f"GGUF tensor table of {shown}"
    return block


def with_projector(entry: dict, folder: Path, names, shown_folder: str = "") -> dict:
    """`entry` with the projector found among `names` (files of `folder`) as its `projector`
    block, as llama-server -hf and LM Studio load the mmproj beside a model; unchanged without one."""
    name = pick_projector(names)
    if name is None:
        return entry
    entry["projector"] = read_projector(folder / name, f"{shown_folder}{name}" if shown_folder else str(folder / name))
    return entry


def split_parts(name: str, names) -> list[str]:
    """[name] for a single file; every part, in order, when `name` is the first part of a split
    (a missing part is an error); a later part of a split is a usage error."""
    base = name.rsplit("/", 1)[-1]
    m = SPLIT.match(base)
    if not m:
        return [name]
    folder = name[: len(name) - len(base)]
    total = int(m["total"])
    if int(m["n"]) != 1:
        first = f"{folder}{m['stem']}-00001-of-{m['total']}.gguf"
        raise UsageError(f"{name} is part {int(m['n'])} of a split model: give its first part, {first}")
    present = {n.lower(): n for n in names}
    parts = []
    for i in range(1, total + 1):
        want = f"{folder}{m['stem']}-{i:05d}-of-{m['total']}.gguf"
        got = present.get(want.lower())
        if got is None:
            raise DataError([Problem(Location(want), "", f"part {i} of the {total} parts of {base} is missing",
                                     "download every part of the split")])
        parts.append(got)
    return parts


def read_parts(paths: list[Path], shown: list[str], stem: str) -> dict:
    """gguf_file's entry of one local GGUF file, or of every part of a split, in order."""
    quants = _quant_sizes()
    parts = []
    for path, label in zip(paths, shown):
        f, size = open_regular(path, label)
        with f:
            meta, tensors = scan_stream(f, size, label, quants)
        parts.append((meta, tensors, label))
    if len(parts) == 1 and split_count(parts[0][0]) == 1:
        return entry_of(parts[0][0], parts[0][1], shown[0], stem)
    if split_count(parts[0][0]) != len(parts):
        raise DataError([Problem(Location(shown[0]), "/split.count", f"the file says the model is split over {split_count(parts[0][0])} files, "
                                 f"but {len(parts)} were found", "download every part of the split")])
    return entry_of_parts(parts, stem)




def split_count(meta: dict) -> int:
    """How many files the model is split over (llama.cpp's gguf-split: split.count), 1 if not."""
    vtype, value = meta.get(SPLIT_COUNT, (None, 1))
    return value if vtype in INTEGERS and isinstance(value, int) and value > 0 else 1


def entry_of_parts(parts: list[tuple[dict, list[dict], str]], stem: str) -> dict:
    """entry_of() of a model split over several files ([(metadata, tensors, shown)], in order):
    the first holds the metadata, every part its own tensors; each must say it is part i of n."""
    n = len(parts)
    names: dict = {}
    tensor_list = []
    for i, (meta, tensors, shown) in enumerate(parts):
        m = _Meta(meta, shown)
        count = m.number(SPLIT_COUNT, 1, field=None)
        number = m.number("split.no", 0, minimum=0, field=None)
        if count != n or number != i:
            m.fail(f"this file says it is part {number + 1} of {count}, read as part {i + 1} of {n}", "split.no",
                   "give the first part of a complete split (name-00001-of-0000N.gguf)")
        for t in tensors:
            if t["name"] in names:
                m.fail(f"the tensor is also in {names[t['name']]}", t["pointer"], "the parts of a split hold each tensor once")
            names[t["name"]] = shown
        tensor_list += tensors
    return entry_of(parts[0][0], tensor_list, parts[0][2], stem)


def entry_of(meta: dict, tensor_list: list[dict], shown: str, stem: str) -> dict:
    """The models.yaml entry of a scanned GGUF (scan() or scan_stream()); `stem` names it when
    its metadata does not."""
    m = _Meta(meta, shown)
    arch = m.string("general.architecture")
    family = ARCHS.get(arch)
    if arch is None:
        m.fail("GGUF metadata lacks 'general.architecture'", "", "a GGUF file names its architecture; is it complete?")
    if family is None:  # a well-formed file of an architecture vramrules does not model: exit 2
        from .hf_config import Unsupported

        raise Unsupported(Location(shown), ("general.architecture",), f"GGUF architecture {jsondoc._short(arch)!r} is not one vramrules can import",
                          "supported: " + ", ".join(ARCHS) + "; or write the models.yaml entry by hand")
    tensors = {t["name"]: t for t in tensor_list}
    entry = _architecture(m, arch, family, tensors)
    if not entry["name"]:
        entry["name"] = stem
    _experts_and_window(m, arch, family, entry)
    nbytes, params, stored = _checkpoint(tensor_list)
    if params <= 0 or nbytes <= 0:
        m.fail("the tensor table holds no parameters")
    entry.update(stored)
    return entry


def _checkpoint(tensor_list: list[dict]) -> tuple[int, int, dict]:
    """What a GGUF's tensor table stores: its bytes, its parameters, and those with the bytes of
    each tensor type as models.yaml writes them (checkpoint_bytes, _params, _dtypes)."""
    nbytes, params = 0, 0
    dtypes: dict[str, int] = {}
    for t in tensor_list:
        nbytes += t["n_bytes"]
        params += t["n_elements"]
        dtypes[t["type"]] = dtypes.get(t["type"], 0) + t["n_bytes"]
    return nbytes, params, {"checkpoint_bytes": f"{nbytes} B", "checkpoint_params": params,
                            "checkpoint_dtypes": {k: f"{v} B" for k, v in sorted(dtypes.items())}}


def _architecture(m: _Meta, arch: str, family: str, tensors: dict) -> dict:
    embd = tensors.get("token_embd.weight")
    if embd is None:
        m.fail("GGUF has no token_embd.weight tensor")
    hidden = m.number(f"{arch}.embedding_length", field="hidden_size")
    heads = m.number(f"{arch}.attention.head_count", field="num_attention_heads", per_layer=True)
    kv = m.number(f"{arch}.attention.head_count_kv", heads, field="num_kv_heads", per_layer=True)
    if heads % kv:
        m.fail(f"{kv} does not divide {arch}.attention.head_count {heads}", f"{arch}.attention.head_count_kv")
    layers = m.number(f"{arch}.block_count", field="num_layers")
    dims = embd["dims"]
    if len(dims) != 2:
        m.fail(f"has {len(dims)} dimension{'s' if len(dims) != 1 else ''}; an embedding has 2 (hidden size, vocabulary)", "token_embd.weight")
    if dims[0] != hidden:
        m.fail(f"its rows hold {dims[0]} values, but {arch}.embedding_length is {hidden}", "token_embd.weight")
    if not 1 <= dims[1] <= (jsondoc.schema_max("vocab_size") or dims[1]):
        m.fail(f"a vocabulary of {dims[1]} is outside what vramrules accepts", "token_embd.weight")
    head_dim = m.number(f"{arch}.attention.key_length", None, field="head_dim")
    if head_dim is None:
        head_dim = hidden // heads
        if head_dim < 1:
            m.fail(f"{heads} heads leave no head_dim for {arch}.embedding_length {hidden}", f"{arch}.attention.head_count")
    name = m.string("general.name")
    return {
        "name": name if isinstance(name, str) and name.strip() and len(name) <= 200 and name.isprintable() else "",
        "family": family,
        "hidden_size": hidden, "num_layers": layers, "num_attention_heads": heads, "num_kv_heads": kv,
        "head_dim": head_dim,
        "intermediate_size": m.number(f"{arch}.feed_forward_length", 0, minimum=0, field="intermediate_size", per_layer=True),
        "vocab_size": dims[1], "tie_word_embeddings": "output.weight" not in tensors,
        "max_context": m.number(f"{arch}.context_length", field="max_context"), "mlp": "gated", "norm": "rms",
        "norms_per_layer": 4 if family in ("gemma2", "gemma3") else 2,
        "qk_norm": "blk.0.attn_q_norm.weight" in tensors,
        "attention_bias": "blk.0.attn_q.bias" in tensors, "attention_out_bias": "blk.0.attn_output.bias" in tensors,
    }


def _experts_and_window(m: _Meta, arch: str, family: str, entry: dict):
    experts = m.number(f"{arch}.expert_count", 0, minimum=0, field="moe.num_experts")
    if experts:
        used = m.number(f"{arch}.expert_used_count", field="moe.experts_per_token")
        if used > experts:
            m.fail(f"{used} is more than {arch}.expert_count {experts}", f"{arch}.expert_used_count")
        entry["moe"] = {"num_experts": experts, "experts_per_token": used,
                        "expert_intermediate_size": m.number(f"{arch}.expert_feed_forward_length", entry["intermediate_size"], minimum=0,
                                                             field="moe.expert_intermediate_size")}
    window = m.number(f"{arch}.attention.sliding_window", 0, minimum=0, field="sliding_window")
    if window and family in ("gemma2", "gemma3", "mistral"):
        layers = entry["num_layers"]
        entry["sliding_window"] = window
        entry["sliding_window_layers"] = layers // 2 if family == "gemma2" else layers - layers // 6 if family == "gemma3" else layers
