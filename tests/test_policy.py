"""Policy reviews: overlays with provenance, --set, show, assumptions --stale, diff, report."""
import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from vramrules.api import load_catalog
from vramrules.cli import main


def run(*args, **kw):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, **kw)


ORG = """assumptions:
  cuda_context:
    value: 1 GiB
    source: "measured on our cluster, CUDA 12.4"
    owner: platform-team
    reviewed: 2026-11-20
"""


@pytest.fixture
def org(tmp_path):
    d = tmp_path / "org"
    d.mkdir()
    (d / "assumptions.yaml").write_text(ORG, encoding="utf-8")
    return d


def test_overlay_changes_one_field_and_show_says_where(org):
    r = run("show", "assumption", "cuda_context", "--data", str(org))
    assert r.exit_code == 0
    assert "1 GiB" in r.output
    assert f"{org}/assumptions.yaml:3:12 (--data {org})" in r.output or "assumptions.yaml:3:12 (--data" in r.output
    assert "summary" in r.output and "(built-in)" in r.output  # fields the overlay did not touch stay built-in


def test_vramrules_data_env_is_a_layer(org):
    r = run("show", "assumption", "cuda_context", env={"VRAMRULES_DATA": str(org)})
    assert "VRAMRULES_DATA:" in r.output and "1 GiB" in r.output


def test_show_model_includes_schema_defaults():
    r = run("show", "model", "llama3-70b")
    assert r.exit_code == 0
    assert "hidden_size" in r.output and "models.yaml:" in r.output
    assert "moe.num_experts" in r.output and "schema default" in r.output


def test_show_unknown_id_exits_2():
    r = run("show", "gpu", "h100")
    assert r.exit_code == 2 and "did you mean" in r.output


def test_set_is_recorded_in_text_and_json():
    r = run("eval", "--model", "llama3.1-8b", "--set", "assume.cuda_context=1 GiB")
    assert "overridden: assume.cuda_context = 1 GiB (was 500 MiB; --set)" in r.output
    doc = json.loads(run("eval", "--model", "llama3.1-8b", "--set", "assume.cuda_context=1 GiB", "--format", "json").output)
    assert doc["overrides"] == {"assume.cuda_context": {"value": "1 GiB", "was": "500 MiB"}}


@pytest.mark.parametrize("value,exit_code,message", [
    ("assume.cuda_context=1 param", 1, "is a plain number, but assume.cuda_context is a memory quantity"),
    ("assume.cuda_context=1 GiBB", 1, "unknown unit 'GiBB' (hint: did you mean 'GiB'?)"),
    ("assume.cuda_context=9 GiB", 1, "is outside its bounds [270 MiB, 2 GiB]"),
    ("assume.cuda_contxt=1 GiB", 2, "unknown assumption 'assume.cuda_contxt' (did you mean: assume.cuda_context?)"),
    ("model.hidden_size=1", 2, "only assumptions can be set"),
    ("assume.cuda_context", 2, "expected NAME=VALUE"),
])
def test_set_is_checked_like_file_data(value, exit_code, message):
    r = run("eval", "--model", "llama3.1-8b", "--set", value)
    assert r.exit_code == exit_code
    assert message in r.output
    assert "Traceback" not in r.output


def test_assumptions_stale_exits_4_for_ci(org):
    r = run("assumptions", "--stale", "30", "--today", "2026-12-01", "--data", str(org))
    assert r.exit_code == 0, r.output  # every built-in and the overlay reviewed within 30 days
    r = run("assumptions", "--stale", "5", "--today", "2026-12-01", "--data", str(org))
    assert r.exit_code == 4
    assert "assume.framework_buffers" in r.output and "assume.cuda_context" in r.output
    r = run("assumptions", "--stale", "10", "--today", "2026-12-01", "--data", str(org), "--format", "json")
    names = [a["name"] for a in json.loads(r.output)]
    assert "assume.cuda_context" in names and all(n.startswith("assume.") for n in names)


def test_diff_lists_changed_assumption_and_moved_estimates(org):
    r = run("diff", "builtin", str(org), "--models", "llama3.1-8b,qwen2.5-0.5b", "--modes", "inference")
    assert r.exit_code == 0
    assert "assume.cuda_context: 500 MiB -> 1 GiB" in r.output
    assert "source: measured on our cluster, CUDA 12.4" in r.output
    # +524 MiB of context on a 1.70 GiB estimate is the largest relative move
    lines = r.output.split("estimates moved: 2\n")[1].splitlines()
    assert lines[0].startswith("  qwen2.5-0.5b · inference: 1.70 GiB -> 2.21 GiB")


def test_diff_fail_on_flip(tmp_path):
    d = tmp_path / "frag"
    d.mkdir()
    (d / "assumptions.yaml").write_text("assumptions:\n  allocator_fragmentation:\n    value: 0.5\n    source: stress test\n", encoding="utf-8")
    r = run("diff", "builtin", str(d), "--models", "llama3.1-8b", "--modes", "inference", "--gpus", "l4", "--fail-on", "flip")
    assert r.exit_code == 4
    assert "llama3.1-8b · inference · l4: fits -> does not fit" in r.output
    md = run("diff", "builtin", str(d), "--models", "llama3.1-8b", "--modes", "inference", "--gpus", "l4", "--format", "markdown").output
    assert "#### Fit verdicts flipped" in md and "**does not fit**" in md
    doc = json.loads(run("diff", "builtin", str(d), "--models", "llama3.1-8b", "--modes", "inference", "--gpus", "l4", "--format", "json").output)
    assert doc["flips"][0]["before"] is True and doc["flips"][0]["after"] is False


def test_diff_against_a_git_revision(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "org-data").mkdir(parents=True)
    (repo / "org-data" / "assumptions.yaml").write_text(ORG, encoding="utf-8")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "org data"]):
        subprocess.run(cmd, cwd=repo, check=True, env=env)
    (repo / "org-data" / "assumptions.yaml").write_text(ORG.replace("1 GiB", "768 MiB"), encoding="utf-8")
    monkeypatch.chdir(repo)
    r = run("diff", "git:HEAD:org-data/", "org-data", "--models", "llama3.1-8b", "--modes", "inference", "--gpus", "l4")
    assert r.exit_code == 0, r.output
    assert "assume.cuda_context: 1 GiB -> 768 MiB" in r.output
    r = run("diff", "git:nope:org-data/", "org-data")
    assert r.exit_code == 2 and "git " in r.output


def test_report_is_written_atomically_and_never_clobbered(tmp_path, org):
    out = tmp_path / "review.html"
    r = run("report", "--out", str(out), "--models", "llama3.1-8b,llama3-70b", "--data", str(org), "--base", "builtin")
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "http-equiv" not in html
    assert 'id="assumption-table"' in html and 'id="matrix-table"' in html and 'id="diff-changes"' in html
    modes = len(load_catalog(()).rulesets["default"].modes)  # every mode of the default rule set (13 since the RL modes)
    assert modes >= 13 and html.count('class="chart"') == modes and 'class="capacity"' in html  # one chart per mode
    before = out.read_text(encoding="utf-8")
    r = run("report", "--out", str(out))
    assert r.exit_code == 2 and "exists; pass --force" in r.output
    assert out.read_text(encoding="utf-8") == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".review.html.")]


def test_report_markdown(tmp_path):
    out = tmp_path / "review.md"
    r = run("report", "--out", str(out), "--models", "llama3.1-8b", "--modes", "inference")
    assert r.exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert "## Assumptions" in text and "| llama3.1-8b | inference |" in text


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    from vramrules import writefile

    target = tmp_path / "keep.html"
    target.write_text("old", encoding="utf-8")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writefile.os, "replace", boom)
    with pytest.raises(writefile.WriteError):
        writefile.atomic_write(target, "new" * 1000, force=True)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.html"]


def test_a_file_that_appears_while_it_is_written_is_kept(tmp_path):
    """Without --force, a file that another program created while vramrules wrote (between the
    exists check and the rename) is kept as that program made it, for every writer: the report,
    the web page and the streamed sweep share writefile.atomic_stream (the plain writes used to
    rename over it)."""
    from vramrules import writefile
    from vramrules.errors import UsageError

    target = tmp_path / "page.html"
    with pytest.raises(UsageError, match="appeared while vramrules wrote it"):
        with writefile.atomic_stream(target) as f:
            f.write("ours")
            target.write_text("theirs", encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]  # no temporary file left
    writefile.atomic_write(target, "ours", force=True)
    assert target.read_text(encoding="utf-8") == "ours"
    with pytest.raises(RuntimeError):  # an error inside the block: nothing is placed
        with writefile.atomic_stream(tmp_path / "half.csv") as f:
            f.write("a,b\n")
            raise RuntimeError("the sweep failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


def test_diff_with_a_matrix_file(tmp_path, org):
    m = tmp_path / "matrix.yaml"
    m.write_text("scenarios:\n  - {model: llama3.1-8b, mode: inference, gpu: l4, seq_len: 32768}\n"
                 "  - {model: qwen2.5-7b, mode: train-lora, gpu: a100-80gb, lora_rank: 64}\n", encoding="utf-8")
    r = run("diff", "builtin", str(org), "--matrix", str(m), "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["scenarios"] == 2
    assert {mv["scenario"] for mv in doc["moves"]} == {"llama3.1-8b · inference · seq_len=32768", "qwen2.5-7b · train-lora · lora_rank=64"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios:\n  - {model: llama3.1-8b}\n", encoding="utf-8")
    r = run("diff", "builtin", str(org), "--matrix", str(bad))
    assert r.exit_code == 2 and "each scenario needs model, mode and gpu" in r.output


def _model_overlay(folder, ident, like="llama3.1-8b"):
    """An overlay models.yaml with one model: a copy of a built-in one under a new id."""
    import yaml

    from vramrules.reading.datadir import builtin_data_dir
    entry = yaml.safe_load((Path(builtin_data_dir()) / "models.yaml").read_text(encoding="utf-8"))["models"][like]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "models.yaml").write_text(yaml.safe_dump({"models": {ident: entry}}, allow_unicode=True), encoding="utf-8")
    return folder


def test_diff_gate_fails_on_scenarios_it_could_not_evaluate(tmp_path):
    """A typo in a matrix file makes its scenarios fail on both sides: they are listed with their
    error in every format, and --fail-on fails (exit 4) instead of passing with 'flipped: 0'."""
    m = tmp_path / "matrix.yaml"
    m.write_text("scenarios:\n  - {model: llama3.1-8bb, mode: inference, gpu: l4}\n"
                 "  - {model: llama3.1-8b, mode: inferense, gpu: l4}\n"
                 "  - {model: llama3.1-8b, mode: inference, gpu: l4}\n", encoding="utf-8")
    r = run("diff", "builtin", "builtin", "--matrix", str(m), "--fail-on", "flip")
    assert r.exit_code == 4, r.output
    assert "fit verdicts flipped: 0" in r.output
    assert "scenarios not evaluated: 2\n" in r.output
    assert "  llama3.1-8bb · inference · l4: on both sides: unknown model 'llama3.1-8bb' (did you mean: llama3.1-8b" in r.output
    assert "  llama3.1-8b · inferense · l4: on both sides: unknown mode 'inferense' (did you mean: inference?)" in r.output
    assert "--fail-on flip: 2 of 3 scenario(s) could not be evaluated" in r.output
    assert run("diff", "builtin", "builtin", "--matrix", str(m), "--fail-on", "move").exit_code == 4
    # without a gate the listing is the same and the exit is 0
    r = run("diff", "builtin", "builtin", "--matrix", str(m))
    assert r.exit_code == 0 and "scenarios not evaluated: 2\n" in r.output
    r = run("diff", "builtin", "builtin", "--matrix", str(m), "--format", "json", "--fail-on", "flip")
    assert r.exit_code == 4
    doc = json.loads(r.stdout)
    assert doc["not_evaluated"] == 2 and doc["flips"] == []
    assert [(e["scenario"], e["side"]) for e in doc["errors"]] == [
        ("llama3.1-8bb · inference · l4", "both"), ("llama3.1-8b · inferense · l4", "both")]
    assert doc["errors"][1]["message"].startswith("unknown mode 'inferense'")
    r = run("diff", "builtin", "builtin", "--matrix", str(m), "--format", "markdown", "--fail-on", "flip")
    assert r.exit_code == 4
    assert "**2 not evaluated**" in r.stdout and "#### Scenarios not evaluated" in r.stdout
    assert "| llama3.1-8bb · inference · l4 | both sides | unknown model 'llama3.1-8bb'" in r.stdout


def test_diff_gate_one_sided_failures(tmp_path):
    """A scenario the change broke (it fails on the new side only) fails the gate; one that is
    new (its model exists on the new side only) is listed but has nothing to be compared to."""
    mine = _model_overlay(tmp_path / "mine", "our-llama")
    m = tmp_path / "matrix.yaml"
    m.write_text("scenarios:\n  - {model: our-llama, mode: inference, gpu: l4}\n", encoding="utf-8")
    r = run("diff", str(mine), "builtin", "--matrix", str(m), "--fail-on", "flip")
    assert r.exit_code == 4
    assert "scenarios not evaluated: 1\n  our-llama · inference · l4: on the new side: unknown model 'our-llama'" in r.output
    r = run("diff", "builtin", str(mine), "--matrix", str(m), "--fail-on", "flip")
    assert r.exit_code == 0, r.output
    assert "scenarios not evaluated: 1\n  our-llama · inference · l4: on the base side: unknown model 'our-llama'" in r.output


def test_matrix_file_values_that_are_not_names_are_usage_errors(tmp_path):
    m = tmp_path / "matrix.yaml"
    m.write_text("scenarios:\n  - {model: llama3.1-8b, mode: inference, gpu: l4}\n  - {model: 5, mode: inference, gpu: l4}\n", encoding="utf-8")
    r = run("diff", "builtin", "builtin", "--matrix", str(m))
    assert r.exit_code == 2 and "matrix.yaml:3:13: model: 5 is not a name" in r.output
    m.write_text("scenarios:\n  - {model: llama3.1-8b, mode: inference, gpu: l4, seq_len: [1, 2]}\n", encoding="utf-8")
    r = run("diff", "builtin", "builtin", "--matrix", str(m))
    assert r.exit_code == 2 and "seq_len: [1, 2] is not a value (a number or a word)" in r.output
