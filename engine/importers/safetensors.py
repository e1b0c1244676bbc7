"""Safetensors checkpoints: the exact parameter count and stored bytes from the headers alone.

A .safetensors file starts with an 8-byte little-endian header length and a JSON header that
maps tensor names to {dtype, shape, data_offsets}; no weights are read. Packed quantized tensors
(GPTQ/AWQ qweight in int32, FP8) are counted by the bytes they store.

Nothing in a header is taken on trust: each tensor's shape times its dtype's size must equal its
data_offsets span, spans are whole numbers that lie inside the file's actual data and do not
overlap, so a 91-byte file cannot claim 15 GiB of weights. An index may only name files inside
the model folder (a Hugging Face cache snapshot may also link into its own blobs/), and every
shard it or a shard series names must be there: a partial download is an error, not half the
weights. Messages name files and fields, never bytes read from them."""
from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path, PurePosixPath

from ..errors import DataError, Location, Problem
from . import jsondoc
from .localfile import open_regular, read_limited

MAX_HEADER = 100 * 2**20
MAX_INDEX = 64 * 2**20
MAX_DIMS = 64
MAX_PROBLEMS = 20
INDEX = "model.safetensors.index.json"
DTYPE_BITS = {"F64": 64, "F32": 32, "F16": 16, "BF16": 16, "I64": 64, "I32": 32, "I16": 16, "I8": 8, "U8": 8, "BOOL": 8,
              "F8_E4M3": 8, "F8_E5M2": 8, "U16": 16, "U32": 32, "U64": 64, "F8_E8M0": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
              "C64": 64}
DTYPE_BYTES = {k: v / 8 if v % 8 else v // 8 for k, v in DTYPE_BITS.items()}
SERIES = re.compile(r"^(?P<stem>.+)-(?P<n>\d+)-of-(?P<total>\d+)\.safetensors$")


def _ptr(*parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _show(value, n: int = 60) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= n else text[: n - 4] + "...]"


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _bad(shown: str, message: str, hint: str = "") -> DataError:
    return DataError([Problem(Location(shown), "", message, hint)])


def header_length(raw: bytes, size: int, shown: str) -> int:
    """The header's length from a file's first 8 bytes (`raw`; fewer when the file is shorter),
    checked against the file's `size`."""
    if len(raw) < 8:
        raise _bad(shown, "not a safetensors file: shorter than its 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER:
        raise _bad(shown, f"safetensors header of {n} bytes is implausibly large", "is this a safetensors file?")
    if n > size - 8:
        raise _bad(shown, f"the header claims {n} bytes but the file holds only {size - 8} after its length", "the file is truncated, or not a safetensors file")
    return n


def decode_header(text: bytes, n: int, size: int, shown: str) -> tuple[dict, int]:
    """(header, bytes of tensor data after it) from the `n` header bytes that follow the length
    (`text`, as read: fewer when the file or the answer was cut short) of a file of `size` bytes.
    The entry point for headers read without a local file (HTTP range requests)."""
    if len(text) != n:
        raise _bad(shown, f"the header claims {n} bytes but the file holds only {len(text)} after its length", "the file is truncated, or not a safetensors file")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(shown, "safetensors header is not UTF-8 JSON", "is this a safetensors file?") from None
    try:
        head = json.loads(decoded, object_pairs_hook=jsondoc._pairs)
    except json.JSONDecodeError as exc:
        raise _bad(shown, f"safetensors header is not JSON ({exc.msg} at byte {8 + len(decoded[: exc.pos].encode())})", "is this a safetensors file?") from None
    except jsondoc.DuplicateKey as dup:
        raise DataError([Problem(Location(shown), _ptr(dup.key), "the header lists this tensor twice")]) from None
    except RecursionError:
        raise _bad(shown, "safetensors header is nested too deeply", "is this a safetensors file?") from None
    except ValueError:
        raise _bad(shown, "a number in the safetensors header has more than 4300 digits") from None
    if not isinstance(head, dict):
        raise _bad(shown, "safetensors header is not a JSON object")
    return head, size - 8 - n


def read_header(path: Path, shown: str | None = None) -> tuple[dict, int]:
    """(header, bytes of tensor data after it) of one .safetensors file."""
    shown = shown or str(path)
    f, size = open_regular(path, shown)
    with f:
        try:
            n = header_length(f.read(8), size, shown)
            text = f.read(n)
        except OSError as exc:
            raise _bad(shown, f"cannot read: {exc.strerror or exc}") from None
    return decode_header(text, n, size, shown)


def header(path: Path) -> dict:
    return read_header(path)[0]


def tensors(path: Path, shown: str | None = None) -> list[tuple[str, str, int, int]]:
    """[(name, dtype, element count, stored bytes)] of one file, every entry checked against the
    file: all problems found (up to MAX_PROBLEMS) are reported together."""
    shown = shown or str(path)
    head, data = read_header(path, shown)
    return check_tensors(head, data, shown)


def check_tensors(head: dict, data: int, shown: str) -> list[tuple[str, str, int, int]]:
    """tensors() of a header already read: every entry checked against the `data` bytes of
    tensor data that follow it."""
    where = Location(shown)
    problems: list[Problem] = []
    out, spans = [], []
    for name, t in head.items():
        if len(problems) >= MAX_PROBLEMS:
            break
        if name == "__metadata__":
            continue
        p = _ptr(name)
        if not isinstance(t, dict):
            problems.append(Problem(where, p, "a tensor entry must be an object with dtype, shape and data_offsets"))
            continue
        dtype, shape, offsets = t.get("dtype"), t.get("shape"), t.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
            problems.append(Problem(where, p + "/dtype", f"unknown safetensors dtype {_show(dtype).replace(chr(34), chr(39))}",
                                    "known: " + ", ".join(DTYPE_BITS)))
            continue
        if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(_int(d) and d >= 0 for d in shape):
            problems.append(Problem(where, p + "/shape", f"must be a list of whole numbers >= 0, got {_show(shape)}"))
            continue
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_int(o) and o >= 0 for o in offsets)):
            problems.append(Problem(where, p + "/data_offsets", f"must be two whole numbers >= 0, got {_show(offsets)}"))
            continue
        count = 1
        for d in shape:
            count *= d
        bits = count * DTYPE_BITS[dtype]
        begin, end = offsets
        if end < begin:
            problems.append(Problem(where, p + "/data_offsets", f"[{begin}, {end}] ends before it begins"))
            continue
        if end > data:
            problems.append(Problem(where, p + "/data_offsets", f"[{begin}, {end}] reaches past the end of the file's {data} bytes of tensor data",
                                    "the file is truncated, or its header is wrong"))
            continue
        if bits % 8:
            problems.append(Problem(where, p + "/shape", f"{count} {dtype} values do not fill whole bytes"))
            continue
        if end - begin != bits // 8:
            problems.append(Problem(where, p, f"shape {_show(shape)} of {dtype} takes {bits // 8} bytes, but data_offsets [{begin}, {end}] span {end - begin} bytes",
                                    "the header contradicts itself; re-save the checkpoint"))
            continue
        out.append((name, dtype, count, end - begin))
        if end > begin:
            spans.append((begin, end, name))
    if not problems:
        reach = None  # the tensor whose data ends furthest so far
        for begin, end, name in sorted(spans):
            if reach is not None and begin < reach[1]:
                problems.append(Problem(where, _ptr(name, "data_offsets"), f"[{begin}, {end}] overlaps tensor '{jsondoc._short(reach[2])}' at [{reach[0]}, {reach[1]}]",
                                        "two tensors cannot share bytes; the header is wrong"))
                if len(problems) >= MAX_PROBLEMS:
                    break
            if reach is None or end > reach[1]:
                reach = (begin, end, name)
    if not problems and not out:
        problems.append(Problem(where, "", "holds no tensors", "is this the model's checkpoint?"))
    if problems:
        raise DataError(problems)
    return out


def _roots(folder: Path) -> list[Path]:
    """Where the files of a model folder may really live: the folder, and for a Hugging Face
    cache snapshot (models--org--name/snapshots/<rev>/) that repository's blobs/."""
    try:
        real = folder.resolve()
    except (OSError, RuntimeError):
        raise DataError([Problem(Location(str(folder)), "", "the folder is a symbolic link that loops")]) from None
    roots = [real]
    if real.parent.name == "snapshots" and real.parent.parent.name.startswith("models--"):
        roots.append(real.parent.parent / "blobs")
    return roots


def _escapes(path: Path, roots) -> str:
    """'' when the file really lies under one of `roots`, else what is wrong with it."""
    try:
        real = path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: Python < 3.13 on a symlink loop
        return "it is a symbolic link that loops"
    if any(real == r or r in real.parents for r in roots):
        return ""
    return "it is a symbolic link to a file outside the model folder"


def _outside(name: str) -> bool:
    """A name an index may not use: absolute, with a drive, with '..', empty, or with a NUL."""
    if not name or "\0" in name or "\\" in name or os.path.isabs(name) or name.startswith("/"):
        return True
    parts = PurePosixPath(name).parts
    return not parts or ".." in parts or (len(parts[0]) >= 2 and parts[0][1] == ":")


def plan(folder: Path) -> tuple[list[Path], dict | None, str]:
    """(shard files, the index's weight_map or None, the index's display path or '')."""
    index = folder / INDEX
    roots = _roots(folder)
    if os.path.lexists(index):
        return _from_index(folder, index, roots)
    try:
        listing = os.listdir(folder)
    except OSError as exc:
        raise DataError([Problem(Location(str(folder)), "", f"cannot list the folder: {exc.strerror or exc}")]) from None
    names = sorted(n for n in listing if n.endswith(".safetensors") and not n.startswith("."))
    if not names:
        return [], None, ""
    if "model.safetensors" in names:
        names = ["model.safetensors"]  # what from_pretrained loads from such a folder
    elif len(names) > 1 or SERIES.match(names[0]):
        names = _series(folder, names)  # one shard of a series is not the checkpoint
    shards = [folder / n for n in names]
    for s in shards:
        wrong = _escapes(s, roots)
        if wrong:
            raise DataError([Problem(Location(str(s)), "", wrong, "copy the file into the folder, or point at the folder that holds it")])
    return shards, None, ""


def _series(folder: Path, names: list[str]) -> list[str]:
    """The complete shard series (model-00001-of-00003.safetensors, ...) the folder holds."""
    groups: dict = {}
    for n in names:
        m = SERIES.match(n)
        key = (m["stem"], m["total"], len(m["n"])) if m else None
        groups.setdefault(key, []).append(n)
    if len(groups) != 1 or None in groups:
        listed = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        raise DataError([Problem(Location(str(folder)), "", f"{len(names)} .safetensors files ({listed}) and no {INDEX}: which of them make up the model is unknown",
                                 f"keep only the model's own shards in the folder, or add its {INDEX}")])
    (stem, total, width), members = next(iter(groups.items()))
    count = int(total)
    have = {int(m["n"]) for m in map(SERIES.match, members) if m}
    expected = [f"{stem}-{i:0{width}d}-of-{total}.safetensors" for i in range(1, count + 1)]
    stray = sorted(set(members) - set(expected))
    if stray:
        raise DataError([Problem(Location(str(folder)), "", f"{stray[0]} does not belong to a series of {count} shards",
                                 "remove it, or add the checkpoint's index")])
    missing = [e for i, e in enumerate(expected, 1) if i not in have]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise DataError([Problem(Location(str(folder)), "", f"shard {missing[0]}{more} is missing (the folder holds {len(have)} of the {count} shards)",
                                 "download every shard, or point at a folder that holds the whole checkpoint")])
    return expected


def _from_index(folder: Path, index: Path, roots) -> tuple[list[Path], dict, str]:
    shown = str(index)
    wrong = _escapes(index, roots)
    if wrong:
        raise DataError([Problem(Location(shown), "", wrong, "copy the file into the folder, or point at the folder that holds it")])
    names, found = index_names(read_limited(index, shown, MAX_INDEX, "an index"), shown)
    f = found["fields"]
    missing = sorted(n for n in names if not os.path.lexists(folder / n))
    if missing:
        raise DataError([Problem(Location(shown), "", f"the index names shards that are not in the folder: {', '.join(jsondoc._short(m) for m in missing[:3])}",
                                 "download every shard, or point at a folder that holds the whole checkpoint")])
    for shard, tensor in names.items():
        wrong = _escapes(folder / shard, roots)
        if wrong:
            f.fail(("weight_map", tensor), f"{jsondoc._short(shard, 300)!r}: {wrong}", "copy the file into the folder, or point at the folder that holds it")
    return [folder / n for n in sorted(names)], found, shown


def index_names(raw: bytes, shown: str) -> tuple[dict, dict]:
    """({shard file: the first tensor the index puts in it}, {'map': weight_map, 'fields': its
    Fields}) of a model.safetensors.index.json's bytes; every shard name must be a file inside
    the model's folder (relative, no '..')."""
    doc, text = jsondoc.load(raw, shown, "the index")
    if not isinstance(doc, dict):
        raise DataError([Problem(Location(shown), "", "the index must hold a JSON object")])
    f = jsondoc.Fields(doc, shown, text, "")
    if "weight_map" not in doc:
        raise DataError([Problem(Location(shown), "", "the index has no 'weight_map'", "is this the checkpoint's model.safetensors.index.json?")])
    weight_map = doc["weight_map"]
    if not isinstance(weight_map, dict):
        f.fail("weight_map", f"must be an object mapping tensor names to shard files, got {jsondoc.describe(weight_map)}")
    if not weight_map:
        f.fail("weight_map", "names no shards")
    names: dict = {}
    for tensor, shard in weight_map.items():
        if not isinstance(shard, str):
            f.fail(("weight_map", tensor), f"must be the name of a shard file, got {jsondoc.describe(shard)}")
        if _outside(shard):
            f.fail(("weight_map", tensor), f"{jsondoc._short(shard, 300)!r} is not a file inside the model folder",
                   "an index may only name files in its own folder")
        names.setdefault(str(PurePosixPath(shard)), tensor)
    return names, {"map": weight_map, "fields": f}


def series(label: str, names: list[str]) -> list[str]:
    """The complete shard series among `names` (.safetensors files of one folder, no index), as
    plan() takes it from a folder; `label` names the folder in messages."""
    return _series(Path(label), names)


def files(folder: Path) -> list[Path]:
    return plan(folder)[0]


OVERHEAD = ("qzeros", "scales", "g_idx", "weight_scale_inv", "weight_scale", "input_scale", "absmax", "quant_map", "quant_state")


def summarize(folder: Path, packed_bits: int = 4) -> dict | None:
    """{'params', 'bytes', 'dtypes': {dtype: bytes}} or None when the folder has no safetensors.
    Packed GPTQ/AWQ `qweight` int32 tensors hold 32/bits weights per element; scales, zero
    points and indices are storage overhead, not parameters."""
    shards, index, _ = plan(folder)
    if not shards:
        return None
    return count(((str(s), tensors(s, str(s))) for s in shards), packed_bits, index, lambda shard: str(folder / PurePosixPath(shard)), str(folder))


def count(shards, packed_bits: int = 4, index: dict | None = None, place=None, where: str = "") -> dict:
    """summarize() of shards read by any means: `shards` yields (shown, tensors() of it) per
    shard; `place(name)` is the shown name of the shard an index entry names (checked against
    where each tensor was found); `where` names the checkpoint."""
    params, nbytes = 0, 0
    dtypes: dict[str, int] = {}
    stored: dict[str, str] = {}
    read = []
    parts: dict = {}  # what each decoder layer's (and the mtp.* modules') tensors hold, to set apart the ones a config names MTP
    for shown, found in shards:
        read.append(shown)
        for name, dtype, n, size in found:
            before = params
            if name in stored:
                raise DataError([Problem(Location(shown), _ptr(name), f"this tensor is also stored in {PurePosixPath(stored[name]).name}",
                                         "a checkpoint stores each tensor once")])
            stored[name] = shown
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "qweight" and dtype == "I32":
                if (n * 32) % packed_bits:
                    raise DataError([Problem(Location(shown), _ptr(name), f"{n} int32 values do not hold a whole number of {packed_bits}-bit weights",
                                             "check quantization_config.bits in config.json")])
                params += n * 32 // packed_bits
            elif leaf not in OVERHEAD:
                params += n
            nbytes += size
            dtypes[dtype] = dtypes.get(dtype, 0) + size
            m = _PART.match(name)
            if m:
                part = parts.setdefault("mtp" if m["mtp"] else int(m["layer"]), {"params": 0, "bytes": 0, "dtypes": {}})
                part["params"] += params - before
                part["bytes"] += size
                part["dtypes"][dtype] = part["dtypes"].get(dtype, 0) + size
    if index and place is not None:
        for tensor, shard in index["map"].items():
            if stored.get(tensor) != place(shard):
                index["fields"].fail(("weight_map", tensor), f"the index puts this tensor in {jsondoc._short(shard)}, whose header lacks it",
                                     "the index and the shards disagree; download them again")
    if params <= 0:
        raise DataError([Problem(Location(where), "", "the checkpoint's tensors hold no parameters")])
    return {"params": params, "bytes": nbytes, "dtypes": dtypes, "files": read, "parts": parts}


# a decoder layer's tensors (model.layers.N., language_model.model.layers.N., ...) and the mtp.* modules of Qwen3-Next/Qwen3.5
_PART = re.compile(r"^(?:(?P<mtp>(?:model\.)?(?:language_model\.)?mtp\.)|(?:language_model\.)?(?:model\.)?(?:language_model\.)?layers\.(?P<layer>\d{1,6})\.)")


def without_mtp(summary: dict, layers: int, mtp: dict | None) -> tuple[dict, dict | None]:
    """(the summary of the model's own tensors, that of its MTP modules' or None): with `mtp` (a
    models.yaml mtp block), a checkpoint's model.layers.N for N >= `layers` (DeepSeek-V3, GLM-4.5:
    num_nextn_predict_layers) or its mtp.* tensors (Qwen3-Next, Qwen3.5) are the MTP modules."""
    parts = summary.get("parts", {})
    if not mtp or not mtp.get("layers"):
        return summary, None
    keys = [k for k in parts if k == "mtp" or (isinstance(k, int) and k >= layers)]
    if not keys:
        return summary, None
    params, nbytes = 0, 0
    dtypes: dict[str, int] = {}
    for k in keys:
        params += parts[k]["params"]
        nbytes += parts[k]["bytes"]
        for dtype, size in parts[k]["dtypes"].items():
            dtypes[dtype] = dtypes.get(dtype, 0) + size
    left = dict(summary, params=summary["params"] - params, bytes=summary["bytes"] - nbytes,
                dtypes={d: b - dtypes.get(d, 0) for d, b in summary["dtypes"].items() if b - dtypes.get(d, 0) > 0})
    return left, {"params": params, "bytes": nbytes, "dtypes": dtypes}
