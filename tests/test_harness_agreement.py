"""The rules against what transformers allocates: for every config the harness measured
(tests/cases/measured/transformers.json, made by harness/transformers_alloc.py; its entries name
the library versions), the imported model's parameter count, KV bytes per token and recurrent
state per sequence equal the measured ones. transformers' conventions are set as assumptions,
as a user modelling it would: it keeps a recurrent layer's whole convolution window and Jamba's
SSM state in float32. No torch needed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import vramrules

CASES = Path(__file__).parent / "cases"
# the published configs (tests/cases/hf), transformers' own default configs of the hybrid
# families (tests/cases/hf-defaults: the published files were not found) and the fields of
# checkpoints whose files were not found, from their publishers' code (tests/cases/hf-sourced)
MEASURED = {f"{kind}/{name}": entry
            for kind, file in (("hf", "transformers.json"), ("hf-defaults", "transformers-defaults.json"),
                               ("hf-sourced", "transformers-sourced.json"))
            for name, entry in json.loads((CASES / "measured" / file).read_text(encoding="utf-8"))["entries"].items()}
# measured, but with a layer kind vramrules does not import yet
NOT_YET: dict[str, str] = {}
# fields a default config leaves null that the import needs, set as the harness set them for its run
# (reduced_model.changes): DeepseekV2Config() has num_experts_per_tok None; it enters no parameter
# count and no cache, only the active parameters
FILL = {"hf-defaults/deepseek_v2.json": {"num_experts_per_tok": 1}}
TRANSFORMERS = ("assume.conv_state_trim=0", "assume.recurrent_state_bits=4 B")
# where a count of ours is the checkpoint's and transformers' differs, with why
PARAMS_DIFFER = {
    # DeepseekV3TopkRouter registers e_score_correction_bias as a buffer, not a parameter; the
    # checkpoint stores it: 58 MoE layers x 256 experts
    "hf/deepseek-v3.json": 58 * 256,
    "hf/deepseek-v3.2-exp.json": 58 * 256,
    # Kimi K2: built as DeepseekV3ForCausalLM (its config's architectures), 60 MoE layers x 384 experts
    "hf/kimi-k2.json": 60 * 384,
    # NemotronHTopkRouter's e_score_correction_bias, the same buffer (persistent: save_pretrained writes it): NemotronHConfig()'s
    # one MoE block ('E', the second of its four) x 8 experts
    "hf-defaults/nemotron_h.json": 1 * 8,
}


def _evaluate(name, tmp_path):
    if name in NOT_YET:
        pytest.skip(NOT_YET[name])
    entry = MEASURED[name]
    folder = tmp_path / Path(name).stem
    folder.mkdir()
    config = json.loads((CASES.parent.parent / entry["config"]).read_text(encoding="utf-8"))
    for key, value in FILL.get(name, {}).items():
        assert config[key] is None and entry["cache"]["reduced_model"]["changes"][key] == [None, value]
        config[key] = value
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return entry, vramrules.evaluate(mode="inference", model_config=str(folder), sets=TRANSFORMERS, batch=1, seq_len=16)


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_parameters_equal_what_transformers_builds(name, tmp_path):
    entry, r = _evaluate(name, tmp_path)
    assert r.values["params_total"] - entry["params"]["total"] == PARAMS_DIFFER.get(name, 0), entry["source"]


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_kv_bytes_per_token_equal_transformers_cache(name, tmp_path):
    entry, r = _evaluate(name, tmp_path)
    # transformers' cache holds DeepSeek-V3.2's indexer keys beside the MLA latent; here they are their own component
    # (the run is one sequence of 16 tokens)
    indexer = next((c.memory.bytes / 16 for c in r.components if c.name == "indexer_cache"), 0)
    assert r.values["kv_bytes_per_token"] + indexer == entry["cache"]["kv_bytes_per_token"], entry["source"]


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_recurrent_state_equals_transformers_cache(name, tmp_path):
    entry, r = _evaluate(name, tmp_path)
    assert r.values["recurrent_state"] == entry["cache"]["state_bytes_per_sequence"], entry["source"]


def test_every_measured_config_is_compared():
    """The comparison covers the harness's every entry (those it cannot import yet say why)."""
    assert len(MEASURED) >= 16
    assert set(NOT_YET) <= set(MEASURED)
    kinds = {k for e in MEASURED.values() for k in e["cache"]["kinds"]}
    assert {"full_attention", "sliding_attention", "linear_attention", "hybrid"} <= kinds


def test_every_new_family_is_compared():
    """Issue 14's families, each held to transformers' own default config (tests/cases/hf-defaults/README.md)."""
    for stem in ("deepseek_v2", "gpt2", "falcon", "phi3", "llama4_text", "gemma3", "qwen2_5_vl", "qwen3_5"):
        assert f"hf-defaults/{stem}.json" in MEASURED and f"hf-defaults/{stem}.json" not in NOT_YET


@pytest.mark.parametrize("name", ["hf-defaults/gemma3.json", "hf-defaults/qwen2_5_vl.json", "hf-defaults/qwen3_5.json", "hf-defaults/llama4.json"])
def test_vision_tower_equals_what_transformers_builds(name, tmp_path):
    """The vision encoder and projector (vision_params) are what transformers builds outside the language model."""
    entry, r = _evaluate(name, tmp_path)
    assert entry["params"]["vision"] > 0
    assert r.values["vision_params"] == entry["params"]["vision"], entry["source"]


def test_chunked_layers_keep_one_chunk(tmp_path):
    """Llama 4's chunked layers are transformers' DynamicSlidingWindowLayer sized by attention_chunk_size:
    past the chunk they keep chunk - 1 positions (probe: chunk 24, 40 tokens, 23 kept; the full layers
    all 40). The rules keep min(seq_len, chunk), one position more per chunked layer."""
    entry = MEASURED["hf-defaults/llama4_text.json"]
    probe = entry["cache"]["sliding_window_probe"]
    assert probe["positions_kept_by_kind"] == {"chunked_attention": probe["sliding_window"] - 1, "full_attention": probe["tokens"]}
    kinds = entry["params"]["full_model_layer_kinds"]
    folder = tmp_path / "llama4"
    folder.mkdir()
    (folder / "config.json").write_bytes((CASES.parent.parent / entry["config"]).read_bytes())
    chunk = json.loads((folder / "config.json").read_text())["attention_chunk_size"]
    for seq_len in (4096, 3 * chunk):
        r = vramrules.evaluate(mode="inference", model_config=str(folder), batch=1, seq_len=seq_len)
        assert r.values["kv_layer_tokens"] == kinds["full_attention"] * seq_len + kinds["chunked_attention"] * min(seq_len, chunk)


def test_llama4_vision_tower_parts(tmp_path):
    """Llama 4's tower as transformers 5.24 builds Llama4Config()'s: vision_model 415,856,640 (patches, class token,
    1,025 positions, pre/post LayerNorms, 34 blocks, the pixel-shuffle adapter) and multi_modal_projector 39,321,600
    (vision_output_dim 7,680 x text hidden 5,120), counted once each (tests/cases/measured/transformers-defaults.json)."""
    entry, r = _evaluate("hf-defaults/llama4.json", tmp_path)
    parts = entry["params"]["by_component"]
    assert (parts["vision_model"], parts["multi_modal_projector"]) == (415_856_640, 7680 * 5120)
    assert r.values["vision_params"] == parts["vision_model"] + parts["multi_modal_projector"]
    assert r.values["params_total"] == entry["params"]["total"] == 108_225_039_360


@pytest.mark.parametrize("name", ["hf/qwen3-vl-8b.json", "hf/mistral-small-3.1-24b.json"])
def test_published_vision_towers_equal_what_transformers_builds(name, tmp_path):
    """Qwen3-VL's tower with its 3 deepstack mergers, and Mistral Small 3.1's Pixtral tower with its projector
    (Mistral3PatchMerger's merging_layer is the import's extra_params: the vision block has no slot for it)."""
    entry, r = _evaluate(name, tmp_path)
    merger = 1024 * 2 * 2 * 1024 if "mistral" in name else 0  # vision width x spatial_merge_size^2 -> vision width
    assert r.values["vision_params"] + merger == entry["params"]["vision"], entry["source"]


def test_issue14_second_pass_families_are_compared():
    """glm4_moe, smollm3, olmo2, deepseek_v2 (DeepSeek-V2-Lite), deepseek_v32, kimi_k2, qwen3_vl, mistral3: each
    held to transformers' build of its published config (tests/cases/hf/SOURCES.yaml)."""
    got = {MEASURED[f"hf/{stem}.json"]["model_type"] for stem in
           ("glm-4.5-air", "glm-4.7", "smollm3-3b", "olmo2-7b", "deepseek-v2-lite", "deepseek-v3.2-exp", "kimi-k2", "qwen3-vl-8b",
            "mistral-small-3.1-24b")}
    assert got == {"glm4_moe", "smollm3", "olmo2", "deepseek_v2", "deepseek_v32", "kimi_k2", "qwen3_vl", "mistral3"}
    assert MEASURED["hf/kimi-k2.json"]["config_changes_for_torch"]["set"]["model_type"] == ["kimi_k2", "deepseek_v3"]


def test_deepseek_v32_caches_its_indexer_key(tmp_path):
    """DeepSeek-V3.2's cache per layer: the MLA latent (kv_lora_rank 512 + rope key 64) and the indexer's key
    (index_head_dim 128), bf16: 1,408 B per token per layer, 85,888 B over 61 layers, as transformers holds it."""
    entry, r = _evaluate("hf/deepseek-v3.2-exp.json", tmp_path)
    # the indexer cache is its own component, sized like the KV cache (16 tokens of one sequence here)
    assert r.values["kv_bytes_per_token"] + r.component("indexer_cache").memory.bytes / 16 == 61 * (512 + 64 + 128) * 2
    assert 61 * (512 + 64 + 128) * 2 == entry["cache"]["kv_bytes_per_token"]
    assert r.component("indexer_cache").memory.bytes == 16 * 61 * 128 * 2
    assert r.component("kv_cache").memory.bytes == 16 * 61 * (512 + 64) * 2


def test_indexer_cache_counts_in_the_serving_pool():
    """Serving DeepSeek-V3.2: each token takes its latent and its indexer key from the pool, so the pool holds
    (kv + indexer) per token; the engines store the key as 128 fp8 values and one fp32 scale, 132 B per layer
    (vLLM's DeepseekV32IndexerCache, SGLang's NSATokenToKVPool: data/engines.yaml), whatever the KV precision;
    a model without an indexer has no such component."""
    r = vramrules.evaluate("deepseek-v3.2-exp", mode="serve", gpu="h200-141gb", gpus=8, tp=8, seq_len=32768)
    per_token = r.values["kv_bytes_per_token_per_gpu"] + r.values["indexer_bytes_per_token_per_gpu"]
    assert r.values["indexer_bytes_per_token_per_gpu"] == 61 * (128 + 4) == 8_052  # it was 61 x 128 x 2 B, bf16
    assert r.values["kv_bytes_per_token_per_gpu"] == 61 * (512 + 64) * 2
    fp8 = vramrules.evaluate("deepseek-v3.2-exp", mode="serve", gpu="h200-141gb", gpus=8, tp=8, seq_len=32768, kv_precision="fp8")
    assert fp8.values["indexer_bytes_per_token_per_gpu"] == 8_052 and fp8.values["kv_bytes_per_token_per_gpu"] == 61 * (512 + 64)
    sglang = vramrules.evaluate("deepseek-v3.2-exp", gpu="h200-141gb", gpus=8, tp=8, seq_len=32768, engine="sglang")
    assert sglang.values["indexer_bytes_per_token_per_gpu"] == 8_052
    # transformers keeps them in the cache's dtype (test_deepseek_v32_caches_its_indexer_key); so does --mtp's extra layer in serving
    mtp = vramrules.evaluate("deepseek-v3.2-exp", mode="serve", gpu="h200-141gb", gpus=8, tp=8, seq_len=32768, mtp=True)
    assert mtp.values["mtp_kv_bytes_per_token_per_gpu"] == (512 + 64) * 2 + 128 + 4
    block = r.scenario.selections["engine"].facts["block_size"]  # whole blocks of the engine's (vLLM: 16 tokens, data/engines.yaml)
    assert r.values["kv_token_capacity"] == int(r.values["kv_cache_pool"] // (per_token * block)) * block
    plain = vramrules.evaluate("deepseek-v3", mode="inference", batch=1, seq_len=4096)
    assert "indexer_cache" not in [c.name for c in plain.components]


@pytest.mark.parametrize("model,stem", [("llama4-scout-17b-16e", "hf/llama4-scout-17b-16e.json"),
                                        ("llama4-maverick-17b-128e", "hf/llama4-maverick-17b-128e.json")])
def test_llama4_catalog_entries(model, stem):
    """The catalog's Llama 4 entries count what transformers builds from the published configs (tower included), and
    cache 12 NoPE layers at full context and 36 chunked layers at one 8,192-token chunk: at 131,072 tokens a KV cache
    12 x 131,072 + 36 x 8,192 layer-tokens long, 3.4x below every layer at full context."""
    entry = MEASURED[stem]
    r = vramrules.evaluate(model, mode="inference", batch=1, seq_len=131072)
    assert r.values["params_total"] == entry["params"]["total"]
    assert r.values["vision_params"] == entry["params"]["vision"] == 871_932_416
    assert entry["params"]["full_model_layer_kinds"] == {"chunked_attention": 36, "full_attention": 12}
    assert r.values["kv_layer_tokens"] == 12 * 131072 + 36 * 8192


def test_nemotron3_moe_block(tmp_path):
    """NemotronHConfig()'s four blocks (Mamba-2, MoE, attention, MLP: the miniature of Nemotron-3-Nano-30B-A3B): the MoE
    block is 8 plain experts (up and down, no gate) of 7,688, a router and one shared plain MLP of 7,688, beside the
    mixer-only blocks; its parameters and cache as transformers 5.24 builds them."""
    entry, r = _evaluate("hf-defaults/nemotron_h.json", tmp_path)
    hidden, width = 4096, 7688
    moe_block = 8 * 2 * hidden * width + 8 * hidden + 8 + 2 * hidden * width
    assert r.values["routed_expert_params"] == 8 * 2 * hidden * width
    assert r.values["params_total"] - entry["params"]["total"] == 8
    assert r.values["params_total"] - r.values["params_active"] == (8 - 2) * 2 * hidden * width
    assert moe_block < entry["params"]["by_component"]["model.layers"]
    assert entry["params"]["full_model_layer_kinds"] == {"dummy": 2, "full_attention": 1, "linear_attention": 1}
