"""The command line: exit codes and messages (Click's CliRunner)."""
import json

import pytest
from click.testing import CliRunner

from vramrules.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_mission_example_prints_breakdown_with_explicit_units():
    r = run("eval", "--model", "llama3-70b", "--mode", "train-lora")
    assert r.exit_code == 0, r.output
    for label in ("weights", "adapter weights", "gradients", "optimizer states", "activations", "runtime overhead"):
        assert label in r.output
    assert "total" in r.output and "GiB" in r.output
    assert " GB" not in r.output  # no bare decimal unit unless asked for


def test_units_gb_prints_decimal():
    r = run("eval", "--params", "7e9", "--rules", "thumb", "--precision", "fp32", "--units", "GB")
    assert r.exit_code == 0
    assert "28.00 GB" in r.output  # SEED-01: 7e9 x 4 B = 28e9 B


def test_gpu_verdict_and_gpus_needed():
    r = run("eval", "--model", "llama3-70b", "--mode", "inference", "--gpu", "h100-sxm-80gb")
    assert r.exit_code == 0
    assert "DOES NOT FIT" in r.output and "needs 2 x h100-sxm-80gb" in r.output
    r = run("eval", "--model", "llama3-70b", "--mode", "inference", "--gpu", "h100-sxm-80gb", "--gpus", "2")
    assert "FITS on 2 x h100-sxm-80gb" in r.output


def test_check_exits_3_when_it_does_not_fit():
    r = run("eval", "--model", "llama3-70b", "--gpu", "rtx-4090", "--check")
    assert r.exit_code == 3
    r = run("eval", "--model", "llama3.1-8b", "--gpu", "h100-sxm-80gb", "--check")
    assert r.exit_code == 0


def test_check_without_gpu_is_a_usage_error():
    r = run("eval", "--model", "llama3-70b", "--check")
    assert r.exit_code == 2
    assert "--check needs --gpu" in r.output


@pytest.mark.parametrize("option,value,kind,near", [
    ("--model", "llama3-7b", "model", "llama3-70b"),
    ("--gpu", "h100-sxn-80gb", "gpu", "h100-sxm-80gb"),
    ("--precision", "bf61", "precision", "bf16"),
    ("--mode", "train-lroa", "mode", "train-lora"),
    ("--optimizer", "adamw-9bit", "optimizer", "adamw-8bit"),  # adamw8bit names adamw-8bit itself (tests/test_names.py)
])
def test_unknown_names_exit_2_with_closest(option, value, kind, near):
    args = ["eval", "--model", "llama3-70b", option, value] if option != "--model" else ["eval", option, value]
    r = run(*args)
    assert r.exit_code == 2
    assert f"unknown {kind} '{value}'" in r.output
    assert near in r.output


def test_json_is_stable_and_every_quantity_has_value_and_unit():
    r = run("eval", "--model", "llama3-70b", "--mode", "train-lora", "--gpu", "h100-sxm-80gb", "--format", "json")
    assert r.exit_code == 0
    doc = json.loads(r.output)
    assert set(doc) >= {"vramrules", "schema", "model", "mode", "rules", "units", "inputs", "components", "total", "figures", "fit"}
    assert doc["schema"] == 1 and doc["mode"] == "train-lora"
    for c in doc["components"]:
        assert set(c["memory"]) == {"value", "unit", "bytes"} and c["memory"]["unit"] == "GiB"
    assert doc["total"]["bytes"] == pytest.approx(sum(c["memory"]["bytes"] for c in doc["components"]))
    assert doc["fit"]["fits"] is False and doc["fit"]["gpus_needed"] == 2
    assert doc["figures"]["params_total"] == {"value": 70553706496.0, "unit": "1"}


def test_explain_cites_rule_location_and_fact_sources():
    r = run("eval", "--model", "llama3-70b", "--mode", "train-lora", "--explain")
    assert r.exit_code == 0
    out = r.output
    assert "formula: " in out and "rules/default.yaml:" in out
    assert "precision.bits = 2 B" in out and "precisions.yaml:" in out
    assert "model.hidden_size = 8,192" in out and "models.yaml:" in out
    assert "assume.cuda_context" in out and "PyTorch PR #86509" in out


def test_explain_json_has_derivation():
    r = run("eval", "--model", "llama3.1-8b", "--format", "json", "--explain")
    doc = json.loads(r.output)
    steps = {s["rule"]: s for s in doc["derivation"]}
    kv = steps["kv_cache"]
    assert "kv_precision.bits" in kv["formula"]
    assert "context_tokens" in steps["group_kv_tokens"]["formula"]  # per layer group, summed by kv_layer_tokens
    tokens = steps["context_tokens"]  # the text and any images' tokens
    assert any(i["name"] == "input.seq_len" and i["from"] == "mode default" for i in tokens["inputs"])
    assert steps["kv_layer_tokens"]["formula"] == "group_sum(group_kv_tokens)"
    bits = [i for i in kv["inputs"] if i["name"] == "kv_precision.bits"][0]
    assert bits["entry"] == "bf16" and bits["from"].startswith("data/precisions.yaml:") or "precisions.yaml:" in bits["from"]
    assert bits["value"] == {"value": 2 / 2**30, "unit": "GiB", "bytes": 2.0} or bits["value"]["bytes"] == 2.0


@pytest.mark.parametrize("what", ["models", "gpus", "precisions", "modes", "optimizers", "lora-targets", "rulesets", "assumptions"])
def test_list_text_and_json(what):
    r = run("list", what)
    assert r.exit_code == 0 and r.output.strip()
    r = run("list", what, "--format", "json")
    items = json.loads(r.output)
    assert isinstance(items, list) and items


def test_list_modes_has_the_built_in_modes():
    ids = [m["id"] for m in json.loads(run("list", "modes", "--format", "json").output)]
    assert ids == ["inference", "train-full", "train-lora", "train-qlora", "serve",
                   # preference tuning and RL (issue 18), in the order data/rules/default.yaml declares them
                   "train-dpo", "train-dpo-full", "train-orpo", "train-simpo", "train-kto",
                   "train-grpo", "train-grpo-lora", "train-ppo"]


def test_validate_passes_on_shipped_data():
    r = run("validate")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("ok: ")


def test_every_model_and_mode_evaluates(catalog):
    """'A new user gets a correct, explained estimate for every model x mode with no error.'"""
    import vramrules

    for mid in catalog.kind("model"):
        for mode in catalog.rulesets["default"].modes:
            r = vramrules.evaluate(mid, mode, gpu="h100-sxm-80gb", catalog=catalog)
            assert r.total.bytes > r.component("weights").memory.bytes > 0


def test_params_only_warns_that_architecture_parts_are_missing():
    r = run("eval", "--params", "7e9", "--mode", "train-full")
    assert r.exit_code == 0
    assert "warning: only a parameter count is known (7,000,000,000 parameters)" in r.output
    doc = json.loads(run("eval", "--params", "7e9", "--format", "json").output)
    assert doc["warnings"] and "KV cache and activations need an architecture" in doc["warnings"][0]


def test_seq_len_beyond_max_context_warns():
    r = run("eval", "--model", "llama2-7b", "--seq-len", "8192")
    assert "warning: seq_len 8,192 exceeds the model's max_context 4,096" in r.output


def test_gpus_must_be_a_multiple_of_dp():
    r = run("eval", "--model", "llama2-7b", "--mode", "train-full", "--dp", "4", "--tp", "1", "--pp", "1", "--gpus", "6", "--zero", "3")
    assert r.exit_code == 2
    assert "--gpus 6 must equal tp x cp x pp x dp = 1 x 1 x 1 x 4" in r.output


def test_zero3_over_dp_gpus_fits_where_one_gpu_does_not():
    one = json.loads(run("eval", "--model", "llama3.1-8b", "--mode", "train-full", "--gpu", "a100-80gb", "--format", "json").output)
    assert one["fit"]["fits"] is False
    many = json.loads(run("eval", "--model", "llama3.1-8b", "--mode", "train-full", "--gpu", "a100-80gb", "--dp", "8", "--zero", "3", "--format", "json").output)
    assert many["fit"]["gpus"] == 8 and many["fit"]["fits"] is True


def test_model_and_params_together_is_a_usage_error():
    r = run("eval", "--params", "7e9", "--model", "llama2-7b", "--rules", "thumb")
    assert r.exit_code == 2


def test_bad_batch_is_a_usage_error():
    r = run("eval", "--model", "llama2-7b", "--batch", "0")
    assert r.exit_code == 2
    assert "--batch must be a whole number >= 1" in r.output


def test_compact_bar_marks_capacity():
    r = run("eval", "--model", "llama3.1-8b", "--gpu", "rtx-4090")
    bar = [l for l in r.output.splitlines() if l.startswith("  [")][0]
    inner = bar[3:bar.index("]")]
    # 17.19 GiB needed of 23.99 GiB usable: the capacity mark closes the bar, free space before it
    assert inner.endswith("|") and "·" in inner and len(inner) == 49
    r = run("eval", "--model", "llama3-70b", "--gpu", "rtx-4090")
    inner = [l for l in r.output.splitlines() if l.startswith("  [")][0]
    inner = inner[3:inner.index("]")]
    assert "·" not in inner and inner.index("|") < 12  # 24 GiB of ~141 GiB: the mark comes early


def test_python_api_carries_the_same_provenance():
    import vramrules

    r = vramrules.evaluate(model="llama3.1-8b", mode="inference", gpu="rtx-4090")
    steps = {s.name: s for s in r.derivation()}
    kv = steps["kv_cache"]
    assert "kv_precision.bits" in kv.formula and "default.yaml:" in kv.where
    bits = [i for i in kv.inputs if i.name == "kv_precision.bits"][0]
    assert bits.value == 2.0 and "precisions.yaml:" in bits.where and bits.entry == "bf16"
    assert r.to_json()["fit"]["fits"] is True
    with pytest.raises(vramrules.UsageError):
        vramrules.evaluate(model="no-such-model")


def test_api_values_are_plain_and_memory_is_a_value():
    """The API's result classes are plain classes (issue 7); Memory keeps value semantics."""
    import vramrules
    from vramrules.api import Memory

    assert Memory(2**30) == Memory(2.0**30) and hash(Memory(2**30)) == hash(Memory(2.0**30)) and Memory(1) != Memory(2)
    assert Memory(2**30).gib == 1.0 and Memory(1e9).gb == 1.0 and Memory(2**30).to("MiB") == 1024.0
    with pytest.raises(AttributeError):
        Memory(1).bytes = 2
    r = vramrules.evaluate(model="llama3.1-8b", mode="inference", gpu="rtx-4090")
    assert "llama3.1-8b" in repr(r) and "GiB" in repr(r.fit) and repr(r.components[0]).startswith("Component('weights'")


def test_readme_sample_output_is_what_the_tool_prints():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    sample = readme.split("```\nllama3-70b · train-lora", 1)[1].split("\n```", 1)[0]
    out = run("eval", "--model", "llama3-70b", "--mode", "train-lora", "--gpu", "h100-sxm-80gb").output
    assert "llama3-70b · train-lora" + sample + "\n" == out
