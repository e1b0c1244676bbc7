"""Every command `vramrules fit` prints to verify its answer reproduces that answer when pasted:
it carries the --data overlays, the --set overrides, --rules, --model-config and the layout the
user gave, and the per-GPU figures are labelled per GPU of the layout (issue 19: never print a
wrong answer as success)."""
from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from vramrules.cli import main

HF = Path(__file__).resolve().parent / "cases" / "hf"

SET = "assume.cuda_context=1 GiB"  # data/assumptions.yaml: 500 MiB by default

LAB_CARD = """gpus:
  lab-card:
    name: Lab card 20GB (test overlay)
    vendor: nvidia
    class: consumer
    memory: 20 GiB
    memory_type: GDDR6
    bandwidth: 500 GB/s
    source: "test fixture"
"""


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def overlay(tmp_path):
    """An overlay folder whose name a shell would split: the check command must quote it."""
    d = tmp_path / "org data"
    d.mkdir()
    (d / "gpus.yaml").write_text(LAB_CARD)
    return str(d)


def printed_checks(text: str) -> list[tuple[list[str], str]]:
    """[(argv after `vramrules`, what the line says it shows)] for each eval command printed."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("check:"):
            line = line[len("check:"):].strip()
        if not line.startswith("vramrules eval"):
            continue
        cmd, _, expect = line.partition("   -> ")
        out.append((shlex.split(cmd)[1:], expect.strip() or "fits"))
    return out


def evaluated(argv: list[str]) -> dict:
    """The `eval --format json` document of a pasted check command."""
    r = run(*argv, "--format", "json")
    assert r.exit_code == 0, (argv, r.output)
    return json.loads(r.output)


def fit(*args):
    """(text output, JSON document) of one fit question."""
    text = run("fit", *args)
    assert text.exit_code == 0, text.output
    doc = run("fit", *args, "--format", "json")
    assert doc.exit_code == 0, doc.output
    return text.output, json.loads(doc.output)


def assert_checks_reproduce(text: str, doc: dict) -> list[dict]:
    """Every printed command, and every one in the JSON document, shows what it says it shows."""
    printed = printed_checks(text)
    assert printed, text
    results = []
    for argv, expect in printed:
        e = evaluated(argv)
        assert e["fit"]["fits"] is (expect == "fits"), (argv, expect, e["fit"])
        results.append(e)
    # the JSON document names the same commands (the suggestions' are in doc["suggestions"])
    assert [c["argv"] for c in doc["checks"]] == [a for a, _ in printed[:len(doc["checks"])]]
    assert [c["expect"] for c in doc["checks"]] == [x for _, x in printed[:len(doc["checks"])]]
    for c in doc["checks"]:
        assert shlex.split(c["command"])[1:] == c["argv"]
    assert [s["command"] for s in doc.get("suggestions", [])] == [shlex.join(["vramrules", *a]) for a, _ in printed[len(doc["checks"]):]]
    return results


def test_max_seq_len_checks_carry_data_and_set(overlay):
    text, doc = fit("--model", "llama3.1-8b", "--gpu", "lab-card", "--max", "seq-len", "--data", overlay, "--set", SET)
    answer = doc["answer"]
    assert answer and not doc["note"]
    fits, over = assert_checks_reproduce(text, doc)
    assert fits["inputs"]["seq_len"] == answer and over["inputs"]["seq_len"] == answer + 1
    assert fits["overrides"]["assume.cuda_context"]["value"] == "1 GiB"
    # the --set matters: without it, one more token still fits (so a check that drops it lies)
    _, plain = fit("--model", "llama3.1-8b", "--gpu", "lab-card", "--max", "seq-len", "--data", overlay)
    assert plain["answer"] > answer + 1


def test_max_batch_checks_carry_rules_and_model_config(tmp_path, overlay):
    d = tmp_path / "my model"
    d.mkdir()
    shutil.copy(HF / "qwen2.5-7b.json", d / "config.json")
    text, doc = fit("--model-config", d / "config.json", "--mode", "serve", "--gpu", "lab-card", "--seq-len", "8192",
                    "--max", "batch", "--data", overlay, "--set", SET, "--units", "GB")
    fits, over = assert_checks_reproduce(text, doc)
    assert fits["inputs"]["batch"] == doc["answer"] and over["inputs"]["batch"] == doc["answer"] + 1
    assert fits["model"]["id"] == over["model"]["id"] and fits["units"] == "GB"
    assert "'" in text  # the folder with a space is quoted


def test_min_gpus_and_suggestion_commands_carry_data_and_set(overlay):
    text, doc = fit("--model", "llama3.1-8b", "--gpu", "lab-card", "--seq-len", "65536", "--data", overlay, "--set", SET)
    assert doc["fits_on_one"] is False and doc["answer"] and doc["suggestions"]
    given, best, *suggested = assert_checks_reproduce(text, doc)
    assert given["fit"]["needed_per_gpu"]["bytes"] == doc["as_given"]["needed_per_gpu"]["bytes"]
    assert best["fit"]["gpus"] == doc["answer"] and best["fit"]["fits"]
    assert len(suggested) == len(doc["suggestions"])
    for e, s in zip(suggested, doc["suggestions"]):
        assert e["fit"]["headroom_per_gpu"]["bytes"] == pytest.approx(s["headroom"]["bytes"])
        assert e["overrides"]["assume.cuda_context"]["value"] == "1 GiB"


def test_tp4_is_reported_per_gpu_of_four_and_the_search_keeps_it():
    text, doc = fit("--model", "llama3-70b", "--mode", "inference", "--gpu", "rtx-4090", "--tp", "4", "--no-suggest")
    first = text.splitlines()[0]
    assert not first.startswith("one ") and first.startswith("4 x rtx-4090 (tp 4 x pp 1 x dp 1): does not fit")
    assert "per GPU" in first and doc["fits_on_one"] is None and doc["as_given"]["gpus"] == 4
    given, best = assert_checks_reproduce(text, doc)
    assert given["fit"]["gpus"] == 4
    assert given["fit"]["needed_per_gpu"]["bytes"] == doc["as_given"]["needed_per_gpu"]["bytes"]
    assert doc["layout"]["tp"] == 4 and best["inputs"]["tp"] == 4  # the user's --tp, not tp 8
    assert best["fit"]["gpus"] == doc["answer"] == 8 and best["fit"]["fits"]
    assert "with --tp 4 kept" in text


def test_tp4_max_is_on_four_gpus():
    text, doc = fit("--model", "llama3-70b", "--gpu", "rtx-4090", "--tp", "4", "--precision", "awq-int4-g128",
                    "--seq-len", "8192", "--max", "batch")
    assert "on 4 x rtx-4090 (tp 4 x pp 1 x dp 1):" in text and "1 x rtx-4090" not in text
    assert doc["layout"] == {"gpus": 4, "tp": 4, "pp": 1, "dp": 1}
    fits, over = assert_checks_reproduce(text, doc)
    assert fits["fit"]["gpus"] == 4 and fits["inputs"]["batch"] == doc["answer"] and over["inputs"]["batch"] == doc["answer"] + 1


def test_tp4_max_that_nothing_fits_names_the_layout():
    text, doc = fit("--model", "llama3-70b", "--gpu", "rtx-4090", "--tp", "4", "--max", "seq-len")
    assert doc["answer"] is None and "nothing fits on 4 x rtx-4090" in text
    assert_checks_reproduce(text, doc)


def test_training_search_grows_only_what_the_user_left_free():
    text, doc = fit("--model", "llama3-70b", "--mode", "train-full", "--gpu", "h100-sxm-80gb", "--tp", "2", "--no-suggest")
    assert doc["layout"]["tp"] == 2
    _, best = assert_checks_reproduce(text, doc)
    assert best["inputs"]["tp"] == 2 and best["fit"]["gpus"] == doc["answer"]


def test_a_fully_given_layout_that_does_not_fit_says_the_search_cannot_grow_it():
    text, doc = fit("--model", "llama3-70b", "--mode", "train-full", "--gpu", "h100-sxm-80gb",
                    "--tp", "8", "--pp", "1", "--dp", "1", "--no-suggest")
    assert doc["answer"] is None and "leave one out" in doc["note"] and "none found" in text
    assert not any(line.startswith("one ") for line in text.splitlines())
    assert_checks_reproduce(text, doc)


def test_gpus_that_fit_with_tp_is_labelled_per_gpu():
    text, doc = fit("--model", "llama3-70b", "--tp", "4")
    assert "on one card" not in text and "on 4 GPUs of one type" in text
    assert doc["gpus_per_layout"] == 4 and all(g["count"] == 4 for g in doc["gpus"])


def test_a_gpu_alias_made_of_digits_is_not_taken_for_a_placement():
    text, doc = fit("--model", "llama3.1-8b", "--gpu", "4090", "--tp", "2", "--max", "batch", "--seq-len", "8192")
    assert "on 2 x 4090 (tp 2 x pp 1 x dp 1):" in text and doc["layout"]["gpus"] == 2
    fits, over = assert_checks_reproduce(text, doc)
    assert fits["fit"]["gpus"] == 2 and fits["inputs"]["batch"] == doc["answer"]
