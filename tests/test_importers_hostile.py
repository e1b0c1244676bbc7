"""Hostile local files for the importers (issue 19, "never lose or invent a number"): safetensors
headers and indexes that lie, files that are not regular files, config.json and GGUF values of
the wrong kind, `import --into --force` over flow-style entries, concurrent `import --into`.
Every case asserts the exit code and the message; nothing here touches the network."""
import json
import multiprocessing
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from vramrules.cli import main
from vramrules.errors import DataError, VramrulesError

HF = Path(__file__).resolve().parent / "cases" / "hf"
CFG = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
       "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 256, "tie_word_embeddings": False}
SIZES = {"BF16": 2, "F16": 2, "F32": 4, "I32": 4, "F8_E4M3": 1}


def run(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], **kw)


def cli(*args, timeout=60):
    """The CLI in a child process, bounded in time and memory: a hang or a runaway read fails
    the test instead of stalling or exhausting the machine."""
    def limits():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    code = "import sys; from vramrules.cli import main; main(prog_name='vramrules')"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], check=False, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limits, env=env)


def folder_with(tmp_path, cfg=None, name="m"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(CFG if cfg is None else cfg))
    return folder


def st_bytes(tensors: dict, data: bytes | None = None) -> bytes:
    """A safetensors file: name -> (dtype, shape) laid out contiguously, or name -> a raw header
    entry (a dict) written as given; `data` replaces the zero-filled data section."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, t in tensors.items():
        if not isinstance(t, tuple):
            header[name] = t
            continue
        dtype, shape = t
        n = SIZES[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + (bytes(offset) if data is None else data)


TINY = {"model.embed_tokens.weight": ("BF16", (100, 64)), "model.norm.weight": ("BF16", (64,))}
TINY_PARAMS = 100 * 64 + 64


# --- 1. safetensors headers and indexes ---------------------------------------------------------

def test_a_91_byte_file_does_not_give_15_gib_of_weights(tmp_path):
    folder = folder_with(tmp_path)
    head = json.dumps({"w": {"dtype": "BF16", "shape": [80000, 80000], "data_offsets": [0, 12_800_000_000]}}).encode()
    raw = struct.pack("<Q", len(head)) + head
    assert len(raw) <= 91
    (folder / "model.safetensors").write_bytes(raw)
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "model.safetensors: /w/data_offsets: [0, 12800000000] reaches past the end of the file" in r.output
    assert "GiB" not in r.output


def test_shape_that_disagrees_with_its_span_is_refused(tmp_path):
    """6.4e9 parameters claimed by a tensor that stores two bytes."""
    folder = folder_with(tmp_path)
    (folder / "model.safetensors").write_bytes(
        st_bytes({"w": {"dtype": "BF16", "shape": [80000, 80000], "data_offsets": [0, 2]}}, data=b"\0\0"))
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert ("model.safetensors: /w: shape [80000, 80000] of BF16 takes 12800000000 bytes, "
            "but data_offsets [0, 2] span 2 bytes") in r.output


def test_import_never_writes_negative_checkpoint_bytes(tmp_path):
    folder = folder_with(tmp_path)
    (folder / "model.safetensors").write_bytes(
        st_bytes({"w": {"dtype": "BF16", "shape": [0], "data_offsets": [10, 0]}}, data=bytes(10)))
    target = tmp_path / "models.yaml"
    target.write_text("models:\n")
    r = run("import", folder, "--into", target)
    assert r.exit_code == 1, r.output
    assert "/w/data_offsets: [10, 0] ends before it begins" in r.output
    assert target.read_text() == "models:\n"
    r = run("import", folder)
    assert r.exit_code == 1 and "checkpoint_bytes" not in r.output


@pytest.mark.parametrize("offsets, message", [
    ([-1, 1], "/w/data_offsets: must be two whole numbers >= 0, got [-1, 1]"),
    ([0, 1.5], "/w/data_offsets: must be two whole numbers >= 0, got [0, 1.5]"),
    ([0], "/w/data_offsets: must be two whole numbers >= 0, got [0]"),
    ("0-2", "/w/data_offsets: must be two whole numbers >= 0, got \"0-2\""),
])
def test_malformed_data_offsets_are_refused(tmp_path, offsets, message):
    folder = folder_with(tmp_path)
    (folder / "model.safetensors").write_bytes(st_bytes({"w": {"dtype": "U8", "shape": [2], "data_offsets": offsets}}, data=b"\0\0"))
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1 and message in r.output, r.output


def test_overlapping_tensors_are_refused(tmp_path):
    folder = folder_with(tmp_path)
    (folder / "model.safetensors").write_bytes(st_bytes({
        "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
        "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, data=bytes(24)))
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "model.safetensors: /b/data_offsets: [8, 24] overlaps tensor 'a' at [0, 16]" in r.output


@pytest.mark.parametrize("entry, message", [
    ({"dtype": "F12", "shape": [1], "data_offsets": [0, 1]}, "/w/dtype: unknown safetensors dtype 'F12'"),
    ({"dtype": "U8", "shape": [True], "data_offsets": [0, 1]}, "/w/shape: must be a list of whole numbers >= 0, got [true]"),
    ({"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}, "/w/shape: must be a list of whole numbers >= 0, got [-1]"),
    ({"dtype": "U8", "shape": [1.0], "data_offsets": [0, 1]}, "/w/shape: must be a list of whole numbers >= 0, got [1.0]"),
    ("U8", "/w: a tensor entry must be an object with dtype, shape and data_offsets"),
])
def test_malformed_tensor_entries_are_refused(tmp_path, entry, message):
    folder = folder_with(tmp_path)
    (folder / "model.safetensors").write_bytes(st_bytes({"w": entry}, data=b"\0"))
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1 and message in r.output, r.output


def test_header_longer_than_the_file_is_refused(tmp_path):
    folder = folder_with(tmp_path)
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", 5000) + b"{}")
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "model.safetensors: the header claims 5000 bytes but the file holds only 2 after its length" in r.output


def test_a_checkpoint_without_tensors_is_refused(tmp_path):
    folder = folder_with(tmp_path)
    (folder / "model.safetensors").write_bytes(st_bytes({}))
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1 and "model.safetensors: holds no tensors" in r.output, r.output


def test_deeply_nested_safetensors_header_is_an_error(tmp_path):
    folder = folder_with(tmp_path)
    raw = b"[" * 100_000 + b"]" * 100_000
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "model.safetensors: safetensors header is nested too deeply" in r.output


def _sharded(folder: Path):
    t1 = {"model.embed_tokens.weight": ("BF16", (100, 64))}
    t2 = {"model.norm.weight": ("BF16", (64,))}
    (folder / "model-00001-of-00002.safetensors").write_bytes(st_bytes(t1))
    (folder / "model-00002-of-00002.safetensors").write_bytes(st_bytes(t2))
    return {"weight_map": {**{k: "model-00001-of-00002.safetensors" for k in t1}, **{k: "model-00002-of-00002.safetensors" for k in t2}}}


def test_complete_sharded_checkpoint_still_imports(tmp_path):
    from vramrules.importers.model_entry import from_path

    folder = folder_with(tmp_path)
    (folder / "model.safetensors.index.json").write_text(json.dumps(_sharded(folder)))
    _, entry, _ = from_path(folder)
    assert entry["params"] == TINY_PARAMS and entry["checkpoint_bytes"] == f"{TINY_PARAMS * 2} B"
    (folder / "model.safetensors.index.json").unlink()  # the shard series alone is complete too
    assert from_path(folder)[1]["params"] == TINY_PARAMS


def test_one_shard_of_two_without_an_index_is_an_error(tmp_path):
    folder = folder_with(tmp_path)
    _sharded(folder)
    (folder / "model-00002-of-00002.safetensors").unlink()
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "shard model-00002-of-00002.safetensors is missing (the folder holds 1 of the 2 shards)" in r.output


def test_one_shard_of_two_with_an_index_is_an_error(tmp_path):
    folder = folder_with(tmp_path)
    (folder / "model.safetensors.index.json").write_text(json.dumps(_sharded(folder)))
    (folder / "model-00002-of-00002.safetensors").unlink()
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "the index names shards that are not in the folder: model-00002-of-00002.safetensors" in r.output


def test_unrelated_safetensors_files_without_an_index_are_ambiguous(tmp_path):
    folder = folder_with(tmp_path)
    (folder / "a.safetensors").write_bytes(st_bytes(TINY))
    (folder / "b.safetensors").write_bytes(st_bytes(TINY))
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "2 .safetensors files (a.safetensors, b.safetensors) and no model.safetensors.index.json" in r.output


def test_index_tensor_missing_from_its_shard_is_an_error(tmp_path):
    folder = folder_with(tmp_path)
    index = _sharded(folder)
    index["weight_map"]["lm_head.weight"] = "model-00002-of-00002.safetensors"
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "/weight_map/lm_head.weight: the index puts this tensor in model-00002-of-00002.safetensors, whose header lacks it" in r.output


SECRET = b"TOPSECRET-do-not-echo"


@pytest.mark.parametrize("shard", ["../outside.safetensors", "ABSOLUTE", "sub/../../outside.safetensors"])
def test_index_may_not_name_files_outside_the_folder(tmp_path, shard):
    folder = folder_with(tmp_path)
    (tmp_path / "outside.safetensors").write_bytes(st_bytes(TINY))
    shard = str(tmp_path / "outside.safetensors") if shard == "ABSOLUTE" else shard
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"model.norm.weight": shard}}))
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "model.safetensors.index.json:1:" in r.output
    assert f"/weight_map/model.norm.weight: {shard!r} is not a file inside the model folder" in r.output


def test_index_may_not_follow_a_symlink_out_of_the_folder(tmp_path):
    folder = folder_with(tmp_path)
    (tmp_path / "secret.txt").write_bytes(struct.pack("<Q", len(SECRET)) + SECRET)
    (folder / "model.safetensors").symlink_to(tmp_path / "secret.txt")
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": "model.safetensors"}}))
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "/weight_map/w: 'model.safetensors': it is a symbolic link to a file outside the model folder" in r.output
    assert "TOPSECRET" not in r.output
    (folder / "model.safetensors.index.json").unlink()  # without an index the shard itself is checked
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1 and "model.safetensors: it is a symbolic link to a file outside the model folder" in r.output, r.output
    assert "TOPSECRET" not in r.output


def test_a_symlink_loop_is_an_error_not_a_crash(tmp_path):
    folder = folder_with(tmp_path)
    (folder / "model.safetensors").symlink_to("model.safetensors")
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "model.safetensors: it is a symbolic link that loops" in r.output


def test_hugging_face_cache_snapshot_symlinks_are_followed(tmp_path):
    """snapshots/<rev>/model.safetensors -> ../../blobs/<hash>: the cache's own layout."""
    from vramrules.importers.model_entry import from_path

    repo = tmp_path / "models--org--tiny"
    (repo / "blobs").mkdir(parents=True)
    snap = repo / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (repo / "blobs" / "1111").write_bytes(st_bytes(TINY))
    (repo / "blobs" / "2222").write_text(json.dumps(CFG))
    (snap / "model.safetensors").symlink_to("../../blobs/1111")
    (snap / "config.json").symlink_to("../../blobs/2222")
    assert from_path(snap)[1]["params"] == TINY_PARAMS


def test_error_for_a_foreign_file_never_echoes_its_bytes(tmp_path):
    folder = folder_with(tmp_path)
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", 30) + b"\xff" + SECRET + b"\xfe" * 8)
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1 and "safetensors header is not UTF-8 JSON" in r.output, r.output
    assert "TOPSECRET" not in r.output and "0xff" not in r.output


@pytest.mark.parametrize("weight_map, message", [
    ([1, 2], "/weight_map: must be an object mapping tensor names to shard files, got a list"),
    ({"w": 3}, "/weight_map/w: must be the name of a shard file, got 3"),
    ({}, "/weight_map: names no shards"),
])
def test_malformed_weight_map_is_a_located_error(tmp_path, weight_map, message):
    folder = folder_with(tmp_path)
    (folder / "model.safetensors.index.json").write_text('{\n  "weight_map": ' + json.dumps(weight_map) + "\n}")
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "model.safetensors.index.json:2:" in r.output and message in r.output


def test_index_without_weight_map_is_an_error(tmp_path):
    folder = folder_with(tmp_path)
    (folder / "model.safetensors").write_bytes(st_bytes(TINY))
    (folder / "model.safetensors.index.json").write_text('{"metadata": {}}')
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1 and "model.safetensors.index.json: the index has no 'weight_map'" in r.output, r.output


def test_gptq_bits_that_do_not_pack_exactly_are_an_error(tmp_path):
    folder = folder_with(tmp_path, {**CFG, "quantization_config": {"quant_method": "gptq", "bits": 3}})
    (folder / "model.safetensors").write_bytes(st_bytes({"l.qweight": ("I32", (1, 64)), "model.norm.weight": ("BF16", (64,))}))
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "/l.qweight: 64 int32 values do not hold a whole number of 3-bit weights" in r.output


def test_quantization_config_that_is_not_an_object_is_located(tmp_path):
    folder = folder_with(tmp_path, {**CFG, "quantization_config": [4]})
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "config.json:1:" in r.output and "/quantization_config: must be an object, got a list" in r.output


# --- 2. only regular files, read with a limit -----------------------------------------------------

@pytest.mark.parametrize("where", ["config.json", "model.safetensors", "model.safetensors.index.json"])
def test_a_fifo_in_the_model_folder_is_refused_without_hanging(tmp_path, where):
    folder = folder_with(tmp_path)
    (folder / where).unlink(missing_ok=True)
    os.mkfifo(folder / where)
    r = cli("eval", "--model-config", folder)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{where}: it is a named pipe (FIFO), not a regular file" in r.stderr


def test_a_fifo_gguf_is_refused_without_hanging(tmp_path):
    pytest.importorskip("gguf")
    os.mkfifo(tmp_path / "model.gguf")
    r = cli("eval", "--model-config", tmp_path / "model.gguf")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "model.gguf: it is a named pipe (FIFO), not a regular file" in r.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_is_refused_without_reading_it():
    r = cli("eval", "--model-config", "/dev/zero")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "/dev/zero: it is a character device, not a regular file" in r.stderr


def test_a_directory_named_config_json_is_refused(tmp_path):
    folder = tmp_path / "m"
    (folder / "config.json").mkdir(parents=True)
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert "config.json: it is a directory, not a regular file" in r.output


def test_a_directory_named_like_a_shard_is_refused(tmp_path):
    folder = folder_with(tmp_path)
    (folder / "model.safetensors").mkdir()
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1 and "model.safetensors: it is a directory, not a regular file" in r.output, r.output


def test_an_oversized_config_json_is_refused_before_reading(tmp_path):
    folder = folder_with(tmp_path)
    with open(folder / "config.json", "r+b") as f:
        f.truncate(17 * 2**20)  # sparse: costs no disk
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert f"config.json: the file is {17 * 2**20} bytes; vramrules reads at most {16 * 2**20} for a config" in r.output


def test_into_a_fifo_is_refused_without_hanging(tmp_path):
    folder = folder_with(tmp_path)
    os.mkfifo(tmp_path / "models.yaml")
    r = cli("import", folder, "--into", tmp_path / "models.yaml")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "models.yaml: it is a named pipe (FIFO), not a regular file" in r.stderr


# --- 3. config.json and GGUF values ---------------------------------------------------------------

@pytest.mark.parametrize("key, value, message", [
    ("hidden_size", 64.9, "/hidden_size: must be a whole number, got 64.9"),
    ("num_hidden_layers", True, "/num_hidden_layers: must be a whole number, got true"),
    ("num_attention_heads", 0, "/num_attention_heads: must be at least 1, got 0"),
    ("hidden_size", "64", "/hidden_size: must be a whole number, got the string \"64\""),
    ("vocab_size", {"a": [1]}, "/vocab_size: must be a whole number, got an object"),
    ("intermediate_size", [128], "/intermediate_size: must be a whole number, got a list"),
    ("num_key_value_heads", 0, "/num_key_value_heads: must be at least 1, got 0"),
    ("num_key_value_heads", 3, "/num_key_value_heads: 3 does not divide num_attention_heads 4"),
    ("head_dim", -16, "/head_dim: must be at least 1, got -16"),
    ("max_position_embeddings", 1e400, "/max_position_embeddings: must be a whole number, got Infinity"),
    ("hidden_size", 10**12, "/hidden_size: 1000000000000 is more than vramrules accepts (10000000)"),
    ("tie_word_embeddings", "false", "/tie_word_embeddings: must be true or false, got the string \"false\""),
    ("attention_bias", 1, "/attention_bias: must be true or false, got 1"),
])
def test_config_values_of_the_wrong_kind_are_located_errors(tmp_path, key, value, message):
    text = json.dumps({**CFG, key: value}, indent=1).replace("Infinity", "1e400")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.startswith(f' "{key}"'))
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert f"config.json:{line}:2: {message} (hint: fix '{key}' in " in r.output
    assert "internal error" not in r.output and "num_layers" not in r.output


def test_gemma3_text_config_fields_are_named_under_text_config(tmp_path):
    cfg = {"model_type": "gemma3", "text_config": {**CFG, "model_type": "gemma3_text", "num_hidden_layers": 2.5}}
    folder = folder_with(tmp_path, cfg)
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1 and "/text_config/num_hidden_layers: must be a whole number, got 2.5" in r.output, r.output


@pytest.mark.parametrize("extra, message", [
    ({"model_type": "gemma3", "sliding_window": 512, "sliding_window_pattern": 0}, "/sliding_window_pattern: must be at least 1, got 0"),
    ({"model_type": "mixtral", "num_local_experts": 2, "num_experts_per_tok": 4},
     "/num_experts_per_tok: 4 is more than num_local_experts 2"),
    ({"model_type": "qwen2_moe", "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32, "mlp_only_layers": [0, 7]},
     "/mlp_only_layers: must list layer numbers from 0 to 1, got 7"),
    ({"model_type": "gemma2", "sliding_window": 16, "layer_types": ["sliding_attention"]},
     "/layer_types: lists 1 layers, but num_hidden_layers is 2"),
    ({"sliding_window": -4}, "/sliding_window: must be at least 0, got -4"),
    ({"model_type": ["llama"]}, "/model_type: must be a string, got a list"),
])
def test_family_fields_of_the_wrong_kind_are_located_errors(tmp_path, extra, message):
    folder = folder_with(tmp_path, {**CFG, **extra})
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert message in r.output and "internal error" not in r.output


@pytest.mark.parametrize("text, message", ids=["deep", "long-int", "duplicate"], argvalues=[
    ("[" * 100_000 + "]" * 100_000, "config.json: config.json is nested too deeply"),
    ('{"model_type": "llama", "hidden_size": ' + "9" * 5000 + "}", "config.json: a number in config.json has more than 4300 digits"),
    ('{"model_type": "llama", "model_type": "mamba"}', "config.json:1:25: /model_type: duplicate key"),
])
def test_pathological_json_is_an_error_not_a_crash(tmp_path, text, message):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(text)
    r = run("eval", "--model-config", folder)
    assert r.exit_code == 1, r.output
    assert message in r.output


def test_config_problems_keep_exit_1_like_the_other_config_errors(tmp_path):
    """A broken config the user points at is broken data (exit 1), as a missing field already is."""
    folder = folder_with(tmp_path, {**CFG, "hidden_size": 64.5})
    assert run("eval", "--model-config", folder).exit_code == run("eval", "--model-config", folder_with(
        tmp_path, {k: v for k, v in CFG.items() if k != "vocab_size"}, name="n")).exit_code == 1


# GGUF: a tiny writer of our own, so each field can be made wrong on purpose
U32, F32, BOOL, STR, ARR, U64 = 4, 6, 7, 8, 9, 10


def _gguf_value(kind, value):
    if kind == STR:
        b = value.encode()
        return struct.pack("<Q", len(b)) + b
    if kind == ARR:
        itype, items = value
        return struct.pack("<IQ", itype, len(items)) + b"".join(_gguf_value(itype, v) for v in items)
    return struct.pack({U32: "<I", F32: "<f", BOOL: "<?", U64: "<Q"}[kind], value)


def gguf_bytes(kv, tensors, align=32, data=None):
    """kv: [(key, type, value)]; tensors: [(name, dims, ggml_type)] laid out in order."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for key, kind, value in kv:
        out += _gguf_value(STR, key) + struct.pack("<I", kind) + _gguf_value(kind, value)
    sizes = {0: 4, 1: 2}
    offset, infos = 0, b""
    for name, dims, ggml in tensors:
        n = sizes[ggml]
        for d in dims:
            n *= d
        infos += _gguf_value(STR, name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims) + struct.pack("<IQ", ggml, offset)
        offset += -(-n // align) * align
    out += infos
    out += bytes(-len(out) % align)
    return out + (bytes(offset) if data is None else data)


GGUF_KV = [("general.architecture", STR, "llama"), ("llama.block_count", U32, 2), ("llama.embedding_length", U32, 64),
           ("llama.attention.head_count", U32, 4), ("llama.attention.head_count_kv", U32, 2), ("llama.context_length", U32, 256),
           ("llama.feed_forward_length", U32, 128)]
GGUF_TENSORS = [("token_embd.weight", (64, 100), 1), ("blk.0.attn_q.weight", (64, 64), 1), ("output_norm.weight", (64,), 0)]


def _with(kv, key, kind=None, value=None):
    return [(k, kind, value) if k == key else (k, t, v) for k, t, v in kv if kind is not None or k != key]


def test_a_well_formed_tiny_gguf_imports(tmp_path):
    pytest.importorskip("gguf")
    from vramrules.importers.model_entry import from_path

    (tmp_path / "t.gguf").write_bytes(gguf_bytes(GGUF_KV, GGUF_TENSORS))
    _, entry, _ = from_path(tmp_path / "t.gguf")
    assert entry["params"] == 64 * 100 + 64 * 64 + 64 and entry["num_layers"] == 2 and entry["vocab_size"] == 100
    assert entry["checkpoint_bytes"] == f"{(64 * 100 + 64 * 64) * 2 + 64 * 4} B"


@pytest.mark.parametrize("kv, tensors, message", [
    (_with(GGUF_KV, "llama.block_count", STR, "2"), GGUF_TENSORS, "/llama.block_count: must be a whole number, got the string \"2\""),
    (_with(GGUF_KV, "llama.block_count", F32, 2.5), GGUF_TENSORS, "/llama.block_count: must be a whole number, got 2.5"),
    (_with(GGUF_KV, "llama.block_count"), GGUF_TENSORS, "GGUF metadata lacks 'llama.block_count'"),
    (_with(GGUF_KV, "llama.attention.head_count", U32, 0), GGUF_TENSORS, "/llama.attention.head_count: must be at least 1, got 0"),
    (_with(GGUF_KV, "llama.attention.head_count_kv", U32, 3), GGUF_TENSORS,
     "/llama.attention.head_count_kv: 3 does not divide llama.attention.head_count 4"),
    (_with(GGUF_KV, "llama.attention.head_count_kv", ARR, (U32, [2, 4])), GGUF_TENSORS,
     "/llama.attention.head_count_kv: differs from layer to layer (2 to 4)"),
    (_with(GGUF_KV, "general.architecture", U32, 7), GGUF_TENSORS, "/general.architecture: must be a string, got 7"),
    (GGUF_KV, [("token_embd.weight", (6400,), 1)] + GGUF_TENSORS[1:],
     "/token_embd.weight: has 1 dimension; an embedding has 2 (hidden size, vocabulary)"),
    (GGUF_KV, [("token_embd.weight", (32, 100), 1)] + GGUF_TENSORS[1:],
     "/token_embd.weight: its rows hold 32 values, but llama.embedding_length is 64"),
])
def test_gguf_metadata_of_the_wrong_kind_is_a_located_error(tmp_path, kv, tensors, message):
    pytest.importorskip("gguf")
    (tmp_path / "t.gguf").write_bytes(gguf_bytes(kv, tensors))
    r = run("eval", "--model-config", tmp_path / "t.gguf")
    assert r.exit_code == 1, r.output
    assert "t.gguf: " in r.output and message in r.output and "internal error" not in r.output


def test_truncated_gguf_tensor_data_is_refused(tmp_path):
    pytest.importorskip("gguf")
    raw = gguf_bytes(GGUF_KV, GGUF_TENSORS)
    (tmp_path / "t.gguf").write_bytes(raw[:-100])  # output_norm.weight's 256 bytes come last
    r = run("eval", "--model-config", tmp_path / "t.gguf")
    assert r.exit_code == 1, r.output
    assert "/output_norm.weight: its data reaches past the end of the file" in r.output


def test_overlapping_gguf_tensors_are_refused(tmp_path):
    pytest.importorskip("gguf")
    raw = bytearray(gguf_bytes(GGUF_KV, GGUF_TENSORS))
    # point blk.0.attn_q.weight's data at offset 0, on top of token_embd.weight
    name = _gguf_value(STR, "blk.0.attn_q.weight")
    at = raw.index(name) + len(name) + 4 + 16 + 4
    raw[at:at + 8] = struct.pack("<Q", 0)
    (tmp_path / "t.gguf").write_bytes(bytes(raw))
    r = run("eval", "--model-config", tmp_path / "t.gguf")
    assert r.exit_code == 1, r.output
    assert "/blk.0.attn_q.weight: its data overlaps tensor 'token_embd.weight'" in r.output


def test_gguf_array_bomb_neither_hangs_nor_exhausts_memory(tmp_path):
    """37 bytes claiming a metadata array of 2**40 bytes: the gguf package's reader loops on it."""
    pytest.importorskip("gguf")
    raw = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _gguf_value(STR, "a") + struct.pack("<IIQ", ARR, 0, 2**40)
    (tmp_path / "bomb.gguf").write_bytes(raw)
    r = cli("eval", "--model-config", tmp_path / "bomb.gguf", timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "bomb.gguf: /a: an array of 1099511627776 values runs past the end of the file" in r.stderr


# --- 4. import --into --force over a flow-style entry ---------------------------------------------

def test_force_replacing_a_flow_style_entry_keeps_the_entry_before_it(tmp_path):
    from vramrules.importers.model_entry import from_path
    from vramrules.importers.yaml_append import entry_yaml

    folder = folder_with(tmp_path, name="tiny")
    _, entry, _ = from_path(folder)
    other = entry_yaml("other", {**entry, "note": "keep me"})
    flow = json.dumps({**entry, "name": "old tiny"})
    target = tmp_path / "models.yaml"
    before = f"# our models\nmodels:\n{other}  tiny: {flow}\n  last: {json.dumps(entry)}\n"
    target.write_text(before)
    r = run("import", folder, "--into", target, "--force")
    assert r.exit_code == 0, r.output
    old, new = yaml.safe_load(before)["models"], yaml.safe_load(target.read_text())["models"]
    assert new["other"] == old["other"] and new["other"]["note"] == "keep me"
    assert new["last"] == old["last"]
    assert new["tiny"]["name"] == entry["name"] and list(new) == ["other", "last", "tiny"]
    assert target.read_text().startswith(f"# our models\nmodels:\n{other}")


def test_force_replacing_a_multi_line_flow_entry(tmp_path):
    from vramrules.importers.model_entry import from_path
    from vramrules.importers.yaml_append import entry_yaml

    folder = folder_with(tmp_path, name="tiny")
    _, entry, _ = from_path(folder)
    flow = json.dumps({**entry, "name": "old"}).replace(", ", ",\n      ")
    target = tmp_path / "models.yaml"
    target.write_text(f"models:\n{entry_yaml('other', {**entry, 'note': 'keep me'})}  tiny: {flow}\n")
    r = run("import", folder, "--into", target, "--force")
    assert r.exit_code == 0, r.output
    new = yaml.safe_load(target.read_text())["models"]
    assert new["other"]["note"] == "keep me" and new["tiny"]["name"] == entry["name"]


def test_into_a_file_with_four_space_entries(tmp_path):
    from vramrules.importers.model_entry import from_path
    from vramrules.importers.yaml_append import entry_yaml

    folder = folder_with(tmp_path, name="tiny")
    _, entry, _ = from_path(folder)
    other = "".join("  " + line for line in entry_yaml("other", entry).splitlines(keepends=True))
    target = tmp_path / "models.yaml"
    target.write_text("models:\n" + other)
    r = run("import", folder, "--into", target)
    assert r.exit_code == 0, r.output
    assert set(yaml.safe_load(target.read_text())["models"]) == {"other", "tiny"}


def test_into_an_empty_flow_mapping(tmp_path):
    folder = folder_with(tmp_path, name="tiny")
    target = tmp_path / "models.yaml"
    target.write_text("# mine\nmodels: {}  # none yet\n")
    r = run("import", folder, "--into", target)
    assert r.exit_code == 0, r.output
    assert list(yaml.safe_load(target.read_text())["models"]) == ["tiny"]
    assert target.read_text().startswith("# mine\nmodels:")


def test_into_a_symlinked_file_still_works(tmp_path):
    folder = folder_with(tmp_path, name="tiny")
    (tmp_path / "real.yaml").write_text("# mine\nmodels:\n")
    (tmp_path / "models.yaml").symlink_to("real.yaml")
    r = run("import", folder, "--into", tmp_path / "models.yaml")
    assert r.exit_code == 0, r.output
    assert list(yaml.safe_load((tmp_path / "models.yaml").read_text())["models"]) == ["tiny"]


def test_into_a_non_empty_flow_section_is_a_clear_usage_error(tmp_path):
    folder = folder_with(tmp_path, name="tiny")
    target = tmp_path / "models.yaml"
    target.write_text("models: {a: {name: x}}\n")
    r = run("import", folder, "--into", target)
    assert r.exit_code == 2, r.output
    assert "`models:` is written in flow style ({...})" in r.output
    assert target.read_text() == "models: {a: {name: x}}\n"


# --- 5. concurrent import --into on one file ------------------------------------------------------

def _append_at_once(path, ident, entry, barrier, results):
    from vramrules.importers.yaml_append import append_model

    barrier.wait(timeout=60)
    try:
        append_model(path, ident, entry)
        results.put((ident, "added"))
    except VramrulesError as exc:
        results.put((ident, f"error: {exc}"))
    except Exception as exc:  # noqa: BLE001 - reported as the failure it is
        results.put((ident, f"crash: {exc!r}"))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_concurrent_imports_into_one_file_lose_nothing(tmp_path):
    from vramrules.importers.model_entry import from_path

    _, entry, _ = from_path(folder_with(tmp_path, name="tiny"))
    ctx = multiprocessing.get_context("fork")
    target = tmp_path / "models.yaml"
    n = 8
    for trial in range(4):
        target.write_text("# shared\nmodels:\n")
        barrier, results = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=_append_at_once, args=(str(target), f"m{trial}-{i}", entry, barrier, results)) for i in range(n)]
        for p in procs:
            p.start()
        got = dict(results.get(timeout=120) for _ in procs)
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        final = yaml.safe_load(target.read_text())["models"] or {}
        assert not [v for v in got.values() if v.startswith("crash")], got
        for ident, outcome in got.items():
            assert (outcome == "added") == (ident in final), (ident, outcome, sorted(final))
            assert outcome == "added" or "changed while" in outcome or "is being written by another" in outcome, outcome
        assert target.read_text().startswith("# shared\nmodels:\n")


def test_a_file_changed_between_read_and_write_is_not_clobbered(tmp_path, monkeypatch):
    """Another program (an editor, not vramrules: it takes no lock) writes the file meanwhile."""
    from vramrules.importers.model_entry import from_path
    from vramrules.reading import schema

    folder = folder_with(tmp_path, name="tiny")
    from_path(folder)
    target = tmp_path / "models.yaml"
    target.write_text("models:\n")
    real = schema.validate

    def validate_while_edited(*a, **kw):
        target.write_text("models:\n  # edited meanwhile\n")
        return real(*a, **kw)

    monkeypatch.setattr(schema, "validate", validate_while_edited)
    r = run("import", folder, "--into", target)
    assert r.exit_code == 1, r.output
    assert "models.yaml changed while vramrules was adding to it; nothing was written" in r.output
    assert target.read_text() == "models:\n  # edited meanwhile\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_held_lock_times_out_with_a_clear_error(tmp_path, monkeypatch):
    fcntl = pytest.importorskip("fcntl")
    from vramrules import writefile
    from vramrules.importers.model_entry import from_path

    _, entry, _ = from_path(folder_with(tmp_path, name="tiny"))
    target = tmp_path / "models.yaml"
    target.write_text("models:\n")
    monkeypatch.setattr(writefile, "LOCK_TIMEOUT", 0.3)
    lock = tmp_path / ".models.yaml.lock"
    ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    if ctx is None:
        pytest.skip("needs fork")
    ready, release = ctx.Event(), ctx.Event()

    def hold():
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        ready.set()
        release.wait(30)

    p = ctx.Process(target=hold)
    p.start()
    try:
        assert ready.wait(30)
        from vramrules.importers.yaml_append import append_model

        with pytest.raises(VramrulesError) as e:
            append_model(target, "tiny", entry)
        assert "models.yaml is being written by another vramrules (it holds" in str(e.value)
        assert e.value.exit_code == 1
    finally:
        release.set()
        p.join(30)
    assert target.read_text() == "models:\n"
    append_model(target, "tiny", entry)  # once released, the write goes through
    assert "tiny" in yaml.safe_load(target.read_text())["models"]


def test_data_error_is_what_import_raises_for_a_bad_header(tmp_path):
    """The API raises the same located DataError the CLI prints."""
    from vramrules.importers.model_entry import from_path

    folder = folder_with(tmp_path)
    (folder / "model.safetensors").write_bytes(st_bytes({"w": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 99]}}, data=bytes(8)))
    with pytest.raises(DataError) as e:
        from_path(folder)
    assert e.value.problems[0].pointer == "/w/data_offsets"


def test_copy_of_hf_case_still_imports(tmp_path):
    from vramrules.importers.model_entry import from_path

    folder = tmp_path / "x"
    folder.mkdir()
    shutil.copy(HF / "deepseek-v3.json", folder / "config.json")
    assert from_path(folder)[1]["params"] > 6e11
