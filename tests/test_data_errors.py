"""Broken copies of the shipped data: every problem located (FILE:LINE:COL: /pointer: message
(hint)), all reported at once, exit 1, never a traceback."""
import re
import shutil

import pytest
from click.testing import CliRunner

from vramrules.cli import main


@pytest.fixture
def data(tmp_path, builtin_data):
    dst = tmp_path / "data"
    shutil.copytree(builtin_data, dst)
    return dst


def edit(path, old, new, count=1):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def line_of(path, needle):
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return i, line.index(needle.strip()) + 1
    raise AssertionError(needle)


def validate(data):
    r = CliRunner().invoke(main, ["validate", "--data", str(data), "--only"], catch_exceptions=False)
    assert "Traceback" not in r.output
    return r


def test_bad_unit_is_located_with_did_you_mean(data):
    gpus = data / "gpus.yaml"
    edit(gpus, "memory: 80 GiB", "memory: 80 GiBB")
    r = validate(data)
    assert r.exit_code == 1
    line, _ = line_of(gpus, "memory: 80 GiBB")
    assert re.search(rf"gpus\.yaml:{line}:\d+: /gpus/h100-sxm-80gb/memory: '80 GiBB': unknown unit 'GiBB' \(hint: did you mean 'GiB'\?\)", r.output), r.output


def test_memory_with_wrong_dimension(data):
    edit(data / "gpus.yaml", "memory: 80 GiB", "memory: 80 param")
    r = validate(data)
    assert r.exit_code == 1
    assert "/gpus/h100-sxm-80gb/memory: '80 param' is not a memory quantity (it is a plain number)" in r.output


def test_unknown_field_suggests_the_right_one(data):
    models = data / "models.yaml"
    edit(models, "    hidden_size: 8192\n", "    hidden_sise: 8192\n")
    r = validate(data)
    assert r.exit_code == 1
    assert "unknown field 'hidden_sise' (hint: did you mean 'hidden_size'?)" in r.output
    assert "missing required field 'hidden_size'" in r.output


def test_duplicate_keys_are_an_error(data):
    models = data / "models.yaml"
    edit(models, "    num_layers: 80\n", "    num_layers: 80\n    num_layers: 79\n")
    r = validate(data)
    assert r.exit_code == 1
    line, col = line_of(models, "num_layers: 79")
    assert f"models.yaml:{line}:{col}: " in r.output
    assert "duplicate key 'num_layers'" in r.output


def test_tabs_are_located(data):
    p = data / "optimizers.yaml"
    edit(p, "  adamw:\n", "\tadamw:\n")
    r = validate(data)
    assert r.exit_code == 1
    assert re.search(r"optimizers\.yaml:\d+:\d+: invalid YAML", r.output), r.output


def test_all_problems_reported_at_once_sorted(data):
    edit(data / "gpus.yaml", "memory: 80 GiB", "memory: 80 GiBB")
    edit(data / "models.yaml", "    hidden_size: 8192\n", "    hidden_size: -1\n")
    edit(data / "precisions.yaml", "bits: 16 bit", "bits: 16 bitt")
    r = validate(data)
    assert r.exit_code == 1
    lines = [l for l in r.output.splitlines() if re.match(r"^\S+\.yaml:\d+:\d+: ", l)]
    assert len(lines) >= 3
    keys = [(l.split(":")[0], int(l.split(":")[1]), int(l.split(":")[2])) for l in lines]
    assert keys == sorted(keys)
    assert "problems" in r.output


def test_unknown_name_in_rule_suggests(data):
    rules = data / "rules" / "default.yaml"
    edit(rules, "formula: attention_layers * kv_values_per_token_per_layer * kv_precision.bits",
         "formula: model.num_layer * kv_values_per_token_per_layer * kv_precision.bits")
    r = validate(data)
    assert r.exit_code == 1
    line, _ = line_of(rules, "model.num_layer *")
    assert f"default.yaml:{line}:" in r.output
    assert "unknown field 'model.num_layer' (hint: did you mean 'model.num_layers'?)" in r.output


def test_unknown_rule_name_suggests(data):
    rules = data / "rules" / "default.yaml"
    edit(rules, "formula: input.batch * kv_layer_tokens * stage_fraction",
         "formula: input.batch * kv_layer_token * stage_fraction")
    r = validate(data)
    assert "unknown name 'kv_layer_token' (hint: did you mean 'kv_layer_tokens'?)" in r.output


def test_cycle_is_reported_as_a_path(data):
    rules = data / "rules" / "default.yaml"
    edit(rules, "min(context_tokens, group.window) if group.attention == 'window' else context_tokens)\n",
         "min(context_tokens, group.window) if group.attention == 'window' else context_tokens) + kv_cache / B\n")
    r = validate(data)
    assert r.exit_code == 1
    assert "rule cycle: kv_cache -> kv_layer_tokens -> group_kv_tokens -> kv_cache (hint" in r.output


def test_a_cycle_and_an_unknown_name_are_reported_together(data):
    rules = data / "rules" / "default.yaml"
    edit(rules, "min(context_tokens, group.window) if group.attention == 'window' else context_tokens)\n",
         "min(context_tokens, group.window) if group.attention == 'window' else context_tokens) + kv_cache / B\n")
    edit(rules, "formula: attention_layers * kv_values_per_token_per_layer * kv_precision.bits",
         "formula: model.num_layer * kv_values_per_token_per_layer * kv_precision.bits")
    r = validate(data)
    assert "rule cycle: kv_cache -> kv_layer_tokens -> group_kv_tokens -> kv_cache (hint" in r.output
    assert "unknown field 'model.num_layer'" in r.output


def test_dimension_error_names_both_sides(data):
    rules = data / "rules" / "default.yaml"
    edit(rules, "formula: gpu_linear_params + gpu_expert_params + gpu_norm_params + gpu_embedding_params",
         "formula: gpu_linear_params * B + gpu_expert_params")
    r = validate(data)
    assert r.exit_code == 1
    assert "rule 'params_per_gpu': cannot apply '+' to [information] and dimensionless" in r.output


def test_forbidden_python_in_formula(data):
    rules = data / "rules" / "fit.yaml"
    edit(rules, "formula: headroom >= 0 * B", "formula: __import__('os').system('true')")
    r = validate(data)
    assert r.exit_code == 1
    assert "/rules/fits/formula: rule 'fits': method calls are not allowed" in r.output


def test_block_layout_must_agree_with_bits(data):
    edit(data / "precisions.yaml", "bits: 8.5 bit", "bits: 8.4 bit")
    r = validate(data)
    assert r.exit_code == 1
    assert "disagree with the block layout (34 bytes per 32 weights = 8.5 bit)" in r.output


def test_parameter_count_off_by_more_than_tolerance(data):
    edit(data / "models.yaml", "    intermediate_size: 53248\n", "    intermediate_size: 50000\n")
    r = validate(data)
    assert r.exit_code == 1
    assert "/models/llama3.1-405b/params: architecture gives" in r.output
    assert "from the published 405,853,388,800 (tolerance 0.5%)" in r.output


def test_kv_heads_must_divide_heads(data):
    models = data / "models.yaml"
    edit(models, "    num_kv_heads: 8\n", "    num_kv_heads: 7\n")
    r = validate(data)
    assert "does not divide num_attention_heads" in r.output


def test_broken_overlay_fails_eval_with_exit_1(tmp_path):
    (tmp_path / "gpus.yaml").write_text("gpus:\n  my-gpu:\n    name: x\n    vendor: nvidia\n    class: datacenter\n    memory: 24 GB\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["eval", "--model", "llama2-7b", "--data", str(tmp_path)], catch_exceptions=False)
    assert r.exit_code == 1
    assert "gpus.yaml:3:5: /gpus/my-gpu: missing required field 'source'" in r.output


def test_overlay_adds_a_gpu(tmp_path):
    (tmp_path / "gpus.yaml").write_text(
        "gpus:\n  my-gpu:\n    name: Lab card\n    vendor: nvidia\n    class: datacenter\n    memory: 24 GiB\n    source: our lab\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--gpu", "my-gpu", "--data", str(tmp_path)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "usable per GPU   24.00 GiB" in r.output


def test_an_assumption_no_rule_reads_is_an_error(data):
    edit(data / "assumptions.yaml", "assumptions:\n", "assumptions:\n  forgotten_ratio:\n    value: 0.3\n    dimension: dimensionless\n    source: a policy nobody applies\n")
    r = validate(data)
    assert r.exit_code == 1
    assert "/assumptions/forgotten_ratio: no rule reads assume.forgotten_ratio" in r.output


def test_an_overlay_value_of_the_wrong_dimension_is_reported_at_the_overlays_line(tmp_path):
    """assumptions.yaml declares each assumption's dimension; an overlay that writes 0.5 where a
    memory belongs is located in the overlay, not inside the built-in rule that reads it."""
    org = tmp_path / "org"
    org.mkdir()
    (org / "assumptions.yaml").write_text("assumptions:\n  cuda_context:\n    value: 0.5\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--data", str(org)])
    assert r.exit_code == 1
    assert r.output.startswith(f"{org / 'assumptions.yaml'}:3:12: /assumptions/cuda_context/value: assume.cuda_context = 0.5 is dimensionless, "
                               "but assume.cuda_context is declared a memory quantity")
    assert "/rules/" not in r.output and "bounds" not in r.output  # one problem, in the file that has it


def validate_json(data):
    r = CliRunner().invoke(main, ["validate", "--data", str(data), "--only", "--format", "json"], catch_exceptions=False)
    import json

    return r.exit_code, json.loads(r.output)


def test_errors_as_objects_with_stable_codes(data):
    """--format json gives [{code, file, line, col, pointer, message, hint}] (OPA's error objects
    are the model); the codes name the stage, so a script can tell a typo from a cycle."""
    assert validate_json(data) == (0, [])
    edit(data / "gpus.yaml", "memory: 80 GiB", "memory: 80 GiBB")
    edit(data / "rules" / "default.yaml", "min(context_tokens, group.window) if group.attention == 'window' else context_tokens)\n",
         "min(context_tokens, group.window) if group.attention == 'window' else context_tokens) + kv_cache / B\n")
    code, objs = validate_json(data)
    assert code == 1
    assert [set(o) for o in objs] == [{"code", "file", "line", "col", "pointer", "message", "hint"}] * len(objs)
    unit = next(o for o in objs if "GiBB" in o["message"])
    line, col = line_of(data / "gpus.yaml", "memory: 80 GiBB")
    assert unit["code"] == "schema_error" and unit["file"].endswith("gpus.yaml") and unit["line"] == line
    assert unit["hint"] == "did you mean 'GiB'?"
    (data / "models.yaml").write_text("models:\n  a: 1\n  a: 2\n", encoding="utf-8")
    code, objs = validate_json(data)
    assert {o["code"] for o in objs} == {"yaml_error"}  # a file that does not load stops the rest


def test_rule_and_usage_error_codes(data, tmp_path):
    edit(data / "rules" / "default.yaml", "min(context_tokens, group.window) if group.attention == 'window' else context_tokens)\n",
         "min(context_tokens, group.window) if group.attention == 'window' else context_tokens) + kv_cache / B\n")
    edit(data / "rules" / "default.yaml", "formula: attention_layers * kv_values_per_token_per_layer * kv_precision.bits",
         "formula: model.num_layer * kv_values_per_token_per_layer * kv_precision.bits")
    code, objs = validate_json(data)
    assert {o["code"] for o in objs} == {"rule_cycle", "rule_error"}
    r = CliRunner().invoke(main, ["eval", "--model", "llama3-7b", "--format", "json"])
    import json

    assert r.exit_code == 2 and json.loads(r.output)[0]["code"] == "usage_error"
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--batch", "x", "--format", "json"])
    assert r.exit_code == 2 and json.loads(r.output)[0]["code"] == "usage_error" and "--batch" in json.loads(r.output)[0]["message"]


@pytest.mark.parametrize("name,hint", [
    ("assumptions.yml", "did you mean 'assumptions.yaml'?"),
    ("assumption.yaml", "did you mean 'assumptions.yaml'?"),
    ("rules/mine.yml", "rule files are regular files named rules/NAME.yaml"),
])
def test_an_overlay_file_no_layer_reads_is_an_error(tmp_path, name, hint):
    """In a policy review, an override that does nothing must not pass as `ok`."""
    org = tmp_path / "org"
    (org / "rules").mkdir(parents=True)
    (org / name).write_text("assumptions:\n  cuda_context:\n    value: 1 GiB\n", encoding="utf-8")
    for args in (["validate"], ["eval", "--model", "llama3.1-8b"]):
        r = CliRunner().invoke(main, [*args, "--data", str(org)])
        assert r.exit_code == 1 and f"{org / name}: this" in r.output and hint in r.output, r.output


def test_a_data_file_that_is_a_folder_or_fifo_is_an_error(tmp_path):
    import os

    org = tmp_path / "org"
    (org / "gpus.yaml").mkdir(parents=True)
    os.mkfifo(org / "models.yaml")
    r = CliRunner().invoke(main, ["validate", "--data", str(org)])
    assert r.exit_code == 1
    assert f"{org / 'gpus.yaml'}: not a regular file" in r.output and f"{org / 'models.yaml'}: not a regular file" in r.output


def test_a_misnamed_file_added_later_is_not_hidden_by_the_warm_cache(tmp_path):
    org = tmp_path / "org"
    org.mkdir()
    (org / "gpus.yaml").write_text("gpus: {}\n", encoding="utf-8")
    assert CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--data", str(org)]).exit_code == 0
    (org / "assumptions.yml").write_text("assumptions: {}\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--data", str(org)])
    assert r.exit_code == 1 and "this file is not read" in r.output


def test_an_overlay_rule_named_total_is_an_error(tmp_path):
    org = tmp_path / "org"
    (org / "rules").mkdir(parents=True)
    (org / "rules" / "default.yaml").write_text("modes:\n  inference:\n    rules:\n      total: {formula: 1 * B, unit: B}\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["validate", "--data", str(org)])
    assert r.exit_code == 1 and "rule name 'total' is the engine's: the sum of the mode's components" in r.output


@pytest.mark.parametrize("env,args,message", [
    ({}, ["--data", "/nonexistent/org-data"], "--data /nonexistent/org-data: no such folder"),
    ({"VRAMRULES_DATA": "/nonexistent/env-data"}, [], "VRAMRULES_DATA /nonexistent/env-data: no such folder"),
])
def test_a_missing_data_folder_is_a_usage_error(env, args, message):
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", *args], env=env)
    assert r.exit_code == 2 and message in r.output


def test_a_measurement_naming_an_entry_the_catalog_lacks_is_refused_by_validate(tmp_path):
    """validate used to pass a measurement whose scenario names a model, GPU or precision the
    catalog lacks, which check-measurements then could not evaluate (exit 1): found by
    tests/hostile/test_loaders_property.py with `model: ''` and a misspelt id."""
    org = tmp_path / "org"
    org.mkdir()
    (org / "measurements.yaml").write_text(
        "measurements:\n  ours:\n    summary: a run\n    scenario: {model: llama3.1-8bb, mode: inference, gpu: rtx-4090, precision: bf16}\n"
        "    measures: engine_kv_cache\n    measured: 1024 MiB\n    tolerance: 0.01\n    framework: ours\n    source: ours\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["validate", "--data", str(org)])
    assert r.exit_code == 1
    assert r.output.startswith(f"{org / 'measurements.yaml'}:4:23: /measurements/ours/scenario/model: unknown model 'llama3.1-8bb'"), r.output
    assert "llama3.1-8b" in r.output  # the closest id, as a hint


def test_a_serve_measurement_without_a_gpu_is_refused_by_validate(tmp_path):
    """serve reads the GPU's capacity: a measurement of it that names no GPU cannot be checked
    (found by the hostile loader properties: a vLLM pool entry with its gpu key dropped)."""
    org = tmp_path / "org"
    org.mkdir()
    (org / "measurements.yaml").write_text(
        "measurements:\n  ours:\n    summary: a run\n    scenario: {model: llama3.1-8b, mode: serve}\n"
        "    measures: engine_kv_cache\n    measured: 1024 MiB\n    tolerance: 0.01\n    framework: ours\n    source: ours\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["validate", "--data", str(org)])
    assert r.exit_code == 1
    assert r.output.startswith(f"{org / 'measurements.yaml'}:4:15: /measurements/ours/scenario: mode 'serve' reads the GPU's capacity"), r.output
    (org / "measurements.yaml").write_text((org / "measurements.yaml").read_text(encoding="utf-8").replace("mode: serve", "mode: serv"), encoding="utf-8")
    r = CliRunner().invoke(main, ["validate", "--data", str(org)])
    assert r.exit_code == 1 and "/measurements/ours/scenario/mode: unknown mode 'serv' of rule set 'default'" in r.output, r.output
