"""Every loader, fed random bytes and random structures through the command line a user runs:
the data files (`validate --data DIR`, each kind, random and mutated), config.json, safetensors
headers and indexes and GGUF files (`eval --model-config`), nvidia-smi and rocm-smi output
(`eval --gpu auto`), `--set` values and the YAML file `import --into` appends to.

For every input: the exit code is one the README documents (never 70, the "this is a bug"
code), nothing prints a traceback, every example finishes within a bound (hypothesis' deadline,
and an alarm for a hang that would never finish), and a success is only reported for an input
the test can check is valid by itself: a data file that passes `validate` satisfies its JSON
Schema and can be evaluated; a safetensors checkpoint that is imported has a consistent header
and its weights are exactly its bytes; `--gpu auto` counts the GPUs the tool listed and uses the
smallest total; an answer is finite and no memory component is negative.

The example counts keep the file under a minute on two cores; VRAMRULES_LOADER_EXAMPLES=10
multiplies them for a longer hunt."""
import contextlib
import copy
import json
import math
import os
import shutil
import signal
import struct
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from vramrules.cli import main
from vramrules.reading.datadir import builtin_data, schemas
from vramrules.reading.loader import load_file, load_text

SCALE = float(os.environ.get("VRAMRULES_LOADER_EXAMPLES", "1"))
DOCUMENTED = {0, 1, 2, 3, 4}  # README "Exit codes and errors"; 70 is a bug, 130 an interrupt
HF = Path(__file__).resolve().parent.parent / "cases" / "hf"
DATA = builtin_data()
KINDS = {  # data file -> (schema, section)
    "gpus.yaml": ("gpus", "gpus"), "models.yaml": ("models", "models"), "precisions.yaml": ("precisions", "precisions"),
    "optimizers.yaml": ("optimizers", "optimizers"), "assumptions.yaml": ("assumptions", "assumptions"),
    "measurements.yaml": ("measurements", "measurements"), "vocabulary.yaml": ("vocabulary", None),
    "rules/default.yaml": ("rules", None), "rules/thumb.yaml": ("rules", None), "rules/fit.yaml": ("rules", None)}
SCHEMAS = {name: json.loads((schemas() / f"{name}.schema.json").read_text(encoding="utf-8")) for name, _ in KINDS.values()}
REAL = {kind: load_file(DATA / kind).data for kind in KINDS}  # as the engine reads them (YAML 1.2: a date is text)
REAL_TEXT = {kind: (DATA / kind).read_bytes() for kind in KINDS}


def examples(n: int) -> settings:
    return settings(max_examples=max(1, int(n * SCALE)), deadline=timedelta(seconds=30), derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


class Hang(BaseException):
    """Not an Exception: no `except Exception` in the code under test can swallow it."""


@contextlib.contextmanager
def bounded(seconds: float = 60):
    def timeout(*_):
        raise Hang(f"ran past {seconds} s")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def cli(*args, env=None, allowed=DOCUMENTED):
    """Run vramrules in this process as a user would; the exit code must be a documented one and
    no exception of another kind may escape (the entry point turns those into exit 70)."""
    with bounded():
        r = CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=True)
    out = r.output
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"vramrules {' '.join(map(str, args))}: {type(r.exception).__name__}: {r.exception}") from r.exception
    assert r.exit_code in allowed, f"vramrules {' '.join(map(str, args))}: exit {r.exit_code}\n{out[-3000:]}"
    assert "Traceback" not in out and "internal error" not in out, out[-3000:]
    with contextlib.suppress(Exception):  # outside a hypothesis test there is nothing to tally
        event(f"{args[0]}: exit {r.exit_code}")
    return r


def sane(doc: dict):
    """A successful answer: finite, and no memory component negative."""
    for c in doc["components"]:
        b = c["memory"]["bytes"]
        assert math.isfinite(b) and b >= 0, (c["name"], b)
    assert math.isfinite(doc["total"]["bytes"]) and doc["total"]["bytes"] > 0, doc["total"]
    for h in doc.get("host", {}).get("components", []):
        assert math.isfinite(h["memory"]["bytes"]) and h["memory"]["bytes"] >= 0


def evaluated(*args, env=None) -> dict | None:
    """`eval ... --format json`: the document when it succeeds (checked sane), else None."""
    r = cli("eval", *args, "--format", "json", env=env)
    if r.exit_code:
        return None
    doc = json.loads(r.stdout)
    sane(doc)
    return doc


@contextlib.contextmanager
def folder():
    with tempfile.TemporaryDirectory(prefix="vramrules-loaders-") as d:
        yield Path(d)


scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.integers(-3, 300)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
           | st.sampled_from(["80 GiB", "0 B", "-1 GiB", "1e400 B", "3 tokens", "GiB", "nan", ".inf", "0o17", "yes", "1_000",
                              "2:00", "bf16", "llama3.1-8b", "adamw", "gated", "full", "model.hidden_size * 2", "weights + 1",
                              "input.seq_len", "1 / 0", "2 ** 2000", "\x1b[31m", "\u202e", "~", "", " 1 GiB ", "16 bit", "4 B"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8) | st.sampled_from(
    ["name", "value", "source", "formula", "unit", "kind", "default", "extends", "rules", "modes", "components"]), inner, max_size=3),
    max_leaves=10)


def paths(value, prefix=()):
    """Every place in a structure a mutation may touch."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, prefix + (i,))


@st.composite
def mutated(draw, value, times=3):
    """A copy of `value` with up to `times` random edits: a value replaced, a key deleted or
    added, a list element dropped."""
    value = copy.deepcopy(value)
    for _ in range(draw(st.integers(1, times))):
        where = draw(st.sampled_from(list(paths(value))))
        if not where:
            continue
        parent = value
        for k in where[:-1]:
            parent = parent[k]
        how = draw(st.sampled_from(["replace", "delete", "add"]))
        if how == "replace":
            parent[where[-1]] = draw(json_values)
        elif how == "delete":
            del parent[where[-1]]
        elif isinstance(parent[where[-1]], dict):
            parent[where[-1]][draw(st.text(max_size=8))] = draw(json_values)
        else:
            parent[where[-1]] = draw(json_values)
    return value


def as_text(doc, draw_ascii: bool) -> str:
    """JSON is YAML 1.2, and every string is quoted, so the file says exactly `doc`."""
    return json.dumps(doc, ensure_ascii=draw_ascii, indent=1)


def schema_ok(kind: str, doc) -> bool:
    try:
        jsonschema.validate(doc, SCHEMAS[KINDS[kind][0]])
    except jsonschema.ValidationError:
        return False
    return True


# ---------------------------------------------------------------- data files: validate --data DIR

@examples(40)
@given(st.sampled_from(sorted(KINDS)), st.one_of(
    st.binary(max_size=300),
    st.tuples(st.integers(0, 10**6), st.binary(max_size=6), st.integers(0, 3)),  # the real file, damaged
))
def test_random_bytes_in_any_data_file(kind, raw):
    if isinstance(raw, tuple):
        at, junk, cut = raw
        real = REAL_TEXT[kind]
        at %= len(real)
        raw = real[:at] + junk + real[at + cut:]
    with folder() as d:
        (d / kind).parent.mkdir(parents=True, exist_ok=True)
        (d / kind).write_bytes(raw)
        r = cli("validate", "--data", d)
        if r.exit_code == 0:  # only what PyYAML reads and the schema allows
            loaded = load_text(raw.decode("utf-8"), kind).data
            assert not loaded or isinstance(loaded, dict)
            if loaded and KINDS[kind][1]:
                assert schema_ok(kind, loaded), (kind, raw[:200])


ENTRY_KINDS = {"gpus.yaml": ("--gpu", ["--model", "llama3.1-8b"]), "models.yaml": ("--model", []),
               "precisions.yaml": ("--precision", ["--model", "llama3.1-8b"]),
               "optimizers.yaml": ("--optimizer", ["--model", "llama3.1-8b", "--mode", "train-full"])}


def _entries(kind):
    section = KINDS[kind][1]
    return sorted(REAL[kind][section])


@examples(45)
@given(st.sampled_from(sorted(ENTRY_KINDS) + ["measurements.yaml"]), st.data(), st.booleans())
def test_a_mutated_entry_under_a_new_id_is_refused_or_schema_valid_and_evaluates(kind, data, ascii_only):
    section = KINDS[kind][1]
    ident = data.draw(st.sampled_from(_entries(kind)))
    entry = data.draw(mutated(REAL[kind][section][ident]))
    doc = {section: {"fuzz-entry": entry}}
    with folder() as d:
        (d / kind).write_text(as_text(doc, ascii_only), encoding="utf-8")
        r = cli("validate", "--data", d)
        if r.exit_code:
            return
        assert schema_ok(kind, doc), f"validate accepted what the schema refuses: {json.dumps(doc)[:500]}"
        if kind == "measurements.yaml":
            cli("check-measurements", "--data", d, allowed={0, 4})
        else:
            option, rest = ENTRY_KINDS[kind]
            evaluated("--data", d, *rest, option, "fuzz-entry")


@examples(30)
@given(st.sampled_from(sorted(KINDS)), st.data(), st.booleans())
def test_a_mutated_copy_of_a_real_file_overriding_by_id_is_refused_or_evaluates(kind, data, ascii_only):
    """Overrides of existing entries, assumptions, vocabulary inputs, rules and modes."""
    doc = REAL[kind]
    section = KINDS[kind][1] or data.draw(st.sampled_from(sorted(k for k, v in doc.items() if isinstance(v, dict))))
    ident = data.draw(st.sampled_from(sorted(doc[section]))) if isinstance(doc[section], dict) and doc[section] else None
    part = {section: {ident: doc[section][ident]}} if ident is not None else {section: doc[section]}
    if kind.startswith("rules/"):
        part = {k: doc[k] for k in ("kind", "name", "uses") if k in doc} | part
    part = data.draw(mutated(part))
    with folder() as d:
        (d / kind).parent.mkdir(parents=True, exist_ok=True)
        (d / kind).write_text(as_text(part, ascii_only), encoding="utf-8")
        r = cli("validate", "--data", d)
        if r.exit_code == 0:
            rules = "thumb" if kind == "rules/thumb.yaml" else "default"
            evaluated("--data", d, "--model", "llama3.1-8b", "--rules", rules, "--gpu", "rtx-4090")
            if rules == "default":
                evaluated("--data", d, "--model", "mixtral-8x7b", "--mode", "train-lora", "--gpu", "h100-sxm-80gb")


@examples(25)
@example("measurements.yaml", 1, False, False)  # was exit 70: 'int' object has no attribute 'get'
@example("measurements.yaml", {"measurements": [1]}, False, True)
@given(st.sampled_from(sorted(KINDS)), json_values, st.booleans(), st.booleans())
def test_random_structures_as_a_whole_data_file(kind, value, wrap, ascii_only):
    section = KINDS[kind][1]
    doc = {section: value} if wrap and section else value
    with folder() as d:
        (d / kind).parent.mkdir(parents=True, exist_ok=True)
        (d / kind).write_text(as_text(doc, ascii_only), encoding="utf-8")
        r = cli("validate", "--data", d)
        if r.exit_code == 0 and doc not in (None, {}) and section:
            assert schema_ok(kind, doc), f"validate accepted what the schema refuses: {json.dumps(doc)[:500]}"


@examples(150)
@given(st.binary(max_size=200) | st.lists(st.sampled_from(["a:", " ", "\n", "- ", "[", "{", "}", "]", "&x", "*x", "!!str", "<<:", "'",
                                                          '"', "1e400", ".nan", "\t", "\ufeff", "\x00", "\udcff"]), max_size=30)
       .map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass")))
def test_the_yaml_loader_refuses_with_a_located_data_error_only(raw):
    from vramrules.errors import DataError

    with folder() as d:
        (d / "f.yaml").write_bytes(raw)
        with bounded(10):
            try:
                doc = load_file(d / "f.yaml")
            except DataError as exc:
                assert exc.problems and all(str(p.location.file).endswith("f.yaml") for p in exc.problems)
                return
        json.dumps(doc.data, allow_nan=False)  # what it read is plain data: no NaN, no tag-made object


MATRIX = {"scenarios": [{"model": "llama3.1-8b", "mode": "inference", "gpu": "l4"},
                        {"model": "mixtral-8x7b", "mode": "train-lora", "gpu": "h100-sxm-80gb", "seq_len": 4096, "lora_rank": 8}]}


@examples(12)
@given(st.one_of(mutated(MATRIX).map(json.dumps), json_values.map(json.dumps), st.text(max_size=60)))
def test_a_diff_matrix_file_of_any_content(text):
    with folder() as d:
        (d / "m.yaml").write_text(text, encoding="utf-8")
        r = cli("diff", "builtin", "builtin", "--matrix", d / "m.yaml", "--format", "json")
        if r.exit_code == 0:
            parsed = json.loads(text) if text.strip() else None
            assert isinstance(parsed, dict) and isinstance(parsed.get("scenarios"), list) and parsed["scenarios"], text


# ---------------------------------------------------------------- config.json, safetensors, GGUF: eval --model-config

CONFIGS = [json.loads(p.read_text()) for p in sorted(HF.glob("*.json"))]
TINY = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 256, "tie_word_embeddings": False}
FAMILIES = ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2", "gemma3", "gemma3_text",
            "phi3", "deepseek_v3", "gpt_oss")


@examples(30)
@given(st.one_of(st.sampled_from(CONFIGS).flatmap(mutated), json_values, st.binary(max_size=200)))
def test_config_json_random_and_mutated(cfg):
    with folder() as d:
        m = d / "m"
        m.mkdir()
        (m / "config.json").write_bytes(cfg if isinstance(cfg, bytes) else json.dumps(cfg).encode())
        doc = evaluated("--model-config", m)
        if doc is not None:
            assert isinstance(cfg, dict), "a config.json that is not a JSON object was imported"
            family = cfg.get("model_type")
            assert isinstance(family, str), family
            assert doc["figures"]["params_total"]["value"] >= 1


# Safetensors: the format per its specification, checked here without the engine's code.
SPEC_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
             "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}
OVERHEAD = ("qzeros", "scales", "g_idx", "weight_scale_inv", "weight_scale", "input_scale", "absmax", "quant_map", "quant_state")


def consistent(header, data_bytes: int) -> int | None:
    """The bytes of tensor data a header describes, when it is consistent: every entry an object
    with a known dtype, a shape of whole numbers, offsets inside the data whose span is exactly
    shape x dtype, spans apart. None when it is not."""
    if not isinstance(header, dict):
        return None
    spans = []
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(t, dict) or t.get("dtype") not in SPEC_BITS:
            return None
        shape, offs = t.get("shape"), t.get("data_offsets")
        if not isinstance(shape, list) or not all(type(x) is int and x >= 0 for x in shape):
            return None
        if not isinstance(offs, list) or len(offs) != 2 or not all(type(x) is int and x >= 0 for x in offs):
            return None
        bits = math.prod(shape) * SPEC_BITS[t["dtype"]]
        if bits % 8 or offs[1] - offs[0] != bits // 8 or offs[1] > data_bytes:
            return None
        if offs[1] > offs[0]:
            spans.append(tuple(offs))
    spans.sort()
    if any(b[0] < a[1] for a, b in zip(spans, spans[1:])):
        return None
    return sum(e - b for b, e in spans)


def _honest(tensors):
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        n = SPEC_BITS[dtype] * math.prod(shape) // 8
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    return header, offset


DTYPES = sorted(SPEC_BITS) + ["X9", "bf16", "Q4_K"]
honest = st.dictionaries(st.text(min_size=1, max_size=10), st.tuples(st.sampled_from(["BF16", "F32", "U8", "F8_E4M3", "I64"]),
                                                                      st.lists(st.integers(1, 9), max_size=3)),
                         min_size=1, max_size=4).map(_honest)
entry = st.fixed_dictionaries({"dtype": st.sampled_from(DTYPES), "shape": st.lists(st.integers(-1, 12), max_size=3),
                               "data_offsets": st.lists(st.integers(-1, 400), min_size=2, max_size=2)})
dishonest = st.tuples(st.dictionaries(st.text(max_size=10), entry | json_values, max_size=4), st.integers(0, 500))


@examples(40)
@given(st.one_of(honest, honest.flatmap(lambda h: st.tuples(mutated(h[0]), st.just(h[1]))), dishonest),
       st.sampled_from(["exact", "short", "long"]), st.integers(-3, 3))
def test_safetensors_imported_only_when_consistent_and_weights_are_its_bytes(header_and_data, length, extra_data):
    header, data_len = header_and_data
    data_len = max(0, data_len + extra_data)
    raw = json.dumps(header).encode()
    n = {"exact": len(raw), "short": max(0, len(raw) - 2), "long": len(raw) + 3}[length]
    blob = struct.pack("<Q", n) + raw + bytes(data_len)
    with folder() as d:
        m = d / "m"
        m.mkdir()
        (m / "config.json").write_text(json.dumps(TINY))
        (m / "model.safetensors").write_bytes(blob)
        doc = evaluated("--model-config", m)
        if doc is None:
            return
        assert n == len(raw), "a header of the wrong length was read"
        stored = consistent(header, data_len)
        assert stored is not None and stored > 0, f"an inconsistent header was imported: {raw[:300]!r}"
        weights = next(c for c in doc["components"] if c["name"] == "weights")
        assert weights["memory"]["bytes"] == stored, (weights, stored)  # at the native precision, what the checkpoint stores
        counted = sum(math.prod(t["shape"]) for k, t in header.items() if k != "__metadata__" and k.rsplit(".", 1)[-1] not in OVERHEAD)
        printed = yaml.safe_load(cli("import", m, "--id", "fuzz-model").stdout)["models"]["fuzz-model"]
        assert printed["params"] == counted and printed["checkpoint_bytes"] == f"{stored} B", (printed, counted, stored)


SHARD_NAMES = st.sampled_from(["model.safetensors", "./model.safetensors", "../model.safetensors", "/etc/passwd", "model.safetensors/",
                               "sub/../model.safetensors", "", "MODEL.safetensors", "model.safetensors\x00", "C:model.safetensors"])


@examples(20)
@given(st.one_of(st.dictionaries(st.sampled_from(["w", "x", "w "]), SHARD_NAMES, min_size=1, max_size=2),
                 st.dictionaries(st.text(max_size=8), SHARD_NAMES | json_values, max_size=3)), st.booleans())
@example({"w": "model.safetensors"}, True)  # the honest index: imported
@example({"w": "../model.safetensors"}, True)  # a shard outside the folder: refused
def test_a_safetensors_index_names_only_files_inside_the_folder(weight_map, wrapped):
    header, size = _honest({"w": ("BF16", [4, 4])})
    raw = json.dumps(header).encode()
    with folder() as d:
        m = d / "m"
        m.mkdir()
        (m / "config.json").write_text(json.dumps(TINY))
        (m / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(size))
        (d / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(size))  # outside: must never be read
        (m / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map} if wrapped else weight_map))
        doc = evaluated("--model-config", m)
        if doc is not None:
            assert wrapped and weight_map and all(isinstance(s, str) and ".." not in s.split("/") and not s.startswith("/")
                                                  for s in weight_map.values()), weight_map
            assert set(weight_map) == {"w"}, weight_map


def _gguf_file() -> bytes | None:
    try:
        import gguf
        import numpy as np
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.gguf"
        w = gguf.GGUFWriter(str(path), "llama")
        w.add_block_count(1)
        w.add_embedding_length(32)
        w.add_head_count(2)
        w.add_head_count_kv(1)
        w.add_context_length(64)
        w.add_feed_forward_length(64)
        w.add_tensor("token_embd.weight", np.zeros((10, 32), dtype=np.float16))
        w.add_tensor("blk.0.attn_q.weight", np.zeros((32, 32 // 32 * 34), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        w.add_tensor("output_norm.weight", np.zeros(32, dtype=np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return path.read_bytes()


GGUF = _gguf_file()


@pytest.mark.skipif(GGUF is None, reason="the optional extra vramrules[gguf] is not installed")
@examples(30)
@given(st.one_of(
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6).map(lambda flips: ("flip", flips)),
    st.tuples(st.integers(0, 10**6), st.sampled_from([2**64 - 1, 2**63, 2**40, 2**32 + 1, 0, 1, 7])).map(lambda w: ("word", w)),
    st.integers(0, 10**6).map(lambda cut: ("cut", cut)),
    st.binary(max_size=200).map(lambda tail: ("tail", tail))))
def test_gguf_damaged_or_random_is_refused_or_bounded(how):
    assert GGUF is not None
    kind, arg = how
    raw = bytearray(GGUF)
    if kind == "flip":
        for at, byte in arg:
            raw[at % len(raw)] = byte
    elif kind == "word":
        at = arg[0] % (len(raw) - 8)
        raw[at:at + 8] = struct.pack("<Q", arg[1])
    elif kind == "cut":
        raw = raw[:arg % len(raw)]
    else:
        raw = bytearray(b"GGUF" + struct.pack("<I", 3) + arg)
    with folder() as d:
        (d / "t.gguf").write_bytes(bytes(raw))
        doc = evaluated("--model-config", d / "t.gguf")
        if doc is not None:
            assert raw[:4] == b"GGUF"
            weights = next(c for c in doc["components"] if c["name"] == "weights")
            assert 0 < weights["memory"]["bytes"] <= len(raw)


def test_the_fuzzed_gguf_is_valid_to_begin_with():
    if GGUF is None:
        pytest.skip("the optional extra vramrules[gguf] is not installed")
    with folder() as d:
        (d / "t.gguf").write_bytes(GGUF)
        assert evaluated("--model-config", d / "t.gguf") is not None


# ---------------------------------------------------------------- nvidia-smi and rocm-smi: eval --gpu auto

def _tool(d: Path, name: str, output: bytes) -> dict:
    (d / "out").write_bytes(output)
    script = d / name
    script.write_text(f"#!/bin/sh\nexec cat '{d / 'out'}'\n")
    script.chmod(0o755)
    return {"PATH": f"{d}{os.pathsep}{os.environ.get('PATH', '')}"}


def smi_reading(output: bytes) -> list | None:
    """What a correct reader makes of nvidia-smi's CSV: [(name, total MiB)], or None when a
    line is not `name, total, used` with finite numbers."""
    gpus = []
    for line in output.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3:
            return None
        try:  # memory.used [N/A] (some boards, unified memory) is none in use
            total, used = float(parts[-2]), 0.0 if parts[-1] in ("[N/A]", "N/A", "[Not Supported]") else float(parts[-1])
        except ValueError:
            return None
        if not math.isfinite(total):
            return None
        gpus.append((",".join(parts[:-2]), total, used))
    return gpus or None


number = st.one_of(st.integers(-10, 10**7).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.sampled_from(["nan", "inf", "-inf", "1e400", "[N/A]", "", " 24564 ", "0x10", "1_000", "24564 MiB", "∞", "٣"]))
smi_line = st.tuples(st.text(max_size=12) | st.sampled_from(["NVIDIA GeForce RTX 4090", "NVIDIA H100 80GB HBM3", "A, B", ""]), number, number) \
    .map(lambda t: ", ".join(t))


@examples(35)
@example(b", 1, 0\n, nan, 0")  # a NaN total hid behind the other GPU's in min(): 2 GPUs of 1 MiB
@example(b"Big GPU, 1048577, 0")  # `:g` wrote 1.04858e+06 MiB
@given(st.one_of(st.lists(smi_line, min_size=1, max_size=4).map(lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass")),
                 st.binary(max_size=120)))
def test_nvidia_smi_output_gives_its_gpus_or_a_usage_error(output):
    with folder() as d:
        env = _tool(d, "nvidia-smi", output)
        doc = evaluated("--model", "llama3.1-8b", "--gpu", "auto", env=env)
        if doc is None:
            return
        gpus = smi_reading(output)
        assert gpus, f"--gpu auto succeeded on nvidia-smi output that lists no readable GPU: {output!r}"
        smallest = min(total for _, total, _used in gpus)
        assert smallest > 0, output
        assert doc["fit"]["gpus"] == len(gpus), (doc["fit"], output)
        # what the busiest GPU already holds is reserved on each (the default --reserve of --gpu auto)
        busiest = max(used for _, _total, used in gpus)
        assert doc["fit"]["usable_per_gpu"]["bytes"] == pytest.approx(max(0.0, smallest - busiest) * 2**20, abs=1), (doc["fit"], output)


SYSTEM_PATH = os.pathsep.join(p for p in ("/usr/bin", "/bin") if not shutil.which("nvidia-smi", path=p))  # sh and cat, no nvidia-smi


rocm_cards = st.dictionaries(st.sampled_from(["card0", "card1", "system", "cardX"]), st.dictionaries(
    st.sampled_from(["Card series", "Card SKU", "VRAM Total Memory (B)", "VRAM Total Used Memory (B)"]), number | json_values, max_size=4),
    max_size=3)


@examples(20)
@example(b"null")  # was exit 70: 'NoneType' object has no attribute 'items'
@example(b'{"card0": {"Card series": "0", "VRAM Total Memory (B)": null}}')  # was exit 70: float(None)
@example(b'{"card0": {"Card series": ["x"], "VRAM Total Memory (B)": "25769803776"}}')  # was exit 70: a list as a name
@example(b'{"card0": {"Card series": "0", "VRAM Total Memory (B)": "1"}}')  # 1 B became 9.53674e-07 MiB, read back as 0 B
@example(b'{"card0": {"Card series": "0", "VRAM Total Memory (B)": "2", "VRAM Total Used Memory (B)": "2"}}')  # all in use: none usable
@example(b'{"card0": {"VRAM Total Memory (B)": "25769803776", "VRAM Total Used Memory (B)": "1073741824"}, '
         b'"card1": {"VRAM Total Memory (B)": "25769803776"}}')  # the busiest card's 1 GiB is reserved on each
@given(st.one_of((json_values | rocm_cards).map(lambda v: json.dumps(v).encode()), st.binary(max_size=80)))
def test_rocm_smi_output_gives_its_gpus_or_a_usage_error(output):
    with folder() as d:
        env = _tool(d, "rocm-smi", output)
        env["PATH"] = f"{d}{os.pathsep}{SYSTEM_PATH}"
        doc = evaluated("--model", "llama3.1-8b", "--gpu", "auto", env=env)
        if doc is None:
            return
        parsed = json.loads(output)
        cards = {k: v for k, v in parsed.items() if k.startswith("card") and isinstance(v, dict)}
        totals = [float(v["VRAM Total Memory (B)"]) for v in cards.values()]
        assert totals and all(math.isfinite(t) and t > 0 for t in totals), output
        assert doc["fit"]["gpus"] == len(totals)
        # what the busiest card already holds is reserved on each (the default --reserve of --gpu auto)
        used = [float(v.get("VRAM Total Used Memory (B)", 0)) for v in cards.values()]
        if all(math.isfinite(u) and u >= 0 for u in used):
            assert doc["fit"]["usable_per_gpu"]["bytes"] == pytest.approx(max(0.0, min(totals) - max(used)), abs=1), (doc["fit"], output)


@pytest.mark.parametrize("tool, output, code, said", [
    ("rocm-smi", b"null", 2, "rocm-smi's JSON is not an object of cards"),
    ("rocm-smi", b'{"card0": {"VRAM Total Memory (B)": null}}', 2, "rocm-smi gives no VRAM total for card0"),
    ("rocm-smi", b'{"card0": {"VRAM Total Memory (B)": "nan"}}', 2, "no positive VRAM total"),
    ("rocm-smi", b'{"card0": {"Card series": ["x"], "VRAM Total Memory (B)": "25769803776"}}', 0, "1 x local-gpu (card0, 24576 MiB)"),
    ("nvidia-smi", b"A, 24564, 0\nB, nan, 0", 2, "gives no positive memory.total"),
    ("nvidia-smi", b"A, 24564, 0\nB, -1, 0", 2, "gives no positive memory.total"),
    ("nvidia-smi", b"Big GPU, 1048577, 0", 0, "1048577 MiB"),
])
def test_gpu_auto_regressions(tool, output, code, said):
    """What the property tests found: exit 70 on rocm-smi JSON that is not an object of cards or
    has a null total or a list as a name; a NaN total hidden behind another GPU's; totals written
    with 6 digits (1,048,577 MiB read as 1,048,580, rocm-smi's 1 B as 0 B)."""
    with folder() as d:
        env = _tool(d, tool, output)
        if tool == "rocm-smi":
            env["PATH"] = f"{d}{os.pathsep}{SYSTEM_PATH}"
        r = cli("eval", "--model", "llama3.1-8b", "--gpu", "auto", env=env)
        assert r.exit_code == code and said in r.output, r.output


def test_a_data_file_that_is_not_an_object_is_a_schema_error():
    """Was exit 70 for measurements.yaml ('int' object has no attribute 'get')."""
    for kind in sorted(KINDS):
        with folder() as d:
            (d / kind).parent.mkdir(parents=True, exist_ok=True)
            (d / kind).write_text("1\n", encoding="utf-8")
            r = cli("validate", "--data", d)
            assert r.exit_code == 1 and f"{kind}:1:1: 1 is not of type object" in r.output.replace(os.sep, "/"), (kind, r.output)


def test_a_measurement_that_names_no_model_fails_validate_not_check_measurements():
    """validate passed a scenario without model, model_config or params, which check-measurements
    then could not evaluate (found by the mutated-entry property)."""
    entry = dict(REAL["measurements.yaml"]["measurements"]["llamacpp-llama2-7b-kv"])
    with folder() as d:
        (d / "measurements.yaml").write_text(as_text({"measurements": {"fuzz-entry": dict(entry, scenario={"mode": "inference"})}}, True))
        r = cli("validate", "--data", d)
        assert r.exit_code == 1 and "/measurements/fuzz-entry/scenario: the scenario names no model" in r.output, r.output
        (d / "measurements.yaml").write_text(as_text({"measurements": {"fuzz-entry": dict(entry, scenario={"mode": "inference", "params": 7e9})}}, True))
        assert cli("validate", "--data", d).exit_code == 0


# ---------------------------------------------------------------- --set values

SETTABLE = sorted(REAL["assumptions.yaml"]["assumptions"])
set_text = st.one_of(st.text(max_size=12), number, st.tuples(number, st.sampled_from(["GiB", "MiB", "B", "GB", "bit", "KiB", "GiBB", "tokens", ""]))
                     .map(" ".join), st.sampled_from(["1 GiB", "0", "-1", "true", "null", "[1]", "{a: 1}", "!!float 1", "1e308 GiB", "0.5",
                                                     "1.5", "1 GiB/s", "'1 GiB'", "~", "0 B"]))


@examples(25)
@given(st.sampled_from(SETTABLE), set_text, st.sampled_from(["inference", "serve", "train-lora"]))
def test_set_values_are_checked_like_data(name, text, mode):
    assume("\x00" not in text)  # an argument cannot hold NUL
    doc = evaluated("--model", "llama3.1-8b", "--mode", mode, "--gpu", "l4", "--set", f"assume.{name}={text}")
    if doc is not None:
        assert f"assume.{name}" in doc["overrides"], doc["overrides"]


@examples(15)
@given(st.text(max_size=30))
def test_set_items_of_any_shape(item):
    assume("\x00" not in item)
    cli("eval", "--model", "llama3.1-8b", "--set", item)


# ---------------------------------------------------------------- the YAML file import --into appends to

@examples(20)
@given(st.one_of(st.binary(max_size=120), json_values.map(lambda v: json.dumps(v).encode()),
                 st.tuples(st.integers(0, 10**5), st.binary(max_size=4)).map(
                     lambda t: REAL_TEXT["models.yaml"][: t[0] % 4000] + t[1])))
def test_import_into_any_existing_file_appends_validly_or_refuses(existing):
    with folder() as d:
        m = d / "m"
        m.mkdir()
        (m / "config.json").write_text(json.dumps(TINY))
        target = d / "org" / "models.yaml"
        target.parent.mkdir()
        target.write_bytes(existing)
        r = cli("import", m, "--id", "fuzz-model", "--into", target)
        after = target.read_bytes()
        if r.exit_code:
            assert after == existing, "a refused import changed the file"
            return
        loaded = yaml.safe_load(after.decode("utf-8"))
        assert isinstance(loaded, dict) and "fuzz-model" in loaded["models"]
        before = yaml.safe_load(existing.decode("utf-8")) if existing.strip() else None
        if isinstance(before, dict) and isinstance(before.get("models"), dict):
            assert set(before["models"]) <= set(loaded["models"]), "an import lost entries"
        cli("validate", "--data", target.parent)


if __name__ == "__main__":  # pragma: no cover - a longer hunt: python tests/hostile/test_loaders_property.py
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
