"""Low / best / high of a serve answer (evaluation/uncertainty.py): every assumption and engine
setting with a measured `spread` evaluated at its low end and at its high end, the verdict
saying when the answer fits at best but not at high, and the settings fitted to measurements
named with them."""
from __future__ import annotations

from cli_run import doc, run, vllm_overlay

import vramrules
from vramrules.evaluation.uncertainty import bounds, verdict_note

MiB = 2**20
GiB = 2**30


def test_vllm_0151_pool_does_not_move_with_the_context_but_with_the_drivers_reservation():
    """vLLM sizes its budget from CUDA's total and measures its non-KV memory against the snapshot
    its start-up took with the context already there (vllm/v1/worker/gpu_worker.py init_device):
    assume.cuda_context's spread (270 / 500 / 640 MiB, PyTorch PR #86509) moves the GPU's total
    but not the pool. On an A100 40GB, whose CUDA total a log prints (39.38 GiB), the pool
    (157,936 tokens, as vLLM logs) has no ends; on an H100, where none was observed,
    assume.driver_reserved_memory (0.42 / 0.5 / 0.62 GiB) moves it by 0.9 x 0.08 GiB up and
    0.9 x 0.12 GiB down, the tokens whole blocks of 16."""
    r = vramrules.evaluate(model="llama3.1-8b", gpu="a100-40gb", engine="vllm@0.15.1")
    b = bounds(r)
    assert [t["name"] for t in b["terms"]] == ["assume.cuda_context"]
    assert b["terms"][0]["texts"] == {"low": "270 MiB", "best": "500 MiB", "high": "640 MiB"}
    assert "kv_cache_pool" not in b["figures"] and r.values["kv_token_capacity"] == 157_936
    assert b["fits"] == {"low": True, "best": True, "high": True} and verdict_note(b) == ""
    # V1's profile_overhead is the calibrated term: named with the log it was fitted to
    assert b["calibrated"] == [{"name": "engine.profile_overhead", "value": "0.7301 GiB", "measurements": ["vllm-llama31-8b-a100-pool"]}]
    h = bounds(vramrules.evaluate(model="llama3.1-8b", gpu="h100-sxm-80gb", engine="vllm@0.15.1"))
    assert [t["name"] for t in h["terms"]] == ["assume.cuda_context", "assume.driver_reserved_memory"]
    pool = h["figures"]["kv_cache_pool"]
    assert abs((pool["low"] - pool["best"]) - 0.9 * 0.08 * GiB) < 2 and abs((pool["best"] - pool["high"]) - 0.9 * 0.12 * GiB) < 2
    assert all(v % 16 == 0 for v in h["figures"]["kv_token_capacity"].values())


def test_from_v021_cuda_graphs_are_a_term_with_the_spread_of_three_logs():
    """vLLM 0.21+ charges CUDA graphs inside the budget: 0.17 GiB, measured 0.09 to 0.36 GiB in
    three public logs (data/engines.yaml); low and high move the pool by both terms at once."""
    r = vramrules.evaluate(model="llama3.1-8b", gpu="a100-40gb", engine="vllm@0.27.1")
    b = bounds(r)
    assert [t["name"] for t in b["terms"]] == ["assume.cuda_context", "engine.cuda_graph_memory"]
    assert b["terms"][1]["texts"] == {"low": "0.09 GiB", "best": "0.17 GiB", "high": "0.36 GiB"}
    pool = b["figures"]["kv_cache_pool"]
    # the context is outside vLLM's budget: only the graphs' estimate moves the pool
    assert abs((pool["low"] - pool["best"]) - 0.08 * GiB) < 2
    assert abs((pool["best"] - pool["high"]) - 0.19 * GiB) < 2


def test_fits_at_best_not_at_high_is_said_in_the_verdict():
    """Llama-3.1-8B at 38,000 tokens on an RTX 4090 with vLLM 0.27.1: the pool holds 39,872
    tokens as estimated but 37,408 at the high ends, fewer than one sequence needs."""
    d = doc("eval", "--model", "llama3.1-8b", "--gpu", "rtx-4090", "--engine", "vllm", "--seq-len", "38000")
    u = d["uncertainty"]
    assert u["fits"] == {"low": True, "best": True, "high": False} and u["verdict"] == "at best, not at high"
    assert u["figures"]["kv_token_capacity"]["best"]["value"] == 39_872
    assert u["figures"]["kv_token_capacity"]["high"]["value"] == 37_408 < 38_000
    assert d["fit"]["fits"] is True
    code, out = run("eval", "--model", "llama3.1-8b", "--gpu", "rtx-4090", "--engine", "vllm", "--seq-len", "38000")
    assert code == 0 and "FITS on 1 x rtx-4090 at best, not at high" in out, out
    assert "verdict: fits / fits / does not fit" in out
    assert "assume.cuda_context: 270 MiB / 500 MiB / 640 MiB" in out


def test_sglang_and_trtllm_answers_have_ends_too():
    for engine in ("sglang", "trtllm"):
        u = doc("eval", "--model", "llama3.1-8b", "--gpu", "a100-40gb", "--engine", engine)["uncertainty"]
        pool = u["figures"]["kv_cache_pool"]
        assert pool["low"]["bytes"] > pool["best"]["bytes"] > pool["high"]["bytes"], (engine, pool)
        assert [t["name"] for t in u["terms"]] == ["assume.cuda_context"]


def test_an_assumption_given_with_set_is_pinned():
    u = doc("eval", "--model", "llama3.1-8b", "--gpu", "a100-40gb", "--engine", "vllm@0.15.1", "--set", "assume.cuda_context=300 MiB")
    assert "uncertainty" in u and u["uncertainty"]["terms"] == [] and u["uncertainty"]["figures"] == {}


def test_a_value_outside_its_spread_widens_that_end(tmp_path):
    """An overlay moves cuda_context to 1 GiB and keeps the built-in spread: the high end is the
    value (nothing assumes less than the answer on that side)."""
    (tmp_path / "assumptions.yaml").write_text("assumptions:\n  cuda_context:\n    value: 1 GiB\n    source: test overlay\n    dimension: '[information]'\n")
    u = doc("eval", "--model", "llama3.1-8b", "--gpu", "a100-40gb", "--engine", "vllm@0.15.1", "--data", str(tmp_path))["uncertainty"]
    term = u["terms"][0]
    assert term["name"] == "assume.cuda_context" and term["high"]["bytes"] == term["best"]["bytes"] == GiB
    assert term["low"]["bytes"] == 270 * MiB


def test_other_modes_have_no_ends():
    r = vramrules.evaluate(model="llama3.1-8b", gpu="a100-40gb", mode="inference")
    assert bounds(r) is None
    assert "uncertainty" not in doc("eval", "--model", "llama3.1-8b", "--gpu", "a100-40gb")


def test_calibrated_on_names_measurements_that_exist():
    from pathlib import Path

    import yaml

    from vramrules.evaluation.load import builtin_data_dir

    root = Path(builtin_data_dir())
    measured = yaml.safe_load((root / "measurements.yaml").read_text())["measurements"]
    engines = yaml.safe_load((root / "engines.yaml").read_text())["engines"]
    named = [m for e in engines.values() for items in (e.get("settings") or {}).values() for it in items for m in it.get("calibrated_on", [])]
    assert named and all(m in measured for m in named), named
    for m in named:  # each is a calibration point the calibrator leaves out
        assert measured[m].get("fitted_by"), m


def test_a_spread_that_does_not_hold_its_value_is_a_located_error(tmp_path):
    vllm_overlay(tmp_path,
        "    settings:\n"
        "      cuda_graph_memory:\n"
        "        - {since: '0.6.0', value: 1 GiB, source: test, reviewed: 2026-12-02, spread: {low: 0.1 GiB, high: 0.5 GiB, source: test}}\n")
    code, out = run("validate", "--data", str(tmp_path))
    assert code == 1 and "engines.yaml:10:" in out and "does not hold the value 1 GiB" in out, out


def test_an_assumption_spread_of_another_unit_or_upside_down_is_an_error(tmp_path):
    (tmp_path / "assumptions.yaml").write_text(
        "assumptions:\n  cuda_context:\n    value: 500 MiB\n    source: test\n    dimension: '[information]'\n"
        "    spread: {low: 0.1, high: 0.5, source: test}\n")
    code, out = run("validate", "--data", str(tmp_path))
    assert code == 1 and "assumptions.yaml:6:" in out and "does not have the dimension of the value" in out, out
    (tmp_path / "assumptions.yaml").write_text(
        "assumptions:\n  cuda_context:\n    value: 500 MiB\n    source: test\n    dimension: '[information]'\n"
        "    spread: {low: 640 MiB, high: 270 MiB, source: test}\n")
    code, out = run("validate", "--data", str(tmp_path))
    assert code == 1 and "assumptions.yaml:6:" in out and "spread low 640 MiB is above high 270 MiB" in out, out
