"""Importers of local files: config.json (per family), safetensors headers, GGUF, nvidia-smi /
rocm-smi for --gpu auto, `vramrules import`, shell completion. Every file is made here."""
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import tiny_gguf
from click.testing import CliRunner

import vramrules
from vramrules.cli import main
from vramrules.importers.model_entry import catalog_with, from_path

HF = Path(__file__).resolve().parent / "cases" / "hf"


def run(*args, **kw):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, **kw)


CATALOG_IDS = set(vramrules.load_catalog().kind("model"))
# configs in tests/cases/hf/ (SOURCES.yaml says where each is from) that the importer does not
# read yet, with the part of issue 14 they wait for; every other config must import
NOT_YET_IMPORTED = {
}


@pytest.mark.parametrize("model", sorted(p.stem for p in HF.glob("*.json") if p.stem in CATALOG_IDS))
def test_config_json_imports_to_the_catalog_architecture(model, tmp_path):
    folder = tmp_path / model
    folder.mkdir()
    shutil.copy(HF / f"{model}.json", folder / "config.json")
    cat, ident = catalog_with(folder)
    got = vramrules.evaluate(ident, catalog=cat)
    ref = vramrules.evaluate(model)
    # the catalog's counts match the published ones (validate); the import must match the catalog
    assert got.values["params_total"] == pytest.approx(ref.values["params_total"], rel=0.005)
    assert got.values["kv_bytes_per_token"] == ref.values["kv_bytes_per_token"]
    assert got.component("weights").memory.bytes == pytest.approx(ref.component("weights").memory.bytes, rel=0.005)


def test_missing_field_is_named(tmp_path):
    cfg = json.loads((HF / "llama3.1-8b.json").read_text())
    del cfg["num_hidden_layers"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    r = run("eval", "--model-config", str(tmp_path))
    assert r.exit_code == 1
    assert "llama config lacks 'num_hidden_layers'" in r.output


def test_unsupported_family_is_a_clear_error(tmp_path):
    """A well-formed config of a family vramrules does not import is a usage error (exit 2), at
    the field that names the family; the same under --format json and for `import`."""
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mamba", "hidden_size": 1}))
    r = run("eval", "--model-config", str(tmp_path / "config.json"))
    assert r.exit_code == 2, r.output
    assert "config.json:1:2: /model_type: model_type 'mamba' is not one vramrules can import (hint: supported: llama" in r.output
    # the hint names every family, the new ones too, and the way out: an entry written by hand
    for family in ("glm4_moe", "smollm3", "olmo2", "deepseek_v32", "kimi_k2", "mistral3", "qwen3_vl", "qwen3_vl_moe"):
        assert family in r.output
    assert "or write the models.yaml entry by hand" in r.output
    r = run("eval", "--model-config", str(tmp_path), "--format", "json")
    assert r.exit_code == 2
    [err] = json.loads(r.output)
    assert err["code"] == "usage_error" and err["pointer"] == "/model_type" and err["line"] == 1
    assert run("import", str(tmp_path)).exit_code == 2


def test_unsupported_gguf_architecture_is_a_usage_error(tmp_path):
    gguf = pytest.importorskip("gguf")
    import numpy as np

    path = tmp_path / "tiny-mamba.gguf"
    w = gguf.GGUFWriter(str(path), "mamba")
    w.add_block_count(2)
    w.add_embedding_length(64)
    w.add_tensor("token_embd.weight", np.zeros((100, 64), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    r = run("eval", "--model-config", str(path))
    assert r.exit_code == 2, r.output
    assert "tiny-mamba.gguf: /general.architecture: GGUF architecture 'mamba' is not one vramrules can import" in r.output
    r = run("import", str(path), "--into", str(tmp_path / "models.yaml"))
    assert r.exit_code == 2 and not (tmp_path / "models.yaml").exists()
    r = run("eval", "--model-config", str(path), "--format", "json")
    assert r.exit_code == 2 and json.loads(r.output)[0]["code"] == "usage_error"


def test_invalid_json_is_located(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama",\n  "hidden_size": }')
    r = run("eval", "--model-config", str(tmp_path))
    assert r.exit_code == 1 and "config.json:2:18: invalid JSON" in r.output


def _safetensors(path: Path, tensors: dict):
    """Write a safetensors file: header + zero bytes (dtype sizes per the format spec)."""
    sizes = {"BF16": 2, "F16": 2, "F32": 4, "I32": 4, "F8_E4M3": 1}
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))


def test_safetensors_headers_give_exact_params_and_bytes(tmp_path):
    cfg = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
           "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 256, "tie_word_embeddings": False}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    t1 = {"model.embed_tokens.weight": ("BF16", (100, 64)), "lm_head.weight": ("BF16", (100, 64))}
    t2 = {f"model.layers.{i}.{n}": ("BF16", s) for i in range(2) for n, s in
          [("self_attn.q_proj.weight", (64, 64)), ("self_attn.k_proj.weight", (32, 64)), ("self_attn.v_proj.weight", (32, 64)),
           ("self_attn.o_proj.weight", (64, 64)), ("mlp.gate_proj.weight", (128, 64)), ("mlp.up_proj.weight", (128, 64)),
           ("mlp.down_proj.weight", (64, 128)), ("input_layernorm.weight", (64,)), ("post_attention_layernorm.weight", (64,))]}
    t2["model.norm.weight"] = ("BF16", (64,))
    _safetensors(tmp_path / "model-00001-of-00002.safetensors", t1)
    _safetensors(tmp_path / "model-00002-of-00002.safetensors", t2)
    index = {"weight_map": {**{k: "model-00001-of-00002.safetensors" for k in t1}, **{k: "model-00002-of-00002.safetensors" for k in t2}}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    cat, ident = catalog_with(tmp_path)
    r = vramrules.evaluate(ident, catalog=cat)
    expected = 2 * 100 * 64 + 2 * (64 * 64 * 2 + 32 * 64 * 2 + 3 * 128 * 64 + 2 * 64) + 64
    assert cat.kind("model")[ident].facts["params"] == expected
    assert r.values["params_total"] == expected  # the architecture agrees with the checkpoint
    assert r.component("weights").memory.bytes == expected * 2  # bf16 as stored
    assert "safetensors headers" in cat.kind("model")[ident].raw["params_source"]


def test_packed_gptq_tensors_count_unpacked_weights(tmp_path):
    from vramrules.importers.safetensors import summarize

    _safetensors(tmp_path / "model.safetensors", {"l.qweight": ("I32", (8, 64)), "l.scales": ("F16", (1, 64)),
                                                  "l.qzeros": ("I32", (1, 8)), "l.g_idx": ("I32", (64,))})
    s = summarize(tmp_path, packed_bits=4)
    assert s["params"] == 8 * 64 * 8  # 64 x 64 weights packed 8 per int32
    assert s["bytes"] == 8 * 64 * 4 + 64 * 2 + 8 * 4 + 64 * 4


def test_truncated_safetensors_is_an_error(tmp_path):
    (tmp_path / "config.json").write_text((HF / "llama3.1-8b.json").read_text())
    (tmp_path / "model.safetensors").write_bytes(b"\x01\x02")
    r = run("eval", "--model-config", str(tmp_path))
    assert r.exit_code == 1 and "not a safetensors file" in r.output


def test_gguf_file_gives_architecture_and_exact_bytes(tmp_path):
    pytest.importorskip("gguf")

    path = tiny_gguf.write(tmp_path / "tiny-q8.gguf")
    cat, ident = catalog_with(path)
    m = cat.kind("model")[ident]
    assert ident == "tiny-q8" and m.facts["num_layers"] == 2 and m.facts["num_kv_heads"] == 2 and m.facts["vocab_size"] == 100
    assert m.facts["tie_word_embeddings"] is True  # no output.weight tensor
    linear = 2 * (64 * 64 * 2 + 32 * 64 * 2 + 3 * 128 * 64)
    stored = 100 * 64 * 2 + linear // 32 * 34 + (2 * 2 + 1) * 64 * 4  # f16 embedding, Q8_0 blocks, f32 norms
    r = vramrules.evaluate(ident, catalog=cat)
    assert r.component("weights").memory.bytes == stored
    assert m.raw["checkpoint_dtypes"]["Q8_0"] == f"{linear // 32 * 34} B"


def test_corrupt_gguf_is_an_error(tmp_path):
    pytest.importorskip("gguf")
    p = tmp_path / "bad.gguf"
    p.write_bytes(b"GGUF" + b"\x00" * 10)
    r = run("eval", "--model-config", str(p))
    assert r.exit_code == 1 and "not a readable GGUF file" in r.output


def _fake_tool(folder: Path, name: str, output: str):
    script = folder / name
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({output!r})\n")
    script.chmod(0o755)


@pytest.fixture
def no_nvml(monkeypatch):
    """NVML absent (a None module makes `import pynvml` fail), so --gpu auto asks the tools on PATH."""
    monkeypatch.setitem(sys.modules, "pynvml", None)


@pytest.mark.usefixtures("no_nvml")
def test_gpu_auto_reads_nvidia_smi(tmp_path):
    _fake_tool(tmp_path, "nvidia-smi", "NVIDIA GeForce RTX 4090, 24564, 512\nNVIDIA GeForce RTX 4090, 24564, 300\n")
    env = {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    r = run("eval", "--model", "llama3.1-8b", "--gpu", "auto", env=env)
    assert r.exit_code == 0, r.output
    # the catalog's RTX 4090 (data/gpus.yaml: 'NVIDIA GeForce RTX 4090 24GB', 24564 MiB reported), less
    # the most memory in use on either (512 MiB) as the default --reserve: 24,052 MiB = 23.49 GiB
    assert "GPU: 2 x rtx-4090 (NVIDIA GeForce RTX 4090 24GB, 24 GiB)" in r.output
    assert "usable per GPU   23.49 GiB" in r.output


@pytest.mark.usefixtures("no_nvml")
def test_gpu_auto_reads_rocm_smi(tmp_path):
    doc = {"card0": {"Card series": "AMD Instinct MI300X", "VRAM Total Memory (B)": "205822885888", "VRAM Total Used Memory (B)": "1000"}}
    _fake_tool(tmp_path, "rocm-smi", json.dumps(doc))
    r = run("eval", "--model", "llama3-70b", "--gpu", "auto", "--check", env={"PATH": f"{tmp_path}{os.pathsep}/usr/bin:/bin"})
    assert r.exit_code == 0, r.output
    assert "AMD Instinct MI300X" in r.output and "FITS" in r.output


@pytest.mark.usefixtures("no_nvml")
def test_gpu_auto_without_a_tool_says_so(tmp_path):
    r = run("eval", "--model", "llama3.1-8b", "--gpu", "auto", env={"PATH": str(tmp_path)})
    assert r.exit_code == 2
    assert "neither nvidia-smi nor rocm-smi is on PATH" in r.output
    assert "NVML is not installed (pip install 'vramrules[nvml]'" in r.output


def test_import_prints_and_appends_keeping_comments(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    shutil.copy(HF / "qwen2.5-7b.json", folder / "config.json")
    r = run("import", str(folder))
    assert r.exit_code == 0 and "  my-model:\n" in r.output and "attention_bias: true" in r.output
    target = tmp_path / "models.yaml"
    target.write_text("# our models\nmodels:\n  # a comment we keep\n  other:\n    name: x\n", encoding="utf-8")
    # the existing 'other' entry is incomplete: the schema check refuses to write an invalid file
    r = run("import", str(folder), "--into", str(target))
    assert r.exit_code == 1 and "missing required field" in r.output
    assert target.read_text(encoding="utf-8").startswith("# our models")  # untouched
    target.write_text("# our models\nmodels:\n", encoding="utf-8")
    assert run("import", str(folder), "--into", str(target)).exit_code == 0
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# our models\nmodels:\n  my-model:\n")
    r = run("import", str(folder), "--into", str(target))
    assert r.exit_code == 2 and "already has a model 'my-model'" in r.output
    assert run("import", str(folder), "--into", str(target), "--force").exit_code == 0
    assert target.read_text(encoding="utf-8").count("my-model:") == 1
    # the file is a valid overlay
    r = run("eval", "--model", "my-model", "--data", str(tmp_path))
    assert r.exit_code == 0, r.output


def test_shell_completion_names_catalog_entries():
    env = {**os.environ, "COMP_WORDS": "vramrules eval --model llama3.1", "COMP_CWORD": "3", "_VRAMRULES_COMPLETE": "bash_complete"}
    exe = shutil.which("vramrules") or os.path.join(os.path.dirname(sys.executable), "vramrules")  # the environment's script, off PATH too
    out = subprocess.run([exe], env=env, capture_output=True, text=True).stdout
    assert out.split() == ["plain,llama3.1-405b", "plain,llama3.1-70b", "plain,llama3.1-8b"]


def test_every_missing_field_is_named_in_one_error(tmp_path):
    """Issue 14: a config missing several fields names all of them at once, not one per run."""
    cfg = json.loads((HF / "llama3.1-8b.json").read_text())
    for key in ("num_hidden_layers", "vocab_size", "hidden_size", "max_position_embeddings"):
        del cfg[key]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    r = run("eval", "--model-config", str(tmp_path))
    assert r.exit_code == 1
    assert "llama config lacks 'hidden_size', 'num_hidden_layers', 'vocab_size', 'max_position_embeddings'" in r.output
    assert r.output.count("lacks") == 1


QUANT_CONFIGS = {  # quantization_config blocks as AutoAWQ, AutoGPTQ, bitsandbytes, DeepSeek and llm-compressor write them
    "awq": ({"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True, "version": "gemm"}, "awq-int4-g128"),
    "gptq": ({"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": True, "sym": True}, "gptq-int4-g128"),
    "bnb-nf4-dq": ({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                    "bnb_4bit_use_double_quant": True}, "nf4-dq"),
    "bnb-nf4": ({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}, "nf4"),
    "bnb-int8": ({"quant_method": "bitsandbytes", "load_in_8bit": True}, "int8"),
    "fp8-block": ({"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]}, "fp8-block128"),
    "compressed-fp8": ({"quant_method": "compressed-tensors",
                        "config_groups": {"group_0": {"weights": {"type": "float", "num_bits": 8, "strategy": "channel"}}}}, "fp8"),
}


@pytest.mark.parametrize("case", sorted(QUANT_CONFIGS))
def test_quantization_config_sets_the_precision(tmp_path, case):
    """Issue 14: an AWQ or GPTQ config.json was estimated as bf16 (14.96 GiB of weights for
    Llama-3.1-8B instead of 5.33). The quantization_config decides the precision, and the header
    says which."""
    block, precision = QUANT_CONFIGS[case]
    cfg = json.loads((HF / "llama3.1-8b.json").read_text())
    cfg["quantization_config"] = block
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    r = vramrules.evaluate(mode="inference", model_config=str(tmp_path))
    assert r.scenario.selections["precision"].id == precision
    r2 = run("eval", "--model-config", str(tmp_path))
    assert f"precision {precision} " in r2.output
    if case == "awq":  # 8,030,261,248 parameters; linear layers at 4.15625 bit, embeddings, head and norms at 16
        assert round(r.component("weights").memory.gib, 2) == 5.33


def test_an_unknown_quantization_is_refused_unless_the_precision_is_given(tmp_path):
    cfg = json.loads((HF / "llama3.1-8b.json").read_text())
    cfg["quantization_config"] = {"quant_method": "gptq", "bits": 4, "group_size": 32}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    r = run("eval", "--model-config", str(tmp_path))
    assert r.exit_code == 2
    assert "/quantization_config/quant_method: the checkpoint is quantized (bits=4, group_size=32, quant_method=\"gptq\")" in r.output
    r = run("eval", "--model-config", str(tmp_path), "--precision", "gptq-int4-g128")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("config", sorted(p.stem for p in HF.glob("*.json")))
def test_every_collected_config_imports(config, tmp_path):
    """Every real config.json collected for the harness imports, or waits in NOT_YET_IMPORTED with
    its reason (a config nobody accounted for fails here)."""
    folder = tmp_path / config
    folder.mkdir()
    shutil.copy(HF / f"{config}.json", folder / "config.json")
    r = run("eval", "--model-config", str(folder))
    if config in NOT_YET_IMPORTED:
        assert r.exit_code == 2 and "is not one vramrules can import" in r.output, f"{config} imports now: remove it from NOT_YET_IMPORTED"
    else:
        assert r.exit_code == 0, r.output


DEFAULTS = Path(__file__).resolve().parent / "cases" / "hf-defaults"


def _defaults_eval(stem, tmp_path, change=None, **kw):
    cfg = json.loads((DEFAULTS / f"{stem}.json").read_text(encoding="utf-8"))
    cfg.update(change or {})
    folder = tmp_path / stem
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    return vramrules.evaluate(model_config=str(folder), batch=1, seq_len=16, **kw)


@pytest.mark.parametrize("stem,peft_params", [
    # PEFT 0.21.2 get_peft_model(LoraConfig(r=16, target_modules="all-linear")) on the model transformers 5.24
    # builds from tests/cases/hf-defaults/STEM.json (meta device), trainable parameters
    ("phi3", 25_165_824),   # fused qkv_proj and gate_up_proj: one adapter each
    ("gpt2", 2_359_296),    # Conv1D c_attn (fused q, k, v), c_proj, c_fc, mlp.c_proj
    ("falcon", 32_636_928),  # fused query_key_value (multi-query: hidden + 2 head_dim wide)
])
def test_lora_on_fused_modules_equals_peft(stem, peft_params, tmp_path):
    r = _defaults_eval(stem, tmp_path, mode="train-lora", lora_rank=16)
    assert r.values["lora_params"] == peft_params


def test_catalog_phi3_adapts_its_fused_modules_as_peft_does():
    """The catalog's phi3-mini-4k is the architecture of transformers' default Phi3Config: its LoRA
    count is PEFT's 25,165,824 (one adapter on qkv_proj, one on gate_up_proj), not the 29,884,416
    of separate q, k, v, gate and up modules."""
    r = vramrules.evaluate("phi3-mini-4k", "train-lora", lora_rank=16)
    assert r.values["lora_params"] == 25_165_824


def test_falcon_new_decoder_architecture(tmp_path):
    """falcon-40b's layout (new_decoder_architecture, 8 K/V groups, two LayerNorms per layer): 41,303,293,952
    parameters, as transformers 5.24 FalconForCausalLM builds FalconConfig(new_decoder_architecture=True,
    num_kv_heads=8, num_attention_heads=128, hidden_size=8192, num_hidden_layers=60) on the meta device. The KV
    cache is num_kv_heads wide (vLLM's layout); transformers' own cache broadcasts K and V to all 128 heads
    (FalconAttention._split_heads)."""
    r = _defaults_eval("falcon", tmp_path, {"new_decoder_architecture": True, "num_kv_heads": 8, "num_attention_heads": 128,
                                            "hidden_size": 8192, "num_hidden_layers": 60, "ffn_hidden_size": None}, mode="inference")
    assert r.values["params_total"] == 41_303_293_952
    assert r.values["kv_bytes_per_token"] == 60 * 2 * 8 * 64 * 2


def test_vision_tower_stays_16_bit_under_weight_quantization(tmp_path):
    """A 4-bit language model keeps its vision tower at the unquantized width (as the embeddings: data/rules/default.yaml weights_all); the tower of
    transformers' default Gemma3Config is 94,654,464 parameters (tests/cases/measured/transformers-defaults.json)."""
    r16 = _defaults_eval("gemma3", tmp_path / "a", mode="inference", precision="bf16")
    r4 = _defaults_eval("gemma3", tmp_path / "b", mode="inference", precision="nf4")
    assert r16.values["vision_params"] == r4.values["vision_params"] == 94_654_464
    # weights_all puts gpu_embedding_params (embeddings, head, the tower) at precision.unquantized_bits
    assert r4.values["gpu_embedding_params"] - r4.values["embedding_params"] - r4.values["lm_head_params"] == 94_654_464
    assert r4.values["layer_linear_params"] == r16.values["layer_linear_params"]  # the tower is not among the quantized matrices


MEASURED = json.loads((HF.parent / "measured" / "transformers.json").read_text(encoding="utf-8"))["entries"]


def _import(tmp_path, cfg: dict):
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return vramrules.evaluate(mode="inference", model_config=str(tmp_path), batch=1, seq_len=16)


def test_olmo2_norms_span_the_whole_projection(tmp_path):
    """OLMo 2's q_norm spans num_heads x head_dim and k_norm num_kv_heads x head_dim (Olmo2Attention): the import
    counts what transformers builds (7,298,617,344 for OLMo-2-1124-7B), not 32 x 2 x 128 per-head weights
    (253,952 fewer, the count before qk_norm_width)."""
    cfg = json.loads((HF / "olmo2-7b.json").read_text())
    r = _import(tmp_path, cfg)
    assert r.values["params_total"] == MEASURED["olmo2-7b.json"]["params"]["total"] == 7_298_617_344
    _, entry, _ = from_path(tmp_path)
    assert entry["qk_norm"] is True and entry["qk_norm_width"] == "projection"


def test_deepseek_q_lora_rank_null_and_absent(tmp_path):
    """DeepSeek-V2-Lite's q_lora_rank null is a full q_proj: 15,706,484,224 parameters, what transformers builds.
    Absent, it is DeepseekV2Config's default 1536 (q_a_proj, its norm, q_b_proj): 27 x 1,574,400 more, the
    15,748,993,024 a config without the key gives in transformers."""
    cfg = json.loads((HF / "deepseek-v2-lite.json").read_text())
    assert _import(tmp_path, cfg).values["params_total"] == MEASURED["deepseek-v2-lite.json"]["params"]["total"] == 15_706_484_224
    del cfg["q_lora_rank"]
    per_layer = 2048 * 1536 + 1536 + 1536 * 16 * 192 - 2048 * 16 * 192
    assert per_layer == 1_574_400
    assert _import(tmp_path, cfg).values["params_total"] == 15_706_484_224 + 27 * per_layer == 15_748_993_024


def test_glm4_moe_dense_first_layers_and_shared_expert(tmp_path):
    """GLM-4.5-Air: layer 0 a dense MLP of 10944, layers 1-45 128 experts of 1408 and one shared expert of 1408
    (n_shared_experts x moe_intermediate_size); q/k/v with bias, o without; partial rotary has no weights."""
    cfg = json.loads((HF / "glm-4.5-air.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    _, e, _ = from_path(tmp_path)
    assert (e["moe"]["dense_layers"], e["moe"]["shared_experts"], e["moe"]["shared_expert_intermediate_size"]) == (1, 1, 1408)
    assert e["intermediate_size"] == 10944 and e["attention_bias"] and not e["attention_out_bias"] and not e["qk_norm"]
    cfg["n_shared_experts"] = 2  # a width multiplier: one shared MLP twice as wide
    r = _import(tmp_path, cfg)
    assert r.values["params_total"] - MEASURED["glm-4.5-air.json"]["params"]["total"] == 45 * 3 * 4096 * 1408


def test_deepseek_v32_requires_the_q_latent(tmp_path):
    """DeepSeek-V3.2's indexer projects the q latent (wq_b): a config without one is refused at q_lora_rank."""
    cfg = json.loads((HF / "deepseek-v3.2-exp.json").read_text())
    cfg["q_lora_rank"] = None
    (tmp_path / "config.json").write_text(json.dumps(cfg, indent=1))
    r = run("eval", "--model-config", str(tmp_path))
    assert r.exit_code == 1 and "/q_lora_rank" in r.output and "indexer" in r.output, r.output
