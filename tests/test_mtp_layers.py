"""Multi-token-prediction (NextN) modules: counted as the checkpoint stores them, apart from the published count
(params_total), and in the breakdown only when the engine loads them (--mtp)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import vramrules

HF = Path(__file__).resolve().parent / "cases" / "hf"


def _mtp(model, **options):
    r = vramrules.evaluate(model, mode="inference", batch=1, seq_len=4096, mtp=True, **options)
    return r, {c.name: c.memory.bytes for c in r.components}


def test_deepseek_v3_mtp_module_is_what_the_checkpoint_adds():
    """DeepSeek-V3's layer 61: enorm and hnorm (2 x 7,168), eh_proj (14,336 x 7,168), one MoE decoder layer (MLA,
    256 experts of 2,048, the shared expert, the router and its bias, 2 norms), shared_head.norm, and its own embedding
    and head (2 x 129,280 x 7,168): 13,463,426,304 parameters. With the main model's 671,026,419,200 that is
    684,489,845,504, the README's "685B, which includes 671B of the Main Model weights and 14B of the Multi-Token
    Prediction (MTP) Module weights" (deepseek-ai/DeepSeek-V3 README.md) within 0.1%."""
    r, comps = _mtp("deepseek-v3")
    h, v = 7168, 129280
    mla = h * 1536 + 1536 + 1536 * 128 * 192 + h * 576 + 512 + 512 * 128 * 256 + 128 * 128 * h
    moe = 256 * 3 * h * 2048 + 3 * h * 2048 + 256 * h + 256
    assert r.values["mtp_layer_params"] == 3 * h + 2 * h * h + mla + moe + 2 * h + 2 * v * h == 13_463_426_304
    total = r.values["params_total"] + r.values["mtp_layer_params"]
    assert abs(total - 685e9) / 685e9 < 0.001
    assert r.values["params_total"] == 671_026_419_200  # the published count leaves the module out
    # loaded: the weights (fp8 blocks, the own embedding and head at 16 bit) and one more MLA latent per token
    assert r.values["mtp_kv_bytes_per_token_per_gpu"] == (512 + 64) * 2
    assert comps["mtp_layers"] > 2 * v * h * 2
    plain = vramrules.evaluate("deepseek-v3", mode="inference", batch=1, seq_len=4096)
    assert "mtp_layers" not in [c.name for c in plain.components]
    assert plain.total.bytes < r.total.bytes


def test_qwen3_next_mtp_shares_the_embedding():
    """Qwen3-Next's mtp.*: fc (2 x 2,048 -> 2,048), three norms, one gated full-attention layer with the MoE block (512
    experts of 512, the gated shared expert of 512), no embedding or head of its own."""
    r, _ = _mtp("qwen3-next-80b-a3b")
    h = 2048
    attention = h * (2 * 16 * 256 + 2 * 2 * 256) + 16 * 256 * h + 2 * 256
    moe = 512 * 3 * h * 512 + h * 512 + 3 * h * 512 + h
    assert r.values["mtp_layer_params"] == 3 * h + 2 * h * h + attention + 2 * h + moe


def test_serving_with_mtp_takes_its_weights_and_kv_from_the_pool():
    base = vramrules.evaluate("deepseek-v3", mode="serve", gpu="h200-141gb", gpus=8, tp=8, seq_len=32768)
    mtp = vramrules.evaluate("deepseek-v3", mode="serve", gpu="h200-141gb", gpus=8, tp=8, seq_len=32768, mtp=True)
    assert mtp.values["kv_cache_pool"] < base.values["kv_cache_pool"]
    per_token = mtp.values["kv_bytes_per_token_per_gpu"] + mtp.values["mtp_kv_bytes_per_token_per_gpu"]
    assert per_token == 62 * (512 + 64) * 2
    block = mtp.scenario.selections["engine"].facts["block_size"]  # the pool holds whole blocks (vLLM: 16 tokens, data/engines.yaml)
    assert mtp.values["kv_token_capacity"] == int(mtp.values["kv_cache_pool"] // (per_token * block)) * block


def test_import_reads_num_nextn_predict_layers(tmp_path):
    """GLM-4.5-Air's published config: num_nextn_predict_layers 1, a MoE layer with its own embedding and head (the
    model.layers.46 tensors); the count of the model itself is unchanged."""
    folder = tmp_path / "glm"
    folder.mkdir()
    shutil.copy(HF / "glm-4.5-air.json", folder / "config.json")
    from vramrules.importers import hf_config

    cfg, shown = hf_config.read(folder)
    entry = hf_config.convert(cfg, shown)
    assert entry["mtp"]["layers"] == 1 and entry["mtp"]["mlp"] == "moe" and entry["mtp"]["embedding"] and entry["mtp"]["head"]
    cfg = json.loads((HF / "glm-4.5-air.json").read_text())
    cfg["num_nextn_predict_layers"] = 0
    (folder / "config.json").write_text(json.dumps(cfg))
    cfg, shown = hf_config.read(folder)
    assert "mtp" not in hf_config.convert(cfg, shown)


def _st(path: Path, tensors: dict):
    """A safetensors file of BF16 zeros: header + data, as the format spec lays it out."""
    import struct

    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in tensors.items():
        n = 2 * shape[0] * (shape[1] if len(shape) > 1 else 1)
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))


def test_a_checkpoints_mtp_tensors_are_weighed_apart(tmp_path):
    """A GLM-4.5-style checkpoint (num_nextn_predict_layers 1) stores its NextN module as model.layers.2 after its 2
    decoder layers: those tensors are the mtp block's checkpoint bytes, not the model's (they were counted as weights,
    and again under --mtp); the weights are what the model's own tensors store, the MTP layers' weights what theirs do."""
    cfg = json.loads((HF / "glm-4.5-air.json").read_text())
    cfg.update(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16, intermediate_size=128,
               moe_intermediate_size=32, n_routed_experts=4, num_experts_per_tok=2, vocab_size=100)
    folder = tmp_path / "tiny-glm"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    main = {"model.embed_tokens.weight": (100, 64), "model.layers.0.mlp.gate_proj.weight": (128, 64),
            "model.layers.1.self_attn.o_proj.weight": (64, 64), "model.norm.weight": (64,), "lm_head.weight": (100, 64)}
    mtp = {"model.layers.2.embed_tokens.weight": (100, 64), "model.layers.2.eh_proj.weight": (64, 128),
           "model.layers.2.shared_head.head.weight": (100, 64), "model.layers.2.enorm.weight": (64,)}
    _st(folder / "model.safetensors", {**main, **mtp})
    main_params = 100 * 64 + 128 * 64 + 64 * 64 + 64 + 100 * 64
    mtp_params = 100 * 64 + 64 * 128 + 100 * 64 + 64
    r = vramrules.evaluate(mode="inference", model_config=str(folder), batch=1, seq_len=16)
    raw = r.scenario.model.raw
    assert raw["checkpoint_params"] == raw["params"] == main_params and raw["checkpoint_bytes"] == f"{2 * main_params} B"
    assert raw["mtp"]["checkpoint_params"] == mtp_params and raw["mtp"]["checkpoint_bytes"] == f"{2 * mtp_params} B"
    assert mtp_params == 21_056 and "its MTP modules' 21,056 parameters apart" in raw["params_source"]
    assert r.component("weights").memory.bytes == 2 * main_params
    with_mtp = vramrules.evaluate(mode="inference", model_config=str(folder), batch=1, seq_len=16, mtp=True)
    assert with_mtp.component("weights").memory.bytes == 2 * main_params
    assert with_mtp.values["mtp_weights"] == 2 * mtp_params


def test_glm_catalog_models_carry_their_mtp_block():
    """GLM-4.5-Air's and GLM-4.7's published configs say num_nextn_predict_layers 1: vLLM's Glm4MoeMultiTokenPredictorLayer
    (glm4_moe_mtp.py) is enorm, hnorm, eh_proj (2h -> h), a Glm4MoeDecoderLayer with the MoE block and shared_head's
    norm and head, with the predictor's own embedding: for GLM-4.5-Air 3,616,573,440 parameters (attention with q/k/v
    biases; 128 experts of 1,408 and the shared one; the router), loaded only with --mtp."""
    h, v = 4096, 151552
    attention = 96 * 128 * h + 96 * 128 + 2 * (8 * 128 * h + 8 * 128) + 96 * 128 * h
    moe = 128 * 3 * h * 1408 + 3 * h * 1408 + 128 * h
    r, comps = _mtp("glm-4.5-air")
    assert r.values["mtp_layer_params"] == attention + moe + 2 * h + 3 * h + 2 * h * h + 2 * v * h == 3_616_573_440
    assert r.values["params_total"] == 106_852_245_504  # the model card's 106B leaves it out
    assert r.values["mtp_weights"] == 3_616_573_440 * 2 and comps["mtp_layers"] > r.values["mtp_weights"]  # bf16, and its KV cache
    glm47, _ = _mtp("glm-4.7")
    assert glm47.values["mtp_layer_params"] > 0 and glm47.scenario.model.raw["mtp"]["layers"] == 1
