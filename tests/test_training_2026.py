"""Preference tuning and RL modes (train-dpo, train-dpo-full, train-orpo, train-simpo, train-kto,
train-grpo, train-grpo-lora, train-ppo) and the largest model that trains (questions.fit.max_params),
held to published figures (tests/cases/training/published.yaml: not a golden-case file of tests/test_golden.py, which reads tests/cases/*.yaml) and to the frameworks' own code."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import vramrules
from vramrules.api import scenario_catalog
from vramrules.cli import main
from vramrules.errors import UsageError
from vramrules.questions.fit import max_params

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "training" / "published.yaml").read_text(encoding="utf-8"))
# data/models.yaml: Llama-3.1-8B 8,030,261,248 parameters; Qwen2.5-7B 7,615,616,512 (hidden 3584,
# vocabulary 152,064, untied head); H100 SXM reports 81559 MiB (data/gpus.yaml)
LLAMA_8B = 8_030_261_248
QWEN_7B, QWEN_7B_HIDDEN, QWEN_7B_VOCAB = 7_615_616_512, 3584, 152_064
H100_REPORTED = 81559 * 2**20


def run(*args):
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output


# ---------------------------------------------------------------- ZeRO Table 2: fit --max params
@pytest.fixture(scope="module")
def zero_paper_catalog(tmp_path_factory):
    """The paper's accounting as an overlay: a 32 GB (decimal) GPU and no runtime memory."""
    d = tmp_path_factory.mktemp("zero-paper")
    (d / "gpus.yaml").write_text(textwrap.dedent(f"""\
        gpus:
          v100-32gb-zero-paper:
            name: NVIDIA V100 32GB as the ZeRO paper counts it
            vendor: nvidia
            class: datacenter
            memory: {CASES['zero_table2']['gpu_memory']}
            memory_reported: {CASES['zero_table2']['gpu_memory']}
            memory_type: HBM2
            bandwidth: 900 GB/s
            source: "ZeRO, arXiv:1910.02054, sec. 7.1 (V100 GPUs with 32GB memory; 7.5B x 16 B = 120GB: decimal GB)"
            reported_source: "the paper's 32 GB: Table 2 counts model states against it"
        """), encoding="utf-8")
    why = '"ZeRO Table 2 counts model states only (arXiv:1910.02054 sec. 5)"'
    (d / "assumptions.yaml").write_text(textwrap.dedent(f"""\
        assumptions:
          cuda_context: {{value: 0 B, bounds: [0 B, 2 GiB], source: {why}, owner: tests, reviewed: 2026-12-12}}
          framework_buffers: {{value: 0 B, source: {why}, owner: tests, reviewed: 2026-12-12}}
          allocator_fragmentation: {{value: 0, source: {why}, owner: tests, reviewed: 2026-12-12}}
        """), encoding="utf-8")
    cat, *_ = scenario_catalog((str(d),), (), None, None, "v100-32gb-zero-paper", None, {})
    return cat


@pytest.mark.parametrize("case", CASES["zero_table2"]["cases"], ids=lambda c: f"mp{c['mp']}-zero{c['zero']}")
def test_zero_table2_largest_model(zero_paper_catalog, case):
    dp = CASES["zero_table2"]["dp"]
    answer = max_params(zero_paper_catalog, "train-full", "v100-32gb-zero-paper",
                        base_options={"tp": case["mp"], "dp": dp, "gpus": case["mp"] * dp, "zero": case["zero"],
                                      "precision": "bf16", "optimizer": "adamw", "master_weights": True})
    expect = float(case["params"])
    allowed = max(CASES["zero_table2"]["tolerance"] * expect, float(case.get("abs", 0)))
    assert answer.value is not None and abs(answer.value - expect) <= allowed, (answer.value, expect)
    assert len(answer.probes) <= 8
    # the answer is the largest: it fits, one more parameter does not
    for n, fits in ((answer.value, True), (answer.value + 1, False)):
        r = vramrules.evaluate(None, "train-full", params=float(n), gpu="v100-32gb-zero-paper", catalog=zero_paper_catalog,
                               needed=False, tp=case["mp"], dp=dp, gpus=case["mp"] * dp, zero=case["zero"], precision="bf16")
        assert r.fit.fits is fits


def test_max_params_exact_for_stage_3(zero_paper_catalog):
    """ZeRO-3 at MP 1: 64 x 32e9 B / 16 B per parameter = 128e9 exactly (Table 2's 128B), and
    P_os: 32e9 / (4 + 12/64) = 7,641,791,044 (printed 7.6B): the theoretical column, not only its print."""
    args = {"tp": 1, "dp": 64, "gpus": 64, "precision": "bf16"}
    assert max_params(zero_paper_catalog, "train-full", "v100-32gb-zero-paper", base_options={**args, "zero": 3}).value == 128 * 10**9
    assert max_params(zero_paper_catalog, "train-full", "v100-32gb-zero-paper", base_options={**args, "zero": 1}).value == 7_641_791_044


def test_max_params_refuses_a_model(zero_paper_catalog):
    with pytest.raises(UsageError, match="--max params asks for a parameter count"):
        max_params(zero_paper_catalog, "train-full", "v100-32gb-zero-paper", model="llama3.1-8b")


# ---------------------------------------------------------------- verl: the batch that ran out of memory
@pytest.mark.parametrize("case", CASES["verl_grpo_lora_oom"]["cases"], ids=lambda c: c["model"])
def test_verl_grpo_lora_oom_batch_does_not_fit(case):
    opts = {**CASES["verl_grpo_lora_oom"]["common"]}
    mode, gpu = opts.pop("mode"), opts.pop("gpu")
    r = vramrules.evaluate(case["model"], mode, gpu=gpu, needed=False, dp=case["gpus"], gpus=case["gpus"],
                           rollout_memory_utilization=case["rollout_memory_utilization"], rollout_tp=case["rollout_tp"],
                           batch=case["oom_batch"], **opts)
    assert not r.fit.fits, f"{case['script']}: {case['quote']}"


# ---------------------------------------------------------------- the modes, against the frameworks' code
def test_dpo_reference_choices():
    """TRL dpo_trainer.py:893-898: with a PEFT policy the reference is the base with adapters
    disabled (no memory); a copy weighs its parameters at its precision."""
    base = vramrules.evaluate("llama3.1-8b", "train-dpo")
    assert base.values["ref_weights"] == 0 and base.scenario.inputs["reference"] == "disabled-adapters"
    copy = vramrules.evaluate("llama3.1-8b", "train-dpo", reference="copy")
    assert copy.component("ref_weights").memory.bytes == 2 * LLAMA_8B                     # bf16
    int8 = vramrules.evaluate("llama3-70b", "train-dpo", reference="copy", ref_model="llama3.1-8b", ref_precision="int8")
    assert int8.component("ref_weights").memory.bytes == LLAMA_8B                          # its own slot and precision
    assert copy.total.bytes - base.total.bytes >= 2 * LLAMA_8B
    pre = vramrules.evaluate("llama3.1-8b", "train-dpo", reference="precomputed")
    assert pre.total.bytes == base.total.bytes


def test_dpo_pairs_are_concatenated():
    """TRL dpo_trainer.py:355-357: chosen and rejected in one forward."""
    one = vramrules.evaluate("llama3.1-8b", "train-dpo", seq_len=1024)
    two = vramrules.evaluate("llama3.1-8b", "train-dpo", seq_len=1024, pairs=2)
    assert one.values["act_tokens"] == 2 * 1024 and two.values["act_tokens"] == 4 * 1024
    lora = vramrules.evaluate("llama3.1-8b", "train-lora", seq_len=2048)
    assert one.component("activations_training").memory.bytes == lora.component("activations_training").memory.bytes


def test_kin_of_dpo():
    dpo = vramrules.evaluate("llama3.1-8b", "train-dpo", reference="copy")
    orpo = vramrules.evaluate("llama3.1-8b", "train-orpo")
    simpo = vramrules.evaluate("llama3.1-8b", "train-simpo")
    kto = vramrules.evaluate("llama3.1-8b", "train-kto")
    assert orpo.values["ref_weights"] == 0 and orpo.total.bytes == simpo.total.bytes
    assert dpo.total.bytes - orpo.total.bytes >= 2 * LLAMA_8B
    assert kto.values["act_tokens"] == orpo.values["act_tokens"] // 2     # unpaired: one completion keeps activations
    with pytest.raises(UsageError, match="ORPO and SimPO use no reference"):
        vramrules.evaluate("llama3.1-8b", "train-orpo", reference="copy")


def test_full_dpo_has_no_adapters_to_disable():
    code, out = run("eval", "--model", "llama3.1-8b", "--mode", "train-dpo-full", "--reference", "disabled-adapters")
    assert code == 2 and "needs LoRA adapters to disable" in out and "Traceback" not in out
    full = vramrules.evaluate("llama3.1-8b", "train-dpo-full")
    assert full.component("ref_weights").memory.bytes == 2 * LLAMA_8B


def test_grpo_rollout_engine():
    """TRL grpo_config.py:646-647: vllm_gpu_memory_utilization 0.3 of the GPU's total memory."""
    awake = vramrules.evaluate("qwen2.5-7b", "train-grpo", gpu="h100-sxm-80gb", gpus=8, zero=3, needed=False)
    assert awake.values["rollout_engine_memory"] == pytest.approx(0.3 * H100_REPORTED)
    assert awake.component("rollout_engine").memory.bytes == pytest.approx(0.3 * H100_REPORTED, abs=1)
    assert awake.values["act_tokens"] == 1 * 8 * (512 + 512)             # batch x G x (prompt + completion)
    asleep = vramrules.evaluate("qwen2.5-7b", "train-grpo", gpu="h100-sxm-80gb", gpus=8, zero=3, rollout_sleep=True, needed=False)
    update = asleep.values["gradients"] + asleep.values["activations_training"]
    assert asleep.values["rollout_engine"] == pytest.approx(max(0.3 * H100_REPORTED - update, 0))
    separate = vramrules.evaluate("qwen2.5-7b", "train-grpo", gpu="h100-sxm-80gb", gpus=8, zero=3, rollout="separate", needed=False)
    assert separate.values["rollout_engine"] == 0
    verl = vramrules.evaluate("qwen2.5-7b", "train-grpo", gpu="h100-sxm-80gb", gpus=8, zero=3, rollout_memory_utilization=0.5, needed=False)
    assert verl.values["rollout_engine_memory"] == pytest.approx(0.5 * H100_REPORTED)
    # TRL's beta 0 loads no reference (grpo_trainer.py:955-957)
    beta0 = vramrules.evaluate("qwen2.5-7b", "train-grpo", gpu="h100-sxm-80gb", gpus=8, zero=3, reference="none", needed=False)
    assert awake.total.bytes - beta0.total.bytes >= 2 * QWEN_7B / 8


def test_grpo_logits_only_for_completions():
    a = vramrules.evaluate("qwen2.5-7b", "train-grpo", completion_len=512, prompt_len=512)
    b = vramrules.evaluate("qwen2.5-7b", "train-grpo", completion_len=512, prompt_len=1536)
    assert a.values["logits_training"] == b.values["logits_training"]
    assert a.values["logits_training"] == 8 * 512 * QWEN_7B_VOCAB * (2 + 2 * 4)  # bf16 + two fp32 copies


def test_ppo_value_models():
    """A reward model and critic: the base with a one-output value head (TRL modeling_value_head.py:631)."""
    ppo = vramrules.evaluate("qwen2.5-7b", "train-ppo", zero=3, dp=8, gpus=8)
    head = QWEN_7B - QWEN_7B_VOCAB * QWEN_7B_HIDDEN + QWEN_7B_HIDDEN
    assert ppo.values["reward_params"] == head and ppo.values["critic_params"] == head
    assert ppo.values["act_tokens"] == 1 * 1 * (512 + 512)
    grpo = vramrules.evaluate("qwen2.5-7b", "train-grpo", zero=3, dp=8, gpus=8, group_size=1)
    assert ppo.total.bytes > grpo.total.bytes + ppo.values["critic_states"]


def test_rollout_memory_utilization_bounds_are_a_usage_error():
    code, out = run("eval", "--model", "qwen2.5-7b", "--mode", "train-grpo", "--rollout-memory-utilization", "1.5")
    assert code == 2 and "Traceback" not in out and "rollout" in out


def test_worked_example_json():
    code, out = run("eval", "--model", "qwen2.5-7b", "--mode", "train-grpo", "--gpu", "h100-sxm-80gb", "--gpus", "8",
                    "--zero", "3", "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    names = [c["name"] for c in doc["components"]]
    assert names == ["weights", "ref_weights", "gradients", "optimizer_states", "activations_training", "rollout_engine", "runtime_overhead"]
    assert doc["fit"]["fits"] is True


def test_fit_max_params_from_the_command_line_and_its_checks_hold():
    """`fit --max params` answers for a model known by its count, and the two eval commands it
    prints (the answer fits, one more parameter does not) say so when run."""
    import shlex

    args = ["fit", "--mode", "train-full", "--gpu", "h100-sxm-80gb", "--dp", "64", "--zero", "3", "--max", "params", "--format", "json"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["question"] == "max-params" and doc["answer"] > 1e11 and doc["evaluations"] <= 8
    for check in doc["checks"]:
        e = CliRunner().invoke(main, shlex.split(check["command"])[1:] + ["--format", "json"])
        assert e.exit_code == 0 and json.loads(e.output)["fit"]["fits"] is (check["expect"] == "fits"), check
    r = CliRunner().invoke(main, ["fit", "--model", "llama3.1-8b", "--mode", "train-full", "--gpu", "h100-sxm-80gb", "--max", "params"])
    assert r.exit_code == 2 and "give no --model" in r.output


# ---------------------------------------------------------------- the rollout engine on GPUs of its own
def test_rollout_on_gpus_of_its_own_has_its_own_breakdown_and_verdict():
    """TRL vllm_mode server: `trl vllm-serve` on GPUs of its own reserves gpu_memory_utilization
    (default 0.9, trl/scripts/vllm_serve.py:248-249) of each; the trainer's GPUs hold no engine."""
    r = vramrules.evaluate("qwen2.5-7b", "train-grpo", gpu="h100-sxm-80gb", gpus=8, zero=3, rollout="separate", rollout_tp=2, needed=False)
    names = [c.name for c in r.components]
    assert "rollout_engine" not in names and r.values["rollout_engine"] == 0
    (group,) = r.fit.groups
    assert group.name == "rollout" and group.gpus == 2 and group.fits
    parts = {c.name: c.memory.bytes for c in group.components}
    assert parts["rollout_weights"] == 2 * QWEN_7B / 2                              # bf16 over its tp 2
    assert group.needed_per_gpu.bytes == pytest.approx(0.9 * H100_REPORTED)          # weights + KV pool = its reservation
    assert r.fit.gpus == 8 and r.fit.gpus_total == 10 and r.fit.fits
    # the KV pool's sequences of prompt + completion: Qwen2.5-7B's 4 KV heads split 2 ways, 28 layers, bf16
    per_token = 28 * 2 * (4 / 2) * 128 * 2
    assert r.values["rollout_kv_per_token"] == per_token
    assert r.values["rollout_concurrent_sequences"] == (0.9 * H100_REPORTED - QWEN_7B) // (per_token * 1024)
    code, out = run("eval", "--model", "qwen2.5-7b", "--mode", "train-grpo", "--gpu", "h100-sxm-80gb", "--gpus", "8", "--zero", "3",
                    "--rollout", "separate", "--rollout-tp", "2", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["fit"]["gpus_total"] == 10 and doc["fit"]["groups"][0]["gpus"] == 2
    assert [c["name"] for c in doc["fit"]["groups"][0]["components"]] == ["rollout_weights", "rollout_kv_pool"]
    code, text = run("eval", "--model", "qwen2.5-7b", "--mode", "train-grpo", "--gpu", "h100-sxm-80gb", "--gpus", "8", "--zero", "3",
                     "--rollout", "separate", "--rollout-tp", "2")
    assert code == 0 and "training: 8 x h100-sxm-80gb" in text and "FITS on 10 x h100-sxm-80gb (8 training + 2 rollout)" in text


def test_a_rollout_engine_that_cannot_start_does_not_fit():
    """vLLM refuses to start when its KV pool cannot hold one max_model_len sequence
    (vllm/v1/core/kv_cache_utils.py check_enough_kv_cache_memory), colocated or not."""
    base = dict(gpu="h100-sxm-80gb", gpus=8, zero=3, needed=False)
    ok = vramrules.evaluate("qwen2.5-7b", "train-grpo", rollout_memory_utilization=0.2, **base)
    assert ok.fit.fits                                   # 15.93 GiB reserved, 14.18 GiB of weights: 1.7 GiB of KV for 1,024 tokens
    long = vramrules.evaluate("qwen2.5-7b", "train-grpo", rollout_memory_utilization=0.2, completion_len=32768, batch=1, group_size=1,
                              recompute="full", **base)
    assert not long.values["rollout_holds_a_sequence"] and not long.fit.fits
    assert any("vLLM would refuse to start" in w for w in long.warnings)
    small = vramrules.evaluate("qwen2.5-7b", "train-grpo", rollout="separate", rollout_memory_utilization=0.15, **base)
    assert not small.fit.groups[0].fits and not small.fit.fits and small.values["headroom"] >= 0


def test_fewest_gpus_count_the_rollout_engines_own():
    from vramrules.questions.fit import min_gpus

    cat, *_ = scenario_catalog((), (), None, None, "h100-sxm-80gb", None, {})
    colocated = min_gpus(cat, "qwen2.5-7b", "train-grpo", "h100-sxm-80gb")
    separate = min_gpus(cat, "qwen2.5-7b", "train-grpo", "h100-sxm-80gb", base_options={"rollout": "separate"})
    assert separate.layout["groups"] == {"rollout": 1}
    assert separate.value == separate.options["gpus"] + 1
    # without the engine the trainer needs fewer GPUs of its own, but the plan one more for the engine
    assert separate.options["gpus"] <= colocated.value
    r = vramrules.evaluate("qwen2.5-7b", "train-grpo", gpu="h100-sxm-80gb", rollout="separate")
    assert not r.fit.fits and r.fit.gpus_needed == separate.value


def test_breakdown_by_role():
    """The roles of each component (the mode's roles:) add up to the total, per GPU."""
    ppo = vramrules.evaluate("qwen2.5-7b", "train-ppo", gpu="h100-sxm-80gb", gpus=8, zero=3, needed=False)
    roles = {r: b for r, b, _names in ppo.roles()}
    assert set(roles) == {"policy", "reference", "reward model", "critic", "rollout engine", "runtime"}
    assert sum(roles.values()) == pytest.approx(ppo.total.bytes)
    assert roles["rollout engine"] == ppo.values["rollout_engine"] and roles["critic"] == ppo.values["critic_states"]
    dpo = vramrules.evaluate("llama3.1-70b", "train-dpo")
    assert [r for r, _b, _n in dpo.roles()] == ["policy", "runtime"]   # the disabled-adapter reference holds nothing
    doc = dpo.to_json()
    assert doc["roles"][0]["role"] == "policy" and doc["components"][0]["role"] == "policy"


def test_trl_grpo_at_scale_layout_fits_with_each_role_on_its_gpus():
    case = CASES["trl_grpo_server_72b"]
    opts = dict(case["options"])
    mode, gpu = opts.pop("mode"), opts.pop("gpu")
    r = vramrules.evaluate(case["model"], mode, gpu=gpu, needed=False, **opts)
    assert r.fit.fits and r.fit.gpus_total == case["gpus_total"], case["source"]
    (group,) = r.fit.groups
    assert group.gpus == 8 and group.fits
    assert group.components[0].memory.bytes == 2 * 72_706_203_648 / 8       # Qwen2.5-72B in bf16 over tp 8
    (trl,) = [launch for launch in r.to_json()["launch"] if launch["name"] == "trl"]
    server, trainer = trl["lines"]
    assert server.startswith("CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 trl vllm-serve --model Qwen/Qwen2.5-72B --tensor-parallel-size 8")
    assert "--gpu-memory-utilization 0.9 " in server and server.endswith("&")
    assert "--num_processes 32 --accelerate_config zero3" in trainer and "--vllm_mode server" in trainer
    assert "--per_device_train_batch_size 4 --num_generations 4" in trainer and "--beta 0.0" in trainer


# ---------------------------------------------------------------- the two plans, end to end
def _fit_json(*args):
    r = CliRunner().invoke(main, ["fit", *args, "--format", "json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def _checks_hold(doc):
    import shlex

    for check in doc["checks"]:
        e = CliRunner().invoke(main, shlex.split(check["command"])[1:] + ["--format", "json"])
        assert e.exit_code == 0 and json.loads(e.output)["fit"]["fits"] is (check["expect"] == "fits"), check


def test_grpo_qwen7b_colocated_on_8_h100():
    """Per GPU by role, the fewest GPUs, and the commands: vramrules' checks and the TRL and verl
    lines, which carry the plan's numbers (TRL's colocated default 0.3, grpo_config.py:646-647)."""
    code, out = run("eval", "--model", "qwen2.5-7b", "--mode", "train-grpo", "--gpu", "h100-sxm-80gb", "--gpus", "8", "--zero", "3",
                    "--format", "json", "--explain")
    doc = json.loads(out)
    assert code == 0 and doc["fit"]["fits"] and doc["fit"]["gpus_total"] == 8 and doc["fit"]["groups"] == []
    roles = {r["role"]: r["memory"]["bytes"] for r in doc["roles"]}
    assert list(roles) == ["policy", "reference", "rollout engine", "runtime"]
    assert roles["reference"] == 2 * QWEN_7B // 8 and roles["rollout engine"] == pytest.approx(0.3 * H100_REPORTED, abs=1)
    sources = {s["rule"]: s["source"] for s in doc["derivation"]}
    assert "grpo_config.py:602-608" in sources["rollout_engine"] and "dpo_trainer.py" in sources["ref_weights_all"]
    trl, verl = doc["launch"]
    (line,) = trl["lines"]
    assert line.startswith("trl grpo --model_name_or_path Qwen/Qwen2.5-7B ")
    for flag in ("--num_processes 8", "--accelerate_config zero3", "--num_generations 8", "--max_completion_length 512",
                 "--beta 0.04", "--vllm_mode colocate", "--vllm_gpu_memory_utilization 0.3", "--vllm_max_model_length 1024"):
        assert flag in line, flag
    assert "actor_rollout_ref.rollout.gpu_memory_utilization=0.3" in verl["lines"][0] and "trainer.n_gpus_per_node=8" in verl["lines"][0]
    fit = _fit_json("--model", "qwen2.5-7b", "--mode", "train-grpo", "--gpu", "h100-sxm-80gb", "--gpus", "8", "--zero", "3")
    assert fit["answer"] == 3 and fit["layout"]["dp"] == 3
    _checks_hold(fit)
    assert "--num_processes 3" in fit["launch"][0]["lines"][0]


def test_dpo_llama70b_lora_disabled_adapter_reference():
    """TRL dpo_trainer.py:893-898: the reference is the base with the adapters disabled, so the
    plan holds one copy of the 70B base; ZeRO-3 shards it over the fewest GPUs that fit."""
    fit = _fit_json("--model", "llama3.1-70b", "--mode", "train-dpo", "--gpu", "h100-sxm-80gb", "--reference", "disabled-adapters")
    assert fit["answer"] == 3 and fit["layout"]["zero"] == 3
    _checks_hold(fit)
    (trl,) = fit["launch"]
    (line,) = trl["lines"]
    assert line.startswith("trl dpo --model_name_or_path meta-llama/Llama-3.1-70B ")
    for flag in ("--num_processes 3", "--accelerate_config zero3", "--max_length 2048", "--use_peft --lora_r 16 --lora_target_modules all-linear"):
        assert flag in line, flag
    assert "precompute" not in line and "ref_model" not in line
    r = vramrules.evaluate("llama3.1-70b", "train-dpo", gpu="h100-sxm-80gb", gpus=3, dp=3, zero=3, needed=False)
    assert r.fit.fits and [x for x, _b, _n in r.roles()] == ["policy", "runtime"]
    assert r.component("weights").memory.bytes == pytest.approx(2 * 70_553_706_496 / 3)   # one sharded base: the reference is free
    copy = vramrules.evaluate("llama3.1-70b", "train-dpo", gpu="h100-sxm-80gb", gpus=3, dp=3, zero=3, reference="copy", needed=False)
    assert copy.to_json()["launch"][0]["lines"][0].startswith("# --reference copy with a LoRA policy")


def test_a_launcher_that_reads_an_unknown_name_is_a_data_error(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "default.yaml").write_text(textwrap.dedent("""\
        launchers:
          - name: mine
            label: mine
            source: "tests"
            modes: [train-dpo]
            lines:
              - parts: ["trl dpo --max_length {input.seq_lenn}"]
        """), encoding="utf-8")
    code, out = run("validate", "--data", str(tmp_path))
    assert code == 1 and "launcher 'mine' reads 'input.seq_lenn'" in out and "Traceback" not in out


def test_ppo_critic_update_counts_when_it_is_the_larger_update():
    """verl frees each update's gradients when it ends (dp_actor.py:668, dp_critic.py:262:
    zero_grad), so the peak holds the larger of the policy's and the critic's update; the
    critic's has no vocabulary logits (a one-output head)."""
    same = vramrules.evaluate("qwen2.5-7b", "train-ppo", zero=3, dp=8, gpus=8)
    v = same.values
    assert v["critic_gradients"] == v["critic_params"] * 2 / 8                                 # bf16, ZeRO-3 over 8
    assert v["critic_activations"] == pytest.approx(v["activations_training"] - v["logits_training"])
    assert v["critic_update"] == 0 and "critic_update" not in [c.name for c in same.components]
    big = vramrules.evaluate("qwen2.5-1.5b", "train-ppo", zero=3, dp=8, gpus=8, critic_model="qwen2.5-7b")
    b = big.values
    policy_update = b["gradients"] + b["activations_training"]
    assert b["critic_gradients"] + b["critic_activations"] > policy_update
    assert big.component("critic_update").memory.bytes == pytest.approx(b["critic_gradients"] + b["critic_activations"] - policy_update)
    # Qwen2.5-7B's 28 layers x 3584 against Qwen2.5-1.5B's 28 x 1536 (data/models.yaml)
    assert b["critic_activations"] == pytest.approx(b["activations_layers"] * 3584 / 1536 + b["act_tokens"] * b["act_outside_layers_per_token"])
    assert any("scaled by its layers x hidden size" in w for w in big.warnings)
    assert dict((r, n) for r, _b, n in big.roles())["critic"] == ["critic_states", "critic_update"]


# ---------------------------------------------------------------- FP8 training (Transformer Engine)
def test_fp8_training_state():
    """TE 2.20 keeps, per GEMM, 3 forward + 2 backward amax histories of 1024 fp32 values
    (module/base.py:1139, quantization.py:1436-1441, recipe/__init__.py:255), and with
    is_first_microbatch the FP8 weight and its transpose (module/linear.py:1958-1960)."""
    base = dict(gpu="h100-sxm-80gb", gpus=8, dp=8, zero=1, needed=False)
    off = vramrules.evaluate("llama3.1-8b", "train-full", **base)
    assert off.values["fp8_state"] == 0 and "fp8_state" not in [c.name for c in off.components]
    delayed = vramrules.evaluate("llama3.1-8b", "train-full", fp8="te-delayed", **base)
    assert delayed.values["fp8_amax_history"] == 32 * 4 * (3 + 2) * 1024 * 4            # Llama-3.1-8B: 32 layers
    assert delayed.values["fp8_weight_cache"] == 0                                      # cast per GEMM, freed after it
    cached = vramrules.evaluate("llama3.1-8b", "train-full", fp8="te-current", fp8_weight_cache=True, **base)
    assert cached.values["fp8_amax_history"] == 0                                       # current scaling keeps no history
    linear = LLAMA_8B - 2 * 128_256 * 4096 - (2 * 32 + 1) * 4096                        # less embeddings, head and norms
    assert cached.values["fp8_weight_cache"] == 2 * linear
    assert cached.total.bytes - off.total.bytes >= 2 * linear
    assert delayed.component("weights").memory.bytes == off.component("weights").memory.bytes   # the bf16 weights stay
    code, out = run("eval", "--model", "llama3.1-8b", "--mode", "train-lora", "--fp8", "te-delayed")
    assert code == 0 and "--fp8 does not apply to mode 'train-lora'" in out


# ---------------------------------------------------------------- chunked cross-entropy
def test_chunked_cross_entropy_holds_one_chunk_of_logits():
    """TRL sft_trainer.py:128-137: 'peak logits memory is chunk_size * vocab_size', chunks of 256
    tokens (:86); the logits are bf16 plus the fp32 copies of the loss (assume.logits_fp32_copies)."""
    full = vramrules.evaluate("llama3.1-8b", "train-lora", seq_len=8192)
    chunked = vramrules.evaluate("llama3.1-8b", "train-lora", seq_len=8192, loss_chunk_tokens=256)
    per_token = full.values["logits_training"] / 8192
    assert chunked.values["logits_tokens"] == 256 and chunked.values["logits_training"] == pytest.approx(256 * per_token)
    assert per_token == 128_256 * (2 + 2 * 4)                                          # Llama-3.1's vocabulary, bf16 + two fp32 copies
    saved = full.values["activations_training"] - chunked.values["activations_training"]
    assert saved == pytest.approx((8192 - 256) * per_token)
    # a chunk larger than the forward changes nothing; GRPO chunks its completions' logits
    assert vramrules.evaluate("llama3.1-8b", "train-lora", seq_len=128, loss_chunk_tokens=256).total == \
        vramrules.evaluate("llama3.1-8b", "train-lora", seq_len=128).total
    grpo = vramrules.evaluate("qwen2.5-7b", "train-grpo", loss_chunk_tokens=256)
    assert grpo.values["logits_training"] == 256 * QWEN_7B_VOCAB * (2 + 2 * 4)


# ---------------------------------------------------------------- activation offloading
def test_activation_offloading_moves_the_layers_saved_tensors_to_the_host():
    """torchtune _activation_offloading.py: saved tensors go to the CPU in the forward and come back
    in the backward, the output head excepted (:395-417), 5 consecutive tensors stashed (:70)."""
    on = vramrules.evaluate("llama3.1-8b", "train-lora", seq_len=32768, activation_offload=True)
    off = vramrules.evaluate("llama3.1-8b", "train-lora", seq_len=32768)
    v = on.values
    stash = 5 * 32768 * 2 * 4096                                                          # 5 checkpointed layer inputs, bf16
    assert v["activations_layers_gpu"] == pytest.approx(v["activations_per_layer"] + stash)
    assert v["activations_host"] == pytest.approx(off.values["activations_layers"] - v["activations_layers_gpu"])
    assert v["logits_training"] == off.values["logits_training"]                           # the logits stay on the GPU
    assert off.component("activations_training").memory.bytes - on.component("activations_training").memory.bytes == \
        pytest.approx(v["activations_host"])
    assert [h.name for h in on.host if h.memory.bytes] == ["activations_host"]
    none = vramrules.evaluate("llama3.1-8b", "train-lora", seq_len=4096, activation_offload=True, recompute="none")
    assert none.values["activations_layers_gpu"] == none.values["activations_per_layer"]   # one layer's set at a time


# ---------------------------------------------------------------- context parallelism (ring attention, Ulysses)
def test_context_parallelism_splits_sequences_and_shards_state_over_dp_x_cp():
    """Megatron's get_batch_on_this_cp_rank (utils.py:2504-2560) gives each CP rank 2 of 2 x cp
    chunks of every sequence, so every tensor with a sequence dimension is 1/cp; the distributed
    optimizer shards over dp x cp (optimizer/__init__.py:1204), torchtitan's FSDP over dp_shard x cp
    (parallel_dims.py:281), DeepSpeed's ZeRO over seq_data_parallel_group (engine.py:2410, :2497).
    TRL docs/source/distributing_training.md:89: 'max_seq_length=8192 and cp_size=4, each GPU
    processes 2048 tokens'."""
    base = dict(gpu="h100-sxm-80gb", seq_len=8192, zero=3, needed=False)
    one = vramrules.evaluate("llama3.1-8b", "train-full", gpus=8, dp=8, **base)
    cp4 = vramrules.evaluate("llama3.1-8b", "train-full", gpus=8, dp=2, cp=4, **base)
    assert cp4.values["act_tokens"] == 8192 and cp4.values["act_tokens_gpu"] == 2048
    for name in ("activations_layers", "logits_training"):
        assert cp4.values[name] == pytest.approx(one.values[name] / 4)
    # ZeRO-3 over dp 2 x cp 4 = 8 ranks: the same model states per GPU as dp 8
    for name in ("weights", "gradients", "optimizer_states"):
        assert cp4.component(name).memory.bytes == one.component(name).memory.bytes
    assert cp4.values["optimizer_states"] == LLAMA_8B * 12 / 8
    # without ZeRO the CP ranks hold the whole model, as data-parallel ranks do
    ddp = vramrules.evaluate("llama3.1-8b", "train-full", gpus=4, cp=4, gpu="h100-sxm-80gb", seq_len=8192, needed=False)
    assert ddp.values["optimizer_states"] == LLAMA_8B * 12
    # GRPO: the rollout tokens and the completions' logits split too; the engine's reservation does not
    g1 = vramrules.evaluate("qwen2.5-7b", "train-grpo", gpu="h100-sxm-80gb", gpus=8, zero=3, needed=False)
    g2 = vramrules.evaluate("qwen2.5-7b", "train-grpo", gpu="h100-sxm-80gb", gpus=8, cp=2, zero=3, needed=False)
    assert g2.values["rl_logits_training"] == pytest.approx(g1.values["rl_logits_training"] / 2)
    assert g2.values["rollout_engine"] == g1.values["rollout_engine"]
    assert g2.scenario.inputs["dp"] == 4                                          # --gpus 8 split over dp: 8 / cp 2
    code, out = run("eval", "--model", "qwen2.5-7b", "--mode", "train-grpo", "--gpu", "h100-sxm-80gb", "--gpus", "8", "--cp", "2", "--zero", "3")
    assert code == 0 and "actor_rollout_ref.actor.ulysses_sequence_parallel_size=2" in out and "parallelism_config_cp_size: 2" in out
    code, out = run("eval", "--model", "llama3.1-8b", "--mode", "train-full", "--gpus", "8", "--tp", "2", "--dp", "2", "--pp", "1")
    assert code == 2 and "tp x cp x pp x dp = 2 x 1 x 1 x 2" in out
    code, out = run("eval", "--model", "llama3.1-8b", "--cp", "2")                # inference: no context parallelism
    assert code == 2 and "context parallelism splits training sequences" in out
    code, out = run("fit", "--model", "llama3.1-8b", "--mode", "train-full", "--gpu", "h100-sxm-80gb", "--seq-len", "131072", "--cp", "4")
    assert code == 0 and "fewest h100-sxm-80gb: 8 (dp 2 x tp 1 x pp 1 x cp 4, ZeRO-3)" in out


def test_context_parallel_divisibility_is_a_usage_error_with_a_hint():
    """Ring attention cuts a sequence into 2 x cp chunks (Megatron arguments.py:1335-1338 asserts
    seq_length % (2 x cp) == 0; torchtitan parallel_dims.py:664-671 seq_len_divisor = tp x 2 x cp).
    Ulysses splits heads: verl monkey_patch.py:333-340 (heads % sp, KV heads % sp or sp % KV heads),
    DeepSpeed sequence/layer.py:40, Transformer Engine's a2a context_parallel.py:4246-4249."""
    code, out = run("eval", "--model", "llama3.1-8b", "--mode", "train-full", "--gpus", "8", "--dp", "4", "--cp", "2", "--seq-len", "4098")
    assert code == 2 and "4,098-token sequence into 4 equal chunks" in out and "hint: 4,096 or 4,100 tokens" in out
    # sequence parallelism splits each chunk over tp too: 2 x cp 2 x tp 2 = 8
    code, out = run("eval", "--model", "llama3.1-8b", "--mode", "train-full", "--gpus", "8", "--tp", "2", "--dp", "2", "--cp", "2",
                    "--sequence-parallel", "--activation-profile", "megatron", "--seq-len", "4100")
    assert code == 2 and "divide by 8 (hint: 4,096 or 4,104 tokens" in out
    # GRPO's sequence is prompt + completion (511 + 512)
    code, out = run("eval", "--model", "qwen2.5-7b", "--mode", "train-grpo", "--gpus", "8", "--dp", "4", "--cp", "2", "--prompt-len", "511")
    assert code == 2 and "1,023-token sequence" in out
    # Ulysses: Llama-3.1-8B has 32 heads and 8 KV heads
    code, out = run("eval", "--model", "llama3.1-8b", "--mode", "train-full", "--gpus", "12", "--cp", "12", "--cp-comm", "ulysses", "--seq-len", "4104")
    assert code == 2 and "32 attention heads (32 per tensor-parallel rank) do not divide by cp = 12" in out
    # cp 16 > 8 KV heads: verl repeats them (allowed), Transformer Engine's a2a refuses
    ok = vramrules.evaluate("llama3.1-8b", "train-full", gpus=16, cp=16, cp_comm="ulysses", seq_len=4096, needed=False)
    assert ok.values["cp_ulysses_kv_repeat"] == 2
    code, out = run("eval", "--model", "llama3.1-8b", "--mode", "train-full", "--gpus", "16", "--cp", "16", "--cp-comm", "ulysses",
                    "--activation-profile", "megatron", "--seq-len", "4096")
    assert code == 2 and "8 KV heads per tensor-parallel rank" in out
    # auto is Ulysses under verl: the ring's rule does not apply, the heads' does
    g = vramrules.evaluate("qwen2.5-7b", "train-grpo", gpus=8, cp=2, framework="verl", prompt_len=511, needed=False)
    assert g.values["cp_ulysses"] and not g.values["cp_ring"]


def test_fit_max_seq_len_keeps_ring_attentions_grain():
    """fit --max seq-len under ring attention searches multiples of 2 x cp (seq_len_multiple): its
    probes never break the divisibility rule, and the answer's next check is answer + 2 x cp."""
    code, out = run("fit", "--model", "llama3.1-8b", "--mode", "train-full", "--gpu", "h100-sxm-80gb", "--gpus", "8", "--cp", "2",
                    "--zero", "3", "--max", "seq-len")
    assert code == 0 and "(every seq-len a multiple of 4)" in out
    best = int(out.split("dp 4): ", 1)[1].split(" ", 1)[0].replace(",", ""))
    assert best % 4 == 0
    assert f"--seq-len {best}   -> fits" in out and f"--seq-len {best + 4}   -> does not fit" in out
    assert vramrules.evaluate("llama3.1-8b", "train-full", gpu="h100-sxm-80gb", gpus=8, cp=2, zero=3, seq_len=best).fit.fits
    assert not vramrules.evaluate("llama3.1-8b", "train-full", gpu="h100-sxm-80gb", gpus=8, cp=2, zero=3, seq_len=best + 4,
                                  needed=False).fit.fits
    # capped at the model's context, a multiple of 2 x cp 8 = 16
    code, out = run("fit", "--model", "llama3.1-8b", "--mode", "train-full", "--gpu", "h100-sxm-80gb", "--gpus", "8", "--cp", "8",
                    "--zero", "3", "--max", "seq-len")
    assert code == 0 and ": 131,072 (the model's context is 131,072 tokens" in out and "a multiple of 16" in out


def test_context_parallel_communication_buffers():
    """One attention layer's CP buffers, on top of the saved activations. Llama-3.1-8B: K+V 2 x 1024
    wide, Q and the output 4096 wide, bf16. Ring (Transformer Engine P2P, context_parallel.py:1685-1717
    keeps the cp received K+V chunks until the forward returns; :2392-2401 the bf16 backward's two
    (2, *kv) buffers and dQ): max(cp x KV, 4 x KV + Q). Ulysses: Q + K + V + O all-to-all copies."""
    base = dict(gpu="h100-sxm-80gb", gpus=8, seq_len=32768, fsdp="full-shard", needed=False)
    kv, q = 2 * 2048, 2 * 4096                                  # bytes per local token
    ring = vramrules.evaluate("llama3.1-8b", "train-full", dp=1, cp=8, **base)
    local = 32768 // 8
    assert ring.values["act_cp_buffers"] == local * max(8 * kv, 4 * kv + q) == 128 * 2**20
    two = vramrules.evaluate("llama3.1-8b", "train-full", dp=4, cp=2, **base)
    assert two.values["act_cp_buffers"] == 16384 * (4 * kv + q)               # the backward's buffers are larger at cp 2
    uly = vramrules.evaluate("llama3.1-8b", "train-full", dp=1, cp=8, cp_comm="ulysses", **base)
    assert uly.values["act_cp_buffers"] == local * (q + kv + q) == 80 * 2**20
    assert ring.values["activations_training"] - uly.values["activations_training"] == 48 * 2**20
    none = vramrules.evaluate("llama3.1-8b", "train-full", dp=8, **base)
    assert none.values["act_cp_buffers"] == 0
    # cp 16 over 8 KV heads: verl repeats K and V to 16 heads, and the attention saves the repeated
    # copies: one more K+V per local token in every layer (2,048 tokens x 4,096 B = 8 MiB a layer)
    base16 = dict(base, gpus=16, recompute="none")
    u8 = vramrules.evaluate("llama3.1-8b", "train-full", dp=2, cp=8, cp_comm="ulysses", **base16)
    u16 = vramrules.evaluate("llama3.1-8b", "train-full", dp=1, cp=16, cp_comm="ulysses", **base16)
    assert u8.values["act_cp_ulysses_repeated_kv_per_token"] == 0
    assert u16.values["act_cp_ulysses_repeated_kv_per_token"] == kv
    assert u16.values["activations_per_layer"] - u8.values["activations_per_layer"] / 2 == 2048 * kv == 8 * 2**20


def test_fp8_training_saves_the_linear_inputs_in_fp8():
    """Transformer Engine 2.20 saves each linear's quantized input (linear.py:596-621: column-wise
    FP8 data only), LayerNormLinear its ln_out (layernorm_linear.py:468-502) and LayerNormMLP ln_out
    and act_out, fc2's input (layernorm_mlp.py:807-822): per Llama-3.1-8B layer and token, the QKV
    and fc1 inputs (2 x 4096), the output projection's (32 heads x 128) and fc2's (14336) at 1 B
    instead of 2 B."""
    base = dict(activation_profile="megatron", recompute="none", seq_len=4096, needed=False)
    off = vramrules.evaluate("llama3.1-8b", "train-full", **base)
    on = vramrules.evaluate("llama3.1-8b", "train-full", fp8="te-current", **base)
    saved = (2 - 1) * (2 * 4096 + 32 * 128 + 14336)
    assert off.values["act_dense_layer_per_token"] - on.values["act_dense_layer_per_token"] == saved == 26_624
    # and each linear's FP8 weight, saved from its forward to its backward (linear.py:640-664; TE's docs
    # measure '1 MB (weight in FP8)' for a 1024 x 1024 layer): a layer's q, k, v, o, gate, up, down at 1 B
    layer_weights = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336
    assert on.values["act_fp8_saved_weights_per_layer"] == layer_weights == 218_103_808
    assert off.values["activations_layers"] - on.values["activations_layers"] == 32 * (4096 * saved - layer_weights)
    cached = vramrules.evaluate("llama3.1-8b", "train-full", fp8="te-current", fp8_weight_cache=True, **base)
    assert cached.values["act_fp8_saved_weights_per_layer"] == 0                        # the cached copy is the one saved
    fsdp = vramrules.evaluate("llama3.1-8b", "train-full", fp8="te-current", gpus=8, fsdp="full-shard", **base)
    assert fsdp.values["act_fp8_saved_weights_per_layer"] == 0                          # FSDP2: re-quantized in backward
    # with tensor and sequence parallelism every term is split, as the tensors are
    tp = vramrules.evaluate("llama3.1-8b", "train-full", fp8="te-current", tp=2, sequence_parallel=True, **base)
    assert tp.values["act_fp8_attention_saving_per_token"] + tp.values["act_fp8_mlp_saving_per_token"] == saved / 2
    # full recompute keeps the bf16 layer inputs: FP8 changes only the one layer re-materialized
    full = dict(base, recompute="full")
    d_full = vramrules.evaluate("llama3.1-8b", "train-full", **full).values["activations_layers"] \
        - vramrules.evaluate("llama3.1-8b", "train-full", fp8="te-delayed", **full).values["activations_layers"]
    assert d_full == 4096 * saved - layer_weights
    # torchao's Float8Linear saves the high-precision input (float8_linear.py:45): no change, no FP8 state
    ao = vramrules.evaluate("llama3.1-8b", "train-full", fp8="torchao", **base)
    assert ao.values["activations_layers"] == off.values["activations_layers"] and ao.values["fp8_state"] == 0
    # the hf profile (transformers' nn.Linear) keeps them in bf16, and says so
    hf = vramrules.evaluate("llama3.1-8b", "train-full", fp8="te-current", recompute="none", seq_len=4096, needed=False)
    assert hf.values["act_fp8_linear_inputs"] == 1 and any("--activation-profile hf" in w for w in hf.warnings)
    assert not any("--activation-profile hf" in w for w in off.warnings)
    code, out = run("eval", "--model", "llama3.1-8b", "--mode", "train-lora", "--fp8", "te-delayed")
    assert code == 0 and "--fp8 does not apply to mode 'train-lora'" in out


# ---------------------------------------------------------------- GRPO's reference follows the framework named
def test_grpo_reference_default_follows_the_framework():
    """TRL 1.10.0.dev0 grpo_config.py:671-678: beta defaults to 0.0, 'the reference model is not
    loaded'; verl b178a3c: actor.use_kl_loss false (actor.yaml:95) and use_kl_in_reward False
    (ppo_trainer.yaml:87), need_reference_policy = either (ppo/utils.py:72-76). With no framework
    named the mode counts DeepSeekMath's KL-regularized copy and says so."""
    base = dict(gpu="h100-sxm-80gb", gpus=8, zero=3, needed=False)
    plain = vramrules.evaluate("qwen2.5-7b", "train-grpo", **base)
    assert plain.scenario.inputs["reference"] == "framework-default" and plain.values["ref_copy"]
    assert plain.component("ref_weights").memory.bytes == QWEN_7B * 2 / 8
    assert any("DeepSeekMath" in w and "--framework trl|verl" in w for w in plain.warnings)
    for framework in ("trl", "verl"):
        r = vramrules.evaluate("qwen2.5-7b", "train-grpo", framework=framework, **base)
        assert not r.values["ref_copy"] and r.values["ref_weights"] == 0
        assert "ref_weights" not in [c.name for c in r.components]
        assert not any("DeepSeekMath" in w for w in r.warnings)
    given = vramrules.evaluate("qwen2.5-7b", "train-grpo", framework="trl", reference="copy", **base)
    assert given.values["ref_weights"] == plain.values["ref_weights"]               # a given --reference wins
    args = ["eval", "--model", "qwen2.5-7b", "--mode", "train-grpo", "--gpu", "h100-sxm-80gb", "--gpus", "8", "--zero", "3"]
    code, out = run(*args)
    assert code == 0 and "reference copy (default, no --framework)" in out and "--beta 0.04" in out and "use_kl_loss=True" in out
    code, out = run(*args, "--framework", "trl")
    assert code == 0 and "reference none (trl default)" in out and "--beta 0.0" in out and "verl.trainer.main_ppo" not in out
    code, out = run(*args, "--framework", "verl")
    assert code == 0 and "reference none (verl default)" in out and "use_kl_loss=False" in out and "trl grpo" not in out
    code, out = run(*args, "--reference", "none")
    assert code == 0 and "reference none ·" in out
    # the DPO and PPO modes name their reference: framework-default is refused there
    code, out = run("eval", "--model", "llama3.1-8b", "--mode", "train-dpo-full", "--reference", "framework-default")
    assert code == 2 and "framework-default is GRPO's" in out
    code, out = run("eval", "--model", "qwen2.5-7b", "--mode", "train-ppo", "--reference", "framework-default")
    assert code == 2 and "framework-default is GRPO's" in out


# ---------------------------------------------------------------- full DPO of a 70B model (NeMo-Aligner)
def test_nemo_aligner_dpo_70b_needs_two_nodes():
    """tests/cases/training/published.yaml nemo_aligner_dpo_70b: 'With TP=8 and PP=2, you will need
    a minimum of 2 nodes' of 8 x 80 GB; the reference lives in host memory (cpu_weight_swap)."""
    case = CASES["nemo_aligner_dpo_70b"]
    opts = dict(case["options"])
    mode, gpu = opts.pop("mode"), opts.pop("gpu")
    for layout in case["fits"]:
        r = vramrules.evaluate(case["model"], mode, gpu=gpu, needed=False, **{**opts, **layout})
        assert r.fit.fits, f"{case['source']}: {layout}"
        # the reference is host memory: one tensor-parallel x pipeline share of its bf16 weights per rank
        assert r.values["ref_weights"] == 0
        assert r.values["ref_weights_host"] == pytest.approx(70_553_706_496 * 40 / 80 * 2 / 8, rel=0.01)
    for layout in case["does_not_fit"]:
        r = vramrules.evaluate(case["model"], mode, gpu=gpu, needed=False, **{**opts, **layout})
        assert not r.fit.fits, f"{case['source']}: {layout}"
    code, out = run("eval", "--model", "llama3.1-8b", "--mode", "train-dpo", "--reference", "host-swap")
    assert code == 2 and "modeled for full DPO" in out
