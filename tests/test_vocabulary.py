"""The scenario vocabulary (data/vocabulary.yaml) is the one declaration of inputs and slots:
an overlay adds a knob without code, and eval, fit and sweep take the same options."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import vramrules
from vramrules.api import load_catalog
from vramrules.cli import main
from vramrules.commands.evaluate import eval_cmd
from vramrules.commands.inverse import SWEEP_LISTS, fit_cmd, sweep_cmd
from vramrules.errors import UsageError

DPO = Path(__file__).parent / "cases" / "overlay-dpo"
# Llama-3.1-8B: 8,030,261,248 parameters (data/models.yaml, from the model card); int8 = 1 byte
LLAMA_8B_PARAMS = 8_030_261_248


def run(*args):
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output


def test_dpo_mode_is_data_only_through_eval():
    code, out = run("eval", "--data", str(DPO), "--model", "llama3.1-8b", "--mode", "train-dpo", "--ref-precision", "int8",
                    "--pairs", "2", "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    comps = {c["name"]: c for c in doc["components"]}
    assert comps["ref_weights"]["memory"]["bytes"] == LLAMA_8B_PARAMS  # its own slot at its own precision: 1 B per parameter
    assert comps["weights"]["memory"]["bytes"] > 1.8 * LLAMA_8B_PARAMS  # the policy stays bf16


def test_dpo_pairs_and_reference_through_the_api():
    one = vramrules.evaluate("llama3.1-8b", "train-dpo", data=(str(DPO),), recompute="none")
    two = vramrules.evaluate("llama3.1-8b", "train-dpo", data=(str(DPO),), recompute="none", pairs=2)
    assert one.values["act_tokens"] == 2 * 1 * 2048 and two.values["act_tokens"] == 2 * 2 * 2048  # chosen + rejected
    assert two.component("activations_training").memory.bytes > 1.9 * one.component("activations_training").memory.bytes
    # the reference follows the policy's model and precision unless given
    assert one.scenario.selections["ref_model"].id == "llama3.1-8b" and one.scenario.origin["ref_model"] == "same as --model"
    assert one.component("ref_weights").memory.bytes == 2 * LLAMA_8B_PARAMS
    other = vramrules.evaluate("llama3-70b", "train-dpo", data=(str(DPO),), ref_model="llama3.1-8b", ref_precision="nf4-dq")
    assert other.scenario.selections["ref_model"].id == "llama3.1-8b"
    assert other.component("ref_weights").memory.bytes < LLAMA_8B_PARAMS  # 4-bit
    # the derived working set includes the new component (runtime overhead scales with it)
    assert "ref_weights" in other.compiled.rules["working_set"].text


def test_dpo_through_fit():
    code, out = run("fit", "--data", str(DPO), "--model", "llama3.1-8b", "--mode", "train-dpo", "--gpu", "h100-sxm-80gb",
                    "--max", "seq-len", "--format", "json")
    assert code == 0, out
    one = json.loads(out)["answer"]
    code, out = run("fit", "--data", str(DPO), "--model", "llama3.1-8b", "--mode", "train-dpo", "--gpu", "h100-sxm-80gb",
                    "--max", "seq-len", "--pairs", "2", "--format", "json")
    two = json.loads(out)["answer"]
    assert 0 < two < one
    fits = vramrules.evaluate("llama3.1-8b", "train-dpo", data=(str(DPO),), gpu="h100-sxm-80gb", pairs=2, seq_len=two, needed=False)
    over = vramrules.evaluate("llama3.1-8b", "train-dpo", data=(str(DPO),), gpu="h100-sxm-80gb", pairs=2, seq_len=two + 1, needed=False)
    assert fits.fit.fits and not over.fit.fits


def test_an_input_the_data_does_not_declare_is_refused():
    # (the built-in vocabulary declares pairs since the train-dpo mode: a name it does not declare)
    with pytest.raises(UsageError, match="unknown scenario option 'beam_width'"):
        vramrules.evaluate("llama3.1-8b", "train-lora", beam_width=2)
    code, out = run("eval", "--model", "llama3.1-8b", "--beam-width", "2")
    assert code == 2 and "No such option '--beam-width'" in out


@pytest.mark.parametrize("data", [(), (DPO,)], ids=["built-in", "dpo-overlay"])
def test_eval_fit_and_sweep_share_one_option_set(data):
    vocab = load_catalog(tuple(str(d) for d in data)).vocabulary
    declared = {n for n, s in {**vocab.inputs, **vocab.slots}.items() if s.cli}
    sets = {}
    for cmd in (eval_cmd, fit_cmd, sweep_cmd):
        ctx = cmd.make_context(cmd.name, [*(a for d in data for a in ("--data", str(d)))], resilient_parsing=True)
        names = {p.name: tuple(p.opts + p.secondary_opts) for p in cmd.params}
        sets[cmd.name] = names
        for name in declared:  # every declared input and slot is an option, spelled as declared
            spec = vocab.inputs.get(name) or vocab.slots[name]
            assert name in names, f"{cmd.name} lacks {spec.option}"
            assert spec.option in names[name] and set(spec.aliases) <= set(names[name])
        assert ctx.meta["vramrules.vocabulary"] is not None
    assert {n: s for n, s in sets["eval"].items() if n in declared} == {n: s for n, s in sets["fit"].items() if n in declared}
    assert {n: s for n, s in sets["eval"].items() if n in declared} == {n: s for n, s in sets["sweep"].items() if n in declared}
    assert set(SWEEP_LISTS) <= declared
    if data:
        assert {"pairs", "ref_model", "ref_precision"} <= declared


def _overlay(tmp_path, vocabulary: str, rules: str = "") -> Path:
    d = tmp_path / "org"
    (d / "rules").mkdir(parents=True)
    (d / "vocabulary.yaml").write_text(vocabulary, encoding="utf-8")
    if rules:
        (d / "rules" / "default.yaml").write_text(rules, encoding="utf-8")
    return d


def test_vocabulary_mistakes_are_located(tmp_path):
    d = _overlay(tmp_path, """inputs:
  pairs: {kind: choice, description: pairs per example}
  width: {kind: integer, minimum: 4, default: 2, description: a width}
slots:
  ref_model: {selects: model, default_from: modle, description: the reference}
  ref_gpu: {selects: precision, prefix: input, description: bad prefix}
  other: {selects: precision, aliases: [-b], description: clashes with --batch's -b}
""")
    code, out = run("validate", "--data", str(d))
    assert code == 1
    f = str(d / "vocabulary.yaml")
    assert f"{f}:2:3: /inputs/pairs" in out or f"{f}:2:" in out
    assert "input 'pairs' is a choice but lists no choices" in out
    assert "/inputs/width/default: width must be a whole number >= 4, got 2" in out
    assert "/slots/ref_model/default_from: unknown slot 'modle' (hint: did you mean 'model'?)" in out
    assert "prefix 'input' is reserved" in out
    assert "option '-b' is spelled by both 'batch' and 'other'" in out


def test_a_defaults_block_is_checked_against_the_vocabulary_at_the_overlays_line(tmp_path):
    d = _overlay(tmp_path, "inputs: {}\nslots: {}\n", """modes:
  train-lora:
    defaults: {seq_len: 0, pairz: 2}
""")
    code, out = run("validate", "--data", str(d))
    assert code == 1, out
    f = str(d / "rules" / "default.yaml")
    assert f"{f}:3:" in out and "/modes/train-lora/defaults/seq_len: seq_len must be a whole number >= 1, got 0" in out
    assert "/modes/train-lora/defaults/pairz: unknown scenario input 'pairz'" in out


def test_modes_that_extend_each_other_are_an_error(tmp_path):
    d = _overlay(tmp_path, "inputs: {}\nslots: {}\n", """modes:
  a: {summary: a, extends: b}
  b: {summary: b, extends: a}
  c: {summary: c, extends: nope}
  d: {summary: d}
""")
    code, out = run("validate", "--data", str(d))
    assert code == 1
    assert "modes extend each other: a -> b -> a" in out or "modes extend each other: b -> a -> b" in out
    assert "mode 'c' extends unknown mode 'nope'" in out
    assert "mode 'd' lists no components" in out


def test_validate_reports_a_component_without_doc_or_source(tmp_path):
    d = _overlay(tmp_path, "inputs: {}\nslots: {}\n", """modes:
  bare:
    summary: a mode with an undocumented component
    extends: inference
    components: [weights, mystery]
    rules:
      mystery: {formula: 1 * GiB, unit: B}
""")
    code, out = run("validate", "--data", str(d))
    assert code == 1
    assert f"{d / 'rules' / 'default.yaml'}:7:" in out
    assert "component 'mystery' of mode 'default/bare' has neither doc nor source" in out
    assert "component 'weights'" not in out  # the built-in components are documented


@pytest.mark.parametrize("value,message", [
    ("9" * 400, "is not a whole number"),
    ("9" * 30, "is unreasonably large"),
    ("2.5", "is not a whole number"),
])
def test_integer_options_refuse_what_is_not_a_count(value, message):
    code, out = run("eval", "--model", "llama3.1-8b", "--batch", value)
    assert code == 2 and message in out and "internal error" not in out


def test_integer_options_take_k_and_K():
    """32k = 32,000 and 32K = 32,768, as vLLM's --max-model-len reads them."""
    a = vramrules.evaluate("llama3.1-8b", "inference", seq_len=32000)
    code, out = run("eval", "--model", "llama3.1-8b", "--ctx", "32k", "--format", "json")
    assert code == 0 and json.loads(out)["inputs"]["seq_len"] == 32000 == a.scenario.inputs["seq_len"]
    code, out = run("eval", "--model", "llama3.1-8b", "--max-model-len", "32K", "--format", "json")
    assert json.loads(out)["inputs"]["seq_len"] == 32768


def test_an_option_no_rule_of_the_mode_reads_is_said_not_to_apply():
    """--lora-rank in inference changes nothing: the answer says so instead of passing it by."""
    r = vramrules.evaluate("llama3.1-8b", "inference", lora_rank=64, optimizer="adamw-8bit")
    assert "--lora-rank does not apply to mode 'inference' of rule set 'default': none of its rules reads it" in r.warnings
    assert any(w.startswith("--optimizer does not apply") for w in r.warnings)
    lora = vramrules.evaluate("llama3.1-8b", "train-lora", lora_rank=64, optimizer="adamw-8bit")
    assert not [w for w in lora.warnings if "does not apply" in w]
    code, out = run("eval", "--model", "llama3.1-8b", "--lora-rank", "64", "--format", "json")
    assert code == 0 and any("--lora-rank does not apply" in w for w in json.loads(out)["warnings"])


def test_a_kept_coercion_is_kept_by_type_too():
    """Resolving keeps each input's canonical value (evaluation/scenario._resolve: a sweep
    resolves ~1,200 scenarios from the same defaults). True == 1 in Python, so a value kept for
    batch=1 must not let batch=True through: a boolean is not a batch size."""
    from vramrules.evaluation.evaluate import evaluate_in

    cat = load_catalog()
    assert evaluate_in(cat, "llama3.1-8b", "inference", batch=1).scenario.inputs["batch"] == 1.0
    with pytest.raises(UsageError, match="--batch must be a number, got True"):
        evaluate_in(cat, "llama3.1-8b", "inference", batch=True)
    assert evaluate_in(cat, "llama3.1-8b", "inference", batch=1).scenario.inputs["batch"] == 1.0  # kept, and still right
