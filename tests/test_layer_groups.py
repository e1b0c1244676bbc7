"""Lists in the rule language: a model is a list of layer groups, rules may be evaluated per
group (`per: group`) and reduced with group_sum()/group_max(), dimensions checked as for scalars.
Today's catalog is groups derived from its fields, with every number unchanged (the golden,
fidelity and parameter-count suites prove that); these tests pin the mechanism itself."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import vramrules
from vramrules.backends.codegen import ir_source
from vramrules.cli import main
from vramrules.language.syntax import FormulaError

# A hybrid stack: 4 global layers and 12 sliding-window (512) layers, Llama-3.1-8B's widths
# otherwise (8 KV heads x head_dim 128: 2 * 8 * 128 = 2,048 values per token per layer; bf16).
HYBRID = """models:
  hybrid-16:
    name: hybrid test model
    family: test
    params: 1000000000
    params_source: test
    tie_word_embeddings: false
    max_context: 100000000
    hidden_size: 4096
    num_layers: 16
    num_attention_heads: 32
    num_kv_heads: 8
    head_dim: 128
    intermediate_size: 14336
    vocab_size: 128256
    mlp: gated
    norm: rms
    norms_per_layer: 2
    layers:
      - {count: 4, attention: full, mlp: dense}
      - {count: 12, attention: window, window: 512, mlp: dense}
    source: test
"""
GEMMA_AS_WRITTEN = """models:
  gemma3-27b:
    layers:
      - {count: 10, attention: full, mlp: dense}
      - {count: 52, attention: window, window: 1024, mlp: dense}
"""


def overlay(tmp_path, models=HYBRID, rules=None):
    d = tmp_path / "org"
    d.mkdir(exist_ok=True)
    (d / "models.yaml").write_text(models, encoding="utf-8")
    if rules:
        (d / "rules").mkdir(exist_ok=True)
        (d / "rules" / "default.yaml").write_text(rules, encoding="utf-8")
    return str(d)


def run(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.output


def test_a_model_of_two_different_groups_through_eval_json_and_explain(tmp_path):
    data = overlay(tmp_path)
    s = 8192
    code, out = run("eval", "--data", data, "--model", "hybrid-16", "--seq-len", s, "--format", "json", "--explain")
    assert code == 0, out
    doc = json.loads(out)
    kv = next(c for c in doc["components"] if c["name"] == "kv_cache")["memory"]["bytes"]
    assert kv == (4 * s + 12 * 512) * 2048 * 2  # full layers cache the whole sequence, window layers 512 tokens
    steps = {st["rule"]: st for st in doc["derivation"]}
    assert steps["group_kv_tokens"]["value"] == {"per_group": [{"value": 4 * s, "unit": "1"}, {"value": 12 * 512, "unit": "1"}]}
    code, out = run("eval", "--data", data, "--model", "hybrid-16", "--mode", "train-full", "--format", "json", "--explain")
    steps = {st["rule"]: st for st in json.loads(out)["derivation"]}
    per_layer = steps["act_layer_per_token"]["value"]["per_group"]  # a memory per group: value, unit and exact bytes
    assert len(per_layer) == 2 and per_layer[0]["unit"] == "GiB" and per_layer[0]["bytes"] == per_layer[1]["bytes"] > 0
    code, text = run("eval", "--data", data, "--model", "hybrid-16", "--seq-len", s, "--explain")
    assert "group_kv_tokens = [32,768, 6,144]" in text
    assert "group.attention = [full, window]" in text and "models.yaml:" in text  # located at the layers: list


def test_a_model_of_two_groups_through_fit_and_sweep(tmp_path):
    data = overlay(tmp_path)
    code, out = run("fit", "--data", data, "--model", "hybrid-16", "--gpu", "rtx-4090", "--max", "seq-len", "--format", "json")
    assert code == 0, out
    longest = json.loads(out)["answer"]
    at = vramrules.evaluate("hybrid-16", "inference", data=(data,), gpu="rtx-4090", seq_len=longest, needed=False)
    over = vramrules.evaluate("hybrid-16", "inference", data=(data,), gpu="rtx-4090", seq_len=longest + 1, needed=False)
    assert at.fit.fits and not over.fit.fits
    code, out = run("sweep", "--data", data, "--model", "hybrid-16", "--mode", "inference,train-lora", "--gpu", "rtx-4090,l4",
                    "--format", "json")
    assert code == 0, out
    rows = json.loads(out)
    assert len(rows) == 4 and not any(r["error"] for r in rows)
    for r in rows:  # the sweep's compiled loop equals the single evaluation
        one = vramrules.evaluate("hybrid-16", r["mode"], data=(data,), gpu=r["gpu"], needed=False)
        assert r["total"]["bytes"] == one.total.bytes


def test_groups_written_out_give_the_derived_numbers_to_the_byte(tmp_path):
    """gemma-3-27b's groups, derived from sliding_window_layers, and the same groups as `layers:`."""
    data = overlay(tmp_path, GEMMA_AS_WRITTEN)
    for mode in ("inference", "train-lora", "train-full"):
        derived = vramrules.evaluate("gemma3-27b", mode, seq_len=32768, recompute="none", needed=False)
        written = vramrules.evaluate("gemma3-27b", mode, seq_len=32768, recompute="none", data=(data,), needed=False)
        assert written.total.bytes == derived.total.bytes
        assert written.values["kv_layer_tokens"] == derived.values["kv_layer_tokens"] == 10 * 32768 + 52 * 1024


@pytest.mark.parametrize("once", [True, False], ids=["interpreted", "generated"])
def test_both_evaluators_reduce_groups_alike(tmp_path, once):
    data = overlay(tmp_path)
    r = vramrules.evaluate("hybrid-16", "train-full", data=(data,), seq_len=4096, recompute="none", once=once)
    assert r.values["group_kv_tokens"] == [4 * 4096, 12 * 512]
    assert r.values["dense_layers"] == 16 and r.values["moe_layers"] == 0
    assert r.values["act_largest_layer_per_token"] == r.values["act_layer_per_token"][0]
    other = vramrules.evaluate("hybrid-16", "train-full", data=(data,), seq_len=4096, recompute="none", once=not once)
    assert other.values == r.values


@pytest.mark.parametrize("layers,message", [
    ("[{count: 4, mlp: dense}, {count: 4, mlp: dense}]", "the layer groups hold 8 layers, num_layers says 16"),
    ("[{count: 16, attention: window, mlp: dense}]", "a window group needs window: TOKENS"),
    ("[{count: 16, mlp: moe}]", "an moe group in a model without moe.num_experts"),
    ("[{count: 16}]", "missing required field 'mlp'"),
])
def test_layer_group_mistakes_are_located(tmp_path, layers, message):
    models = HYBRID.replace("""    layers:
      - {count: 4, attention: full, mlp: dense}
      - {count: 12, attention: window, window: 512, mlp: dense}
""", f"    layers: {layers}\n")
    code, out = run("validate", "--data", overlay(tmp_path, models))
    assert code == 1 and message in out, out
    line = models.splitlines().index(next(x for x in models.splitlines() if x.startswith("    layers:"))) + 1
    assert f"models.yaml:{line}:" in out  # located at `layers:`


@pytest.mark.parametrize("formula,per,message", [
    ("group.count * B", None, "'group.count' has one value per layer group"),
    ("group_sum(group_sum(group.count)) * B", None, "group_sum() cannot be used per group"),
    ("group_sum(group.count) * B", "group", "group_sum() cannot be used per group"),
    ("group_sum(group.windw) * B", None, "unknown layer-group field 'group.windw' (hint: did you mean 'group.window'?)"),
    ("group_max(group.attention) * B", None, "group_max() needs a number, got a choice"),
])
def test_group_rules_are_checked_when_they_load(tmp_path, formula, per, message):
    rules = f"""modes:
  inference:
    components: [weights, kv_cache, activations_inference, runtime_overhead, extra]
    rules:
      extra:
        formula: "{formula}"
        unit: B
        {'per: ' + per if per else ''}
        doc: a test component
"""
    code, out = run("validate", "--data", overlay(tmp_path, "models: {}\n", rules))
    assert code == 1 and message in out, out
    assert "rules/default.yaml:" in out


def test_a_per_group_component_is_refused(tmp_path):
    rules = """modes:
  inference:
    components: [weights, kv_cache, activations_inference, runtime_overhead, extra]
    rules:
      extra: {formula: group.count * B, unit: B, per: group, doc: a test component}
"""
    code, out = run("validate", "--data", overlay(tmp_path, "models: {}\n", rules))
    assert code == 1 and "rule 'extra' is per group but the mode reads it as one number" in out


def test_a_cached_per_group_name_outside_a_reduction_never_becomes_code():
    with pytest.raises(FormulaError, match="per-group name outside a reduction"):
        ir_source(["op", "*", ["n", "group.count"], ["c", 2]], lambda n: "x", lambda n: None)
    with pytest.raises(FormulaError, match="a reduction inside a reduction"):
        ir_source(["call", "group_sum", [["call", "group_max", [["n", "group.count"]]]]], lambda n: "x", lambda n: None)


def _import(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(Path(__file__).parent / "cases" / "hf" / f"{name}.json", folder / "config.json")
    return folder


def test_a_hybrid_model_caches_keys_only_in_its_attention_layers(tmp_path):
    """Jamba-v0.1 (config.json as published, tests/cases/hf/SOURCES.yaml): 4 attention layers of 32.
    Its paper's Table 1 gives a 4 GB KV cache at 256K tokens in 16-bit (Lieber et al.,
    arXiv:2403.19887); 4 layers x 262,144 tokens x 2 x 8 heads x 128 x 2 B is 4 GiB exactly. The
    Mamba layers hold a fixed-size state of their own, shown as its own component."""
    folder = _import(tmp_path, "jamba-v0.1")
    r = vramrules.evaluate(mode="inference", model_config=str(folder), seq_len=262144)
    assert r.values["attention_layers"] == 4
    assert r.component("kv_cache").memory.bytes == 4 * 262144 * 2 * 8 * 128 * 2 == 4 * 2**30
    assert r.values["kv_bytes_per_token"] * 8 == 32 * 2 * 8 * 128 * 2  # 8x below every layer attending
    # per Mamba layer: (d_conv - 1) x inner conv positions + inner x d_state, at bf16; inner = 2 x 4096
    assert r.component("recurrent_state").memory.bytes == 28 * ((4 - 1) * 8192 + 8192 * 16) * 2
    assert abs(r.values["params_total"] / 52e9 - 1) < 0.01  # the model card's 52B total (rounded)
    assert abs(r.values["params_active"] / 12e9 - 1) < 0.01  # and 12B active


def test_four_attention_layers_of_52_cache_13x_less_than_all_attention():
    """Issue 14's check on the catalog's Nemotron-H-8B (NVIDIA's Megatron-Bridge provider, data/models.yaml): 4
    attention layers of 52 hold 4 x 2 x 8 KV heads x 128 x 2 B = 16,384 B per token, 13x below 52 attention layers'
    212,992 B; its 24 Mamba-2 layers' state is its own component, per sequence, the same at 1K and 8K tokens."""
    short = vramrules.evaluate("nemotron-h-8b", "inference", batch=1, seq_len=1024)
    long = vramrules.evaluate("nemotron-h-8b", "inference", batch=1, seq_len=8192)
    assert long.values["kv_bytes_per_token"] == 4 * 2 * 8 * 128 * 2 == 16_384
    assert 52 * 2 * 8 * 128 * 2 == 13 * long.values["kv_bytes_per_token"]
    assert long.component("kv_cache").memory.bytes == 8192 * 16_384
    state = long.component("recurrent_state").memory.bytes
    conv = (4 - 1) * (8192 + 2 * 8 * 128)  # (d_conv - 1) x (inner + 2 groups x state), kept trimmed (vLLM's layout)
    assert state == short.component("recurrent_state").memory.bytes == 24 * (conv + 128 * 64 * 128) * 2


def test_a_classic_model_lists_no_recurrent_state():
    r = vramrules.evaluate("llama3.1-8b", "inference")
    assert "recurrent_state" not in [c.name for c in r.components]
    assert r.values["recurrent_state"] == 0


# The architecture fields of nvidia/NVIDIA-Nemotron-Nano-9B-v2's published config.json
# (https://huggingface.co/nvidia/NVIDIA-Nemotron-Nano-9B-v2/blob/main/config.json); the whole
# file is not in tests/cases/hf (SOURCES.yaml: not found in a source this work could read).
NEMOTRON_NANO_9B_V2 = {
    "model_type": "nemotron_h", "vocab_size": 131072, "hidden_size": 4480, "intermediate_size": 15680, "num_hidden_layers": 56,
    "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 131072,
    "hybrid_override_pattern": "M-M-M-MM-M-M-M*-M-M-M*-M-M-M-M*-M-M-M-M*-M-MM-M-M-M-M-M-",
    "mamba_num_heads": 128, "mamba_head_dim": 80, "n_groups": 8, "ssm_state_size": 128, "conv_kernel": 4, "tie_word_embeddings": False,
}


def test_nemotron_h_blocks_are_mamba2_attention_or_mlp(tmp_path):
    """One mixer per block (hybrid_override_pattern: 27 Mamba-2, 4 attention, 25 MLP blocks); the
    model card's 8.89B parameters; 4 attention layers of 56 make a KV cache 14x below all-attention."""
    (tmp_path / "config.json").write_text(json.dumps(NEMOTRON_NANO_9B_V2))
    r = vramrules.evaluate(mode="inference", model_config=str(tmp_path), seq_len=131072)
    groups = r.scenario.model.facts
    assert dict(zip(groups["group.recurrent"], groups["group.count"]))["mamba2"] == 27
    assert r.values["attention_layers"] == 4
    assert abs(r.values["params_total"] / 8.89e9 - 1) < 0.005
    assert r.component("kv_cache").memory.bytes == 4 * 131072 * 2 * 8 * 128 * 2 == 2 * 2**30
    conv = (4 - 1) * (128 * 80 + 2 * 8 * 128)  # (d_conv - 1) x (inner + 2 groups x state)
    assert r.component("recurrent_state").memory.bytes == 27 * (conv + 128 * 80 * 128) * 2


# The architecture fields of Qwen/Qwen3-Next-80B-A3B-Instruct's published config.json
# (https://huggingface.co/Qwen/Qwen3-Next-80B-A3B-Instruct/blob/main/config.json), the same
# architecture as Qwen/Qwen3-Coder-Next; the whole file is not in tests/cases/hf (SOURCES.yaml).
QWEN3_NEXT_80B = {
    "model_type": "qwen3_next", "hidden_size": 2048, "num_hidden_layers": 48, "vocab_size": 151936, "head_dim": 256,
    "num_attention_heads": 16, "num_key_value_heads": 2, "num_experts": 512, "num_experts_per_tok": 10, "moe_intermediate_size": 512,
    "shared_expert_intermediate_size": 512, "intermediate_size": 5120, "linear_num_key_heads": 16, "linear_key_head_dim": 128,
    "linear_num_value_heads": 32, "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4, "full_attention_interval": 4,
    "tie_word_embeddings": False, "max_position_embeddings": 262144,
}


def test_qwen3_next_counts_its_gated_deltanet_and_gated_attention_exactly(tmp_path):
    """79,674,391,296 parameters and 3,874,929,408 active: the figures another public estimator's
    test gives for this architecture from the checkpoint's tensors (found by exact-string search of
    public repositories), derived here independently from transformers' Qwen3NextGatedDeltaNet and
    Qwen3NextAttention; the model card says 80B total, 3B activated. 12 of 48 layers attend, the
    other 36 carry a 32 x 128 x 128 state per sequence."""
    (tmp_path / "config.json").write_text(json.dumps(QWEN3_NEXT_80B))
    r = vramrules.evaluate(mode="inference", model_config=str(tmp_path), seq_len=32768)
    assert r.values["params_total"] == 79_674_391_296
    assert r.values["params_active"] == 3_874_929_408
    assert r.values["attention_layers"] == 12
    assert r.component("kv_cache").memory.bytes == 12 * 32768 * 2 * 2 * 256 * 2
    conv = (4 - 1) * (2 * 16 * 128 + 32 * 128)  # (kernel - 1) x (q + k + v widths)
    assert r.component("recurrent_state").memory.bytes == 36 * (conv + 32 * 128 * 128) * 2


@pytest.mark.parametrize("model,measured,config", [
    # parameters transformers 5.24 builds (tests/cases/measured/*.json) from the config the entry was written from
    ("jamba-v0.1", 51_570_323_328, "transformers.json:jamba-v0.1.json"),
    ("qwen3-next-80b-a3b", 79_674_391_296, "transformers-defaults.json:qwen3_next.json"),
    ("nemotron-h-8b", 8_100_852_736, "transformers-sourced.json:nemotron-h-8b.json"),
    ("nemotron-nano-9b-v2", 8_888_227_328, "transformers-sourced.json:nemotron-nano-9b-v2.json"),
    # Falcon-H1 from Megatron-Bridge's providers, Granite 4.0-H from IBM's model card (tests/cases/hf-sourced/README.md)
    ("falcon-h1-1.5b-deep", 1_554_874_768, "transformers-sourced.json:falcon-h1-1.5b-deep.json"),
    ("falcon-h1-7b", 7_585_654_880, "transformers-sourced.json:falcon-h1-7b.json"),
    ("falcon-h1-34b", 33_642_516_224, "transformers-sourced.json:falcon-h1-34b.json"),
    ("granite-4.0-h-micro", 3_191_396_096, "transformers-sourced.json:granite-4.0-h-micro.json"),
    ("granite-4.0-h-tiny", 6_939_037_248, "transformers-sourced.json:granite-4.0-h-tiny.json"),
    ("granite-4.0-h-small", 32_207_337_984, "transformers-sourced.json:granite-4.0-h-small.json"),
])
def test_catalog_hybrid_models_count_what_transformers_builds(model, measured, config):
    file, entry = config.split(":")
    doc = json.loads((Path(__file__).parent / "cases" / "measured" / file).read_text(encoding="utf-8"))
    assert doc["entries"][entry]["params"]["total"] == measured
    r = vramrules.evaluate(model, "inference", seq_len=262144)
    assert r.values["params_total"] == measured
    assert "recurrent_state" in [c.name for c in r.components]


@pytest.mark.parametrize("model,attention,per_layer,state", [
    # KV bytes per token and recurrent state per sequence transformers 5.24 allocates for the same fields
    # (tests/cases/measured/transformers-sourced.json, with its fp32 state and whole convolution window);
    # per_layer: K and V of every KV head in bf16 (2 x kv_heads x head_dim x 2 B)
    ("granite-4.0-h-tiny", 4, 2 * 4 * 128 * 2, 57_581_568),
    ("granite-4.0-h-small", 4, 2 * 8 * 128 * 2, 153_427_968),
    ("falcon-h1-7b", 44, 2 * 2 * 128 * 2, 139_673_600),
])
def test_granite_and_falcon_h1_cache_what_transformers_allocates(model, attention, per_layer, state):
    """Granite 4.0-H attends in 4 layers of 40 (a KV cache 10x below every layer attending); Falcon-H1 attends and
    runs Mamba-2 side by side in every layer. Both keep the Mamba-2 state as its own component."""
    doc = json.loads((Path(__file__).parent / "cases" / "measured" / "transformers-sourced.json").read_text(encoding="utf-8"))
    measured = doc["entries"][f"{model}.json"]["cache"]
    sets = ("assume.conv_state_trim=0", "assume.recurrent_state_bits=4 B")
    r = vramrules.evaluate(model, "inference", batch=1, seq_len=4096, sets=sets)
    assert r.values["attention_layers"] == attention
    assert r.values["kv_bytes_per_token"] == attention * per_layer == measured["kv_bytes_per_token"]
    assert r.component("kv_cache").memory.bytes == attention * per_layer * 4096  # 40 attending: 10 x more
    assert r.values["recurrent_state"] == state == measured["state_bytes_per_sequence"]
    assert "recurrent_state" in [c.name for c in r.components]
