"""A bounded fuzz of the importers through the entry point `eval --model-config` and `import` use
(model_entry.from_path): random bytes and random JSON structures as config.json, safetensors
headers, indexes and GGUF files. Every input is either imported with positive, finite counts
that the file can actually hold, or refused with the engine's own error (exit 1 or 2), never an
exception of another type (exit 70), never a hang."""
import contextlib
import json
import math
import os
import signal
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vramrules.errors import VramrulesError
from vramrules.importers.hf_config import TEXT_OF
from vramrules.importers.model_entry import from_path

HF = Path(__file__).resolve().parent / "cases" / "hf"
BASES = [json.loads(p.read_text()) for p in sorted(HF.glob("*.json"))]
CFG = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
       "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 256, "tie_word_embeddings": False}
EXAMPLES = int(os.environ.get("VRAMRULES_FUZZ_EXAMPLES", "150"))  # raise it for a longer hunt
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
CONFIG_SETTINGS = settings(SETTINGS, max_examples=max(1, EXAMPLES * 2 // 3))  # each import that succeeds evaluates the rules
CORE = {"hidden_size": "hidden_size", "num_hidden_layers": "num_layers", "num_attention_heads": "num_attention_heads",
        "vocab_size": "vocab_size", "max_position_embeddings": "max_context"}
KEYS = sorted({k for b in BASES for k in b} | {"text_config", "layer_types", "sliding_window_pattern", "mlp_only_layers", "head_dim",
                                               "quantization_config", "use_sliding_window", "max_window_layers", "_name_or_path"})


class Hang(BaseException):
    """Not an Exception: no `except Exception` in the code under test can swallow it."""


@contextlib.contextmanager
def bounded(seconds: float = 10):
    """A hang fails the example instead of stalling the suite."""
    def timeout(*_):
        raise Hang(f"the importer ran past {seconds} s")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _event(name):
    with contextlib.suppress(Exception):  # outside a hypothesis test there is nothing to tally
        event(name)


def attempt(path):
    """The entry, or None when the importer refused the input with one of its own errors."""
    with bounded():
        try:
            _, entry, _ = from_path(path)
        except VramrulesError as exc:
            assert exc.exit_code in (1, 2)
            assert "internal error" not in str(exc)
            _event("refused")
            return None
    _event("imported")
    params = entry["params"]
    assert isinstance(params, int) and not isinstance(params, bool) and params > 0 and math.isfinite(params)
    if "checkpoint_bytes" in entry:
        stored = int(entry["checkpoint_bytes"].removesuffix(" B"))
        assert stored > 0 and entry["checkpoint_params"] == params
    return entry


scalars = st.none() | st.booleans() | st.integers(-3, 2**70) | st.integers(0, 300) | st.floats(allow_nan=True) | st.text(max_size=6)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                           max_leaves=8)


@contextlib.contextmanager
def workdir():
    with tempfile.TemporaryDirectory(prefix="vramrules-fuzz-") as d:
        yield Path(d)


@CONFIG_SETTINGS
@given(st.sampled_from(BASES + [CFG]), st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4),
       st.sets(st.sampled_from(KEYS), max_size=2))
def test_random_config_values_are_imported_exactly_or_refused(base, overrides, dropped):
    cfg = {k: v for k, v in {**base, **overrides}.items() if k not in dropped}
    with workdir() as folder:
        (folder / "config.json").write_text(json.dumps(cfg))
        entry = attempt(folder)
        if entry is None:
            return
        # a multimodal wrapper (gemma3, qwen3_vl, mistral3, ...) is read from its text_config when it has one (hf_config.TEXT_OF)
        fields = cfg["text_config"] if cfg.get("model_type") in TEXT_OF and isinstance(cfg.get("text_config"), dict) else cfg
        for key, field in CORE.items():  # a success took each number as written: no truncation, no booleans
            value = fields[key]
            assert not isinstance(value, bool) and value == entry[field] and value >= 1, (key, value, entry[field])


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_as_config_json_are_refused(raw):
    with workdir() as folder:
        (folder / "config.json").write_bytes(raw)
        attempt(folder)


DTYPES = ["BF16", "F16", "F32", "I32", "U8", "F4", "F6_E2M3", "BOOL", "F8_E4M3", "X9"]
tensor_entries = st.one_of(
    st.fixed_dictionaries({"dtype": st.sampled_from(DTYPES), "shape": st.lists(st.integers(-1, 40), max_size=3),
                           "data_offsets": st.lists(st.integers(-2, 600), min_size=2, max_size=2)}),
    st.fixed_dictionaries({"dtype": st.sampled_from(DTYPES) | json_values, "shape": json_values, "data_offsets": json_values}),
    json_values)


def _honest(tensors):
    """Entries laid out as the format says, so the fuzz reaches successful imports too."""
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        n = {"BF16": 2, "F32": 4, "U8": 1}[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    return header, offset


honest = st.dictionaries(st.text(min_size=1, max_size=12), st.tuples(st.sampled_from(["BF16", "F32", "U8"]), st.lists(st.integers(0, 9), max_size=3)),
                         min_size=1, max_size=4).map(_honest)


@SETTINGS
@given(st.one_of(
    st.tuples(st.dictionaries(st.text(max_size=12), tensor_entries, max_size=4), st.integers(0, 700)),
    honest,
    st.tuples(json_values, st.integers(0, 50))),
    st.sampled_from(["exact", "short", "long", "lie"]), st.integers(0, 2**64 - 1),
    st.none() | st.dictionaries(st.text(max_size=8), json_values | st.sampled_from(["model.safetensors", "../model.safetensors", "/etc/passwd"]), max_size=3),
    st.booleans())
def test_random_safetensors_headers_and_indexes_never_invent_bytes(header_and_data, length_mode, lie, index_map, wrap_index):
    header, data_len = header_and_data
    raw = json.dumps(header).encode()
    n = {"exact": len(raw), "short": max(0, len(raw) - 3), "long": len(raw) + 5, "lie": lie}[length_mode]
    blob = struct.pack("<Q", n) + raw + bytes(data_len)
    with workdir() as folder:
        (folder / "config.json").write_text(json.dumps(CFG))
        (folder / "model.safetensors").write_bytes(blob)
        if index_map is not None:
            (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": index_map} if wrap_index else index_map))
        entry = attempt(folder)
        if entry is None:
            return
        stored = int(entry["checkpoint_bytes"].removesuffix(" B"))
        assert stored <= len(blob) - 8 - n  # no more bytes than the file holds after its header
        assert entry["params"] <= 2 * stored  # at most 2 values per byte (F4, 4-bit packed int32)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_as_safetensors_are_refused_or_bounded(raw):
    with workdir() as folder:
        (folder / "config.json").write_text(json.dumps(CFG))
        (folder / "model.safetensors").write_bytes(raw)
        entry = attempt(folder)
        if entry is not None:
            assert int(entry["checkpoint_bytes"].removesuffix(" B")) <= len(raw)


# GGUF: a valid tiny file, then random damage to it, and random bytes behind the magic
def _s(text):
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


COUNTS: list[int] = []  # byte positions of the file's u64 counts, lengths, dimensions and offsets


def _valid_gguf() -> bytes:
    kv = [("general.architecture", 8, _s("llama"))] + [(f"llama.{k}", 4, struct.pack("<I", v)) for k, v in (
        ("block_count", 2), ("embedding_length", 64), ("attention.head_count", 4), ("attention.head_count_kv", 2),
        ("context_length", 256), ("feed_forward_length", 128))]
    kv.append(("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + _s("a") + _s("b") + _s("c")))
    kv.append(("tokenizer.ggml.token_type", 9, struct.pack("<IQ", 5, 3) + struct.pack("<3i", 1, 1, 1)))
    kv.append(("tokenizer.ggml.precompiled_charsmap", 9, struct.pack("<IQ", 0, 4) + b"\1\2\3\4"))
    tensors = [("token_embd.weight", (64, 100), 1, 12800), ("blk.0.attn_q.weight", (64, 64), 1, 8192), ("output_norm.weight", (64,), 0, 256)]
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    COUNTS.extend([8, 16])
    for key, kind, value in kv:
        COUNTS.append(len(out))
        out += _s(key) + struct.pack("<I", kind)
        if kind == 9:
            COUNTS.append(len(out) + 4)  # the array's length
        elif kind == 8:
            COUNTS.append(len(out))
        out += value
    offset = 0
    for name, dims, kind, size in tensors:
        COUNTS.append(len(out))
        out += _s(name) + struct.pack("<I", len(dims))
        COUNTS.extend(len(out) + 8 * i for i in range(len(dims)))
        out += struct.pack(f"<{len(dims)}Q", *dims) + struct.pack("<I", kind)
        COUNTS.append(len(out))
        out += struct.pack("<Q", offset)
        offset += size
    out += bytes(-len(out) % 32)
    return out + bytes(offset)


VALID_GGUF = _valid_gguf()


@pytest.fixture(scope="module", autouse=True)
def _gguf_installed():
    pytest.importorskip("gguf")


def test_the_fuzzed_gguf_is_valid_to_begin_with(tmp_path):
    (tmp_path / "t.gguf").write_bytes(VALID_GGUF)
    assert attempt(tmp_path / "t.gguf")["params"] == 64 * 100 + 64 * 64 + 64


BIG = [2**64 - 1, 2**63, 2**40, 2**32 + 1, 10**6, 0, 1, 9]
damage = st.one_of(
    st.tuples(st.lists(st.tuples(st.integers(0, len(VALID_GGUF) - 1), st.integers(0, 255)), max_size=6), st.just([]), st.just(len(VALID_GGUF))),
    st.tuples(st.just([]), st.lists(st.tuples(st.sampled_from(COUNTS), st.sampled_from(BIG)), min_size=1, max_size=3), st.just(len(VALID_GGUF))),
    st.tuples(st.just([]), st.lists(st.tuples(st.integers(0, len(VALID_GGUF) - 8), st.sampled_from(BIG)), max_size=2),
              st.integers(0, len(VALID_GGUF))))


@SETTINGS
@given(damage)
def test_damaged_gguf_is_refused_or_bounded(how):
    """Flipped bytes; counts, lengths, dimensions and offsets set to huge values; truncation."""
    flips, words, cut = how
    raw = bytearray(VALID_GGUF)
    for at, byte in flips:
        raw[at] = byte
    for at, word in words:
        raw[at:at + 8] = struct.pack("<Q", word)
    raw = bytes(raw[:cut])
    with workdir() as folder:
        (folder / "t.gguf").write_bytes(raw)
        entry = attempt(folder / "t.gguf")
        if entry is not None:
            assert int(entry["checkpoint_bytes"].removesuffix(" B")) <= len(raw)


@SETTINGS
@given(st.binary(max_size=400), st.booleans())
def test_random_bytes_as_gguf_are_refused(tail, with_header):
    head = b"GGUF" + struct.pack("<I", 3) if with_header else b""
    with workdir() as folder:
        (folder / "t.gguf").write_bytes(head + tail)
        entry = attempt(folder / "t.gguf")
        if entry is not None:
            assert int(entry["checkpoint_bytes"].removesuffix(" B")) <= len(head + tail)
