"""LoRA's trainable parameters as PEFT really places them (issue 16): tests/cases/measured/lora_params.json,
made by harness/lora_params.py (PEFT 0.21.2 on transformers 5.24.0, r 16, all-linear, the reduced models of
harness/activations.py on the meta device), against the rules' lora_params for the same config, exactly. The
cases where the placement is not plain: MoE experts adapted as 3-D parameters with gate_up at twice the rank,
shared experts and a MoE model's dense MLPs left without adapters, Qwen3-Next's shared_expert_gate adapted,
gpt-oss's and Jamba's experts not converted at all, fused qkv_proj / gate_up_proj / c_attn, the hybrids'
mixers. No torch needed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_measured_activations import ENTRIES, _import_config

import vramrules

ROOT = Path(__file__).resolve().parent.parent
DOC = json.loads((ROOT / "tests" / "cases" / "measured" / "lora_params.json").read_text(encoding="utf-8"))
LAYER_KEYS = ("num_hidden_layers", "n_layer", "layer_types", "attn_layer_period", "attn_layer_offset",
              "expert_layer_period", "expert_layer_offset")


def _rules(name: str, tmp: Path) -> float:
    entry = ENTRIES[name]
    config = _import_config(entry)
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    for key, (_, new) in entry["reduced_model"]["changes"].items():
        if key in LAYER_KEYS:
            text[key] = new   # the harness's two layers, of the kinds it chose
    folder = tmp / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    r = vramrules.evaluate(model_config=str(folder), mode="train-lora", lora_rank=16, lora_targets="all-linear",
                           batch=1, seq_len=64, needed=False)
    return float(r.values["lora_params"])


def test_file_is_well_formed():
    assert DOC["schema"] == "vramrules-measured-lora-params/1"
    for name, e in DOC["entries"].items():
        v = e["versions"]
        assert all(f"{lib} {v[lib]}" in e["source"] for lib in ("transformers", "torch", "peft")), name
        assert e["lora"] == {"r": 16, "lora_alpha": 32, "target_modules": "all-linear"}
        assert e["trainable_params"] == sum(sum(parts.values()) for parts in e["per_layer"].values())
        assert name in ENTRIES, name   # the same reduced model as the activations measurement


@pytest.mark.parametrize("name", sorted(DOC["entries"]))
def test_lora_params_follow_peft(name, tmp_path):
    assert _rules(name, tmp_path) == DOC["entries"][name]["trainable_params"]


def test_moe_placement_as_measured():
    """The figures the rules follow (peft 0.21.2): Qwen3-30B-A3B's expert (hidden 2048, width 768) takes
    16 x (2 x (2048 + 2 x 768) + (768 + 2048)) = 159,744 parameters, not 3 x 16 x (2048 + 768) = 135,168;
    DeepSeek-V2-Lite's dense layer 0 and its shared experts get none; gpt-oss's and Jamba's MoE layers only
    their attention's."""
    e = DOC["entries"]
    assert e["qwen3-30b-a3b"]["per_layer"]["0"]["experts"] == 8 * 159_744
    assert set(e["deepseek-v2-lite"]["per_layer"]["0"]) == {"attention"}
    assert "shared_experts" not in e["deepseek-v2-lite"]["per_layer"]["1"]
    assert set(e["gpt-oss-20b"]["per_layer"]["1"]) == {"attention"} == set(e["jamba-v0.1"]["per_layer"]["1"])
    assert e["qwen3_next"]["per_layer"]["0"]["shared_experts"] == 16 * (2048 + 1)   # shared_expert_gate only
