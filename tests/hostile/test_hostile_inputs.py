"""Hostile input: every case is one bad file (or option) and asserts the exact error class, where
it is located, and the message. The engine never crashes, hangs, or executes what it reads."""
import json
import re
import struct
import time

import pytest

import vramrules
from vramrules.errors import DataError, EvaluationError, UsageError

pytestmark = pytest.mark.usefixtures("runner")  # every test runs under both evaluators (conftest.runner)

GPU = """gpus:
  bad-gpu:
    name: Bad
    vendor: nvidia
    class: datacenter
    memory: {memory}
    source: test
"""
MODEL = """models:
  bad-model:
    name: Bad
    family: llama
    params: 1000000
    params_source: test
    hidden_size: {hidden}
    num_layers: {layers}
    num_attention_heads: 8
    num_kv_heads: {kv}
    head_dim: 64
    intermediate_size: 1024
    vocab_size: 1000
    tie_word_embeddings: false
    max_context: 4096
    mlp: {mlp}
    norm: rms
    source: test
"""


def model(hidden=512, layers=4, kv=8, mlp="gated"):
    return MODEL.format(hidden=hidden, layers=layers, kv=kv, mlp=mlp)


RULES_HEAD = ("kind: ruleset\nsummary: hostile\nuses: [fit, architecture]\n"
              "defaults: {precision: bf16, kv_precision: bf16, compute_precision: bf16, adapter_precision: bf16, optimizer: adamw,"
              " lora_targets: qv, batch: 1, seq_len: 1024, lora_rank: 8, recompute: none, master_weights: true, attention: flash, dropout: false}\n"
              "rules:\n")


def ruleset(rule_yaml, components="[bad]"):
    return RULES_HEAD + rule_yaml + f"modes:\n  m:\n    summary: x\n    components: {components}\n"


# (id, {relative path: text or bytes}, error class, location regex, message substring, how)
# how: "load" = load the overlay; "eval" = evaluate a scenario on it
LOL = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
DEEP = "gpus:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(80)) + "  " * 81 + "v: 1\n"
CASES = [
    ("billion-laughs", {"gpus.yaml": LOL}, DataError, r"gpus\.yaml:\d+:\d+", "aliases (*name) are not allowed"),
    ("deep-nesting", {"gpus.yaml": DEEP}, DataError, r"gpus\.yaml:\d+:\d+", "nesting deeper than 64 levels"),
    ("tab-indent", {"gpus.yaml": "gpus:\n\tx: 1\n"}, DataError, r"gpus\.yaml:2:1", "invalid YAML"),
    ("non-utf8", {"gpus.yaml": b"gpus:\n  x: \xff\xfe\n"}, DataError, r"gpus\.yaml:2:6", "not UTF-8: byte 0xff"),
    ("fifty-megabytes", {"gpus.yaml": b"# " + b"x" * (50 * 2**20) + b"\n"}, DataError, r"gpus\.yaml", "data files are limited to"),
    ("duplicate-key", {"gpus.yaml": GPU.format(memory="24 GiB").replace("    source: test\n", "    source: test\n    source: again\n")}, DataError, r"gpus\.yaml:8:5", "duplicate key 'source'"),
    ("python-object-tag", {"gpus.yaml": "gpus: !!python/object/apply:os.system ['true']\n"}, DataError, r"gpus\.yaml:1:7", "unsupported tag"),
    ("python-name-tag", {"gpus.yaml": "gpus:\n  x: !!python/name:os.system ''\n"}, DataError, r"gpus\.yaml:2:6", "unsupported tag"),
    ("merge-key", {"gpus.yaml": "gpus:\n  <<: {a: 1}\n"}, DataError, r"gpus\.yaml:2:3", "merge keys (<<) are not allowed"),
    ("number-1e400", {"gpus.yaml": "gpus:\n  x: 1e400\n"}, DataError, r"gpus\.yaml:2:6", "'1e400' is not finite"),
    ("nan", {"gpus.yaml": "gpus:\n  x: .nan\n"}, DataError, r"gpus\.yaml:2:6", "'.nan' is not finite"),
    ("inf", {"gpus.yaml": "gpus:\n  x: -.inf\n"}, DataError, r"gpus\.yaml:2:6", "'-.inf' is not finite"),
    ("unclosed-bracket", {"gpus.yaml": "gpus: [1, 2\n"}, DataError, r"gpus\.yaml:2:1", "invalid YAML"),
    ("top-level-list", {"gpus.yaml": "- 1\n- 2\n"}, DataError, r"gpus\.yaml:1:1", "is not of type object"),
    ("negative-capacity", {"gpus.yaml": GPU.format(memory="-80 GiB")}, DataError, r"gpus\.yaml:6:13", "memory must be positive"),
    ("zero-capacity", {"gpus.yaml": GPU.format(memory="0 GiB")}, DataError, r"gpus\.yaml:6:13", "memory must be positive"),
    ("memory-wrong-dimension", {"gpus.yaml": GPU.format(memory="80 tokens")}, DataError, r"gpus\.yaml:6:13", "is not a memory quantity"),
    ("memory-bad-unit", {"gpus.yaml": GPU.format(memory="80 GiBB")}, DataError, r"gpus\.yaml:6:13", "did you mean 'GiB'?"),
    ("memory-boolean", {"gpus.yaml": GPU.format(memory="true")}, DataError, r"gpus\.yaml:6:13", "is not of type string"),
    ("gpu-id-uppercase", {"gpus.yaml": GPU.format(memory="24 GiB").replace("bad-gpu", "Bad GPU")}, DataError, r"gpus\.yaml:3:5", "ids are kebab-case"),
    ("gpu-unknown-field", {"gpus.yaml": GPU.format(memory="24 GiB") + "    memroy: 1\n"}, DataError, r"gpus\.yaml:8:\d+", "did you mean 'memory'?"),
    ("zero-layers", {"models.yaml": model(layers=0)}, DataError, r"models\.yaml:8:17", "less than the minimum of 1"),
    ("kv-heads-not-dividing", {"models.yaml": model(kv=3)}, DataError, r"models\.yaml:10:19", "does not divide num_attention_heads"),
    ("hidden-size-string", {"models.yaml": model(hidden='"big"')}, DataError, r"models\.yaml:7:18", "is not of type integer"),
    ("huge-hidden-size", {"models.yaml": model(hidden=10**40)}, DataError, r"models\.yaml:7:18", "is greater than the maximum"),
    ("enum-typo", {"models.yaml": model(mlp="gatd")}, DataError, r"models\.yaml:\d+:10", "did you mean 'gated'?"),
    ("rule-division-by-zero", {"rules/hostile.yaml": ruleset("  bad:\n    formula: params_total * precision.bits / (model.num_layers - model.num_layers)\n")},
     EvaluationError, r"hostile\.yaml:7:14", "rule 'bad' failed: division by zero"),
    ("rule-overflow", {"rules/hostile.yaml": ruleset("  bad:\n    formula: 1e30 ** 8 * 1e30 * 1e30 * 1e30 * B\n")},
     EvaluationError, r"hostile\.yaml:7:14", "not a finite number"),
    ("rule-negative-component", {"rules/hostile.yaml": ruleset("  bad:\n    formula: 0 * B - params_total * precision.bits\n")},
     EvaluationError, r"hostile\.yaml:7:14", "component 'bad' is negative"),
    ("rule-cycle", {"rules/hostile.yaml": ruleset("  bad:\n    formula: worse\n  worse:\n    formula: bad\n")},
     DataError, r"hostile\.yaml:\d+:14", "rule cycle: bad -> worse -> bad"),
    ("rule-unknown-name", {"rules/hostile.yaml": ruleset("  bad:\n    formula: params_totl * B\n")}, DataError, r"hostile\.yaml:7:14", "did you mean 'params_total'?"),
    ("rule-syntax", {"rules/hostile.yaml": ruleset("  bad:\n    formula: 1 +* 2\n")}, DataError, r"hostile\.yaml:7:\d+", "syntax error"),
    ("rule-import", {"rules/hostile.yaml": ruleset("  bad:\n    formula: __import__('os').system('true')\n")}, DataError, r"hostile\.yaml:7:14", "method calls are not allowed"),
    ("rule-dunder", {"rules/hostile.yaml": ruleset("  bad:\n    formula: params_total.__class__\n")}, DataError, r"hostile\.yaml:7:14", "may not start with '_'"),
    ("rule-lambda", {"rules/hostile.yaml": ruleset("  bad:\n    formula: \"(lambda: 1)()\"\n")}, DataError, r"hostile\.yaml:7:14", "method calls are not allowed"),
    ("rule-power-tower", {"rules/hostile.yaml": ruleset("  bad:\n    formula: 9**9**9\n")}, DataError, r"hostile\.yaml:7:14", "exponent of ** must be a number"),
    ("rule-too-long", {"rules/hostile.yaml": ruleset("  bad:\n    formula: " + "1 + " * 700 + "1\n")}, DataError, r"hostile\.yaml:7:14", "the limit is 2000"),
    ("rule-dimension", {"rules/hostile.yaml": ruleset("  bad:\n    formula: params_total * precision.bits + model.num_layers\n")}, DataError, r"hostile\.yaml:7:14", "cannot apply '+' to [information] and dimensionless"),
    ("rule-boolean-component", {"rules/hostile.yaml": ruleset("  bad:\n    formula: params_total > 0\n")}, DataError, r"hostile\.yaml:7:14", "must be a memory quantity, got a boolean"),
    ("rule-text-literal", {"rules/hostile.yaml": ruleset("  bad:\n    formula: \"'x' * 3\"\n")}, DataError, r"hostile\.yaml:7:14", "quoted text is only allowed compared"),
    ("rule-bad-choice", {"rules/hostile.yaml": ruleset("  bad:\n    formula: \"B if model.mlp == 'gatd' else B\"\n")}, DataError, r"hostile\.yaml:7:\d+", "'gatd' is not one of: gated, plain"),
    ("rule-unknown-library", {"rules/hostile.yaml": ruleset("  bad:\n    formula: B\n").replace("[fit, architecture]", "[fit, architecture, nope]")}, DataError, r"hostile\.yaml:3:7", "unknown rule library 'nope'"),
    ("mode-component-not-a-rule", {"rules/hostile.yaml": ruleset("  bad:\n    formula: B\n", "[bad, nothing]")}, DataError, r"hostile\.yaml:\d+:\d+", "component 'nothing' of mode 'm' is not a rule"),
    ("assumption-out-of-bounds", {"assumptions.yaml": "assumptions:\n  cuda_context:\n    value: 100 GiB\n    source: stress test\n"}, DataError, r"assumptions\.yaml:3:12", "is outside its bounds"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile_input(case, tmp_path):
    ident, files, error, where, message = case
    for rel, content in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)
    start = time.perf_counter()
    with pytest.raises(error) as e:
        cat = vramrules.load_catalog((str(tmp_path),), full=True)
        if error is EvaluationError or any(r.startswith("rules/") for r in files):
            vramrules.evaluate("llama3.1-8b", "m", rules="hostile", catalog=cat)
    assert time.perf_counter() - start < 10
    text = str(e.value)
    assert message in text, text
    assert re.search(where, text), text


def test_at_least_forty_distinct_cases():
    assert len({c[0] for c in CASES}) >= 40


@pytest.mark.parametrize("option,value,error,message", [
    ("sets", ("assume.allocator_fragmentation=nan",), DataError, "'nan' is not a quantity"),
    ("sets", ("assume.allocator_fragmentation=1e400",), DataError, "outside its bounds"),
    ("seq_len", 0, UsageError, "--seq-len must be a whole number >= 1"),
    ("batch", 2.5, UsageError, "--batch must be a whole number >= 1"),
    ("tp", 7, UsageError, "does not divide the model's 32 attention heads"),
])
def test_hostile_options(option, value, error, message):
    with pytest.raises(error) as e:
        vramrules.evaluate("llama3.1-8b", "inference", **{option: value})
    assert message in str(e.value)


def test_safetensors_header_length_lie_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
                                                      "intermediate_size": 64, "vocab_size": 10, "max_position_embeddings": 64}))
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", 10 * 2**30) + b"{}")
    with pytest.raises(DataError) as e:
        vramrules.evaluate(model_config=str(tmp_path))
    assert "implausibly large" in str(e.value)


def test_config_json_that_is_not_an_object(tmp_path):
    (tmp_path / "config.json").write_text("[1, 2, 3]")
    with pytest.raises(DataError) as e:
        vramrules.evaluate(model_config=str(tmp_path))
    assert "must hold a JSON object" in str(e.value)
