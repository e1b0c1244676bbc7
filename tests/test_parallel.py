"""Parallel layouts, offload, serving capacity and the inverse questions of `vramrules fit`."""
import json

import pytest
from click.testing import CliRunner

import vramrules
from vramrules.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("args,message", [
    (["--tp", "3"], "--tp 3 does not divide the model's 64 attention heads"),
    (["--tp", "2", "--pp", "2", "--dp", "2", "--gpus", "6"], "--gpus 6 must equal tp x cp x pp x dp = 2 x 1 x 2 x 2"),
    (["--pp", "200"], "--pp 200 is more stages than the model's 80 layers"),
    (["--ep", "2"], "--ep 2 needs a MoE model"),
    (["--mode", "train-full", "--offload", "params"], "--offload params needs ZeRO stage 3"),
    (["--mode", "train-full", "--fsdp", "full-shard", "--zero", "2", "--dp", "2"], "give --fsdp or --zero, not both"),
])
def test_invalid_layouts_are_usage_errors(args, message):
    r = run("eval", "--model", "llama3-70b", *args)
    assert r.exit_code == 2, r.output
    assert message in r.output


def test_tensor_parallel_splits_weights_and_kv_heads():
    one = vramrules.evaluate("llama3-70b", "inference", seq_len=8192)
    two = vramrules.evaluate("llama3-70b", "inference", seq_len=8192, tp=2)
    sixteen = vramrules.evaluate("llama3-70b", "inference", seq_len=8192, tp=16)
    # weights: the matrices halve, norms stay whole on every rank (a few hundred KiB)
    assert two.component("weights").memory.bytes == pytest.approx(one.component("weights").memory.bytes / 2, rel=1e-4)
    # KV: 8 kv heads over tp 2 -> 4 per GPU; over tp 16 -> max(8/16, 1) = 1 per GPU (replicated)
    assert two.values["kv_values_per_token_per_layer_per_gpu"] == 2 * 4 * 128
    assert sixteen.values["kv_values_per_token_per_layer_per_gpu"] == 2 * 1 * 128


def test_gpus_alone_grows_the_modes_split_axis():
    inf = vramrules.evaluate("llama3-70b", "inference", gpu="h100-sxm-80gb", gpus=2)
    assert (inf.scenario.inputs["tp"], inf.scenario.inputs["dp"]) == (2, 1)
    train = vramrules.evaluate("llama3-70b", "train-full", gpu="h100-sxm-80gb", gpus=8, zero=3)
    assert (train.scenario.inputs["tp"], train.scenario.inputs["dp"]) == (1, 8)


def test_pipeline_stage_holds_ceil_layers():
    r = vramrules.evaluate("llama3-70b", "inference", pp=3)
    assert r.values["layers_per_stage"] == 27  # ceil(80 / 3)


def test_expert_parallel_splits_routed_experts():
    one = vramrules.evaluate("mixtral-8x7b", "inference")
    ep = vramrules.evaluate("mixtral-8x7b", "inference", ep=8, dp=8, gpus=8)
    assert ep.values["gpu_expert_params"] == pytest.approx(one.values["gpu_expert_params"] / 8)


def test_fsdp_strategies_are_zero_stages():
    a = vramrules.evaluate(params=7.5e9, mode="train-full", fsdp="full-shard", dp=64)
    b = vramrules.evaluate(params=7.5e9, mode="train-full", zero=3, dp=64)
    assert a.values["model_states"] == b.values["model_states"] == 7.5e9 * 16 / 64
    hybrid = vramrules.evaluate(params=7.5e9, mode="train-full", fsdp="hybrid", dp=64, shard_group=8)
    assert hybrid.values["model_states"] == 7.5e9 * 16 / 8  # sharded within a node of 8, replicated across


def test_optimizer_offload_moves_state_to_host_memory():
    r = run("eval", "--model", "llama3.1-8b", "--mode", "train-full", "--dp", "4", "--zero", "3", "--offload", "optimizer", "--format", "json")
    doc = json.loads(r.output)
    comps = {c["name"]: c["memory"]["bytes"] for c in doc["components"]}
    host = {c["name"]: c["memory"]["bytes"] for c in doc["host"]["components"]}
    assert comps["optimizer_states"] == 0
    # 8,030,261,248 params / 4 ranks x (8 B AdamW + 4 B fp32 master)
    assert host["optimizer_states_host"] == pytest.approx(8030261248 / 4 * 12)
    text = run("eval", "--model", "llama3.1-8b", "--mode", "train-full", "--dp", "4", "--zero", "3", "--offload", "optimizer").output
    assert "host (CPU) memory per GPU rank:" in text and "for all 4 ranks" in text


def test_fit_max_seq_len_is_verifiable_by_eval():
    r = run("fit", "--model", "llama3.1-8b", "--gpu", "rtx-4090", "--max", "seq-len", "--format", "json")
    doc = json.loads(r.output)
    n = doc["answer"]
    assert doc["evaluations"] < 50
    assert run("eval", "--model", "llama3.1-8b", "--gpu", "rtx-4090", "--seq-len", str(n), "--check").exit_code == 0
    assert run("eval", "--model", "llama3.1-8b", "--gpu", "rtx-4090", "--seq-len", str(n + 1), "--check").exit_code == 3


def test_fit_max_batch_in_serve_mode_matches_concurrency_figure():
    doc = json.loads(run("fit", "--model", "llama3.1-8b", "--mode", "serve", "--gpu", "l4", "--max", "batch", "--seq-len", "8192", "--format", "json").output)
    r = vramrules.evaluate("llama3.1-8b", "serve", gpu="l4", seq_len=8192)
    assert doc["answer"] == r.values["max_concurrent_sequences"]
    assert run("eval", "--model", "llama3.1-8b", "--mode", "serve", "--gpu", "l4", "--seq-len", "8192", "--batch", str(doc["answer"] + 1), "--check").exit_code == 3


def test_fit_min_gpus_and_suggestions():
    r = run("fit", "--model", "llama3-70b", "--mode", "train-lora", "--gpu", "h100-sxm-80gb", "--format", "json")
    doc = json.loads(r.output)
    assert doc["fits_on_one"] is False and doc["answer"] == 2 and doc["evaluations"] < 50
    assert doc["suggestions"][0]["change"] == "QLoRA instead of LoRA"
    check = run("eval", "--model", "llama3-70b", "--mode", "train-lora", "--gpu", "h100-sxm-80gb", "--dp", "2", "--zero", "3", "--check")
    assert check.exit_code == 0


def test_fit_lists_gpus_by_headroom():
    doc = json.loads(run("fit", "--model", "llama3.1-8b", "--format", "json").output)
    heads = [g["headroom"]["bytes"] for g in doc["gpus"]]
    assert heads == sorted(heads, reverse=True) and "rtx-4090" in [g["gpu"] for g in doc["gpus"]]
    assert "t4" not in [g["gpu"] for g in doc["gpus"]]  # 15 GiB: too small for 16 GB of bf16 weights


def test_serve_capacity_close_to_vllm_log():
    # vLLM 0.15.1, Llama-3.1-8B, A100 40GB, gpu_memory_utilization 0.9: "GPU KV cache size: 157,936 tokens"
    r = vramrules.evaluate("llama3.1-8b", "serve", gpu="a100-40gb", seq_len=131072, engine="vllm@0.15.1")
    assert r.values["kv_token_capacity"] == pytest.approx(157936, rel=0.03)


def test_serve_needs_a_gpu():
    r = run("eval", "--model", "llama3.1-8b", "--mode", "serve")
    assert r.exit_code == 2 and "needs --gpu" in r.output


@pytest.mark.parametrize("dp,zero,gb", [(64, 0, 120), (64, 1, 31.4), (64, 2, 16.6), (64, 3, 1.88), (4, 1, 52.5), (16, 2, 21.6), (1024, 3, 0.12)])
def test_zero_table_cells_through_the_cli(dp, zero, gb):
    """ZeRO, arXiv:1910.02054, Table 1 (public-cases.yaml zero_paper), as a user would ask it."""
    r = run("eval", "--params", "7.5e9", "--mode", "train-full", "--dp", str(dp), "--zero", str(zero), "--units", "GB", "--format", "json")
    states = json.loads(r.output)["figures"]["model_states"]
    assert states["unit"] == "GB"
    assert states["value"] == pytest.approx(gb, rel=0.01, abs=0.005)  # the paper prints two decimals


def test_fit_with_an_unknown_model_is_a_usage_error():
    r = run("fit", "--model", "llama3-7b")
    assert r.exit_code == 2 and "unknown model 'llama3-7b'" in r.output


def test_search_api_refuses_an_unknown_gpu_instead_of_finding_nothing():
    from vramrules import api
    from vramrules.questions import fit

    with pytest.raises(vramrules.UsageError, match="did you mean"):
        fit.min_gpus(api.load_catalog(), "mixtral-8x7b", "train-full", "a100-sxm-40gb")


def test_min_gpus_skips_families_that_cannot_beat_the_answer():
    """llama3-70b LoRA fits on 2 H100s with ZeRO-3 data parallelism; the tp=8 x dp family starts
    at 8 GPUs, so it is not searched: same answer, fewer evaluations."""
    from vramrules import api
    from vramrules.questions import fit

    a = fit.min_gpus(api.load_catalog(), "llama3-70b", "train-lora", "h100-sxm-80gb")
    assert a.value == 2 and a.options["dp"] == 2 and len(a.probes) <= 8
    assert all(p.options.get("tp", 1) == 1 for p in a.probes)


def test_max_seq_len_never_passes_the_models_context():
    """Mistral-7B-v0.3 on an RTX 4090: memory alone would allow 65,860 tokens, but the model's
    context is 32,768 (data/models.yaml max_context): the answer is 32,768 and says why."""
    r = CliRunner().invoke(main, ["fit", "--model", "mistral-7b-v0.3", "--gpu", "rtx-4090", "--max", "seq-len", "--format", "json"])
    doc = json.loads(r.output)
    assert r.exit_code == 0 and doc["answer"] == 32768
    assert doc["note"].startswith("the model's context is 32,768 tokens; memory alone would allow 65,")
    r = CliRunner().invoke(main, ["fit", "--model", "mistral-7b-v0.3", "--gpu", "rtx-4090", "--max", "seq-len"])
    assert "does not fit" not in r.output  # no false check line for the token after the context
