"""`vramrules sweep`: every row equals the single evaluation of the same scenario (so the compiled
GPU loop, which computes GPU-independent rules once, changes nothing), on every GPU of the
catalog; failures are located; the CLI writes one row per scenario."""
import csv
import io
import json

import pytest
from click.testing import CliRunner

import vramrules
from vramrules import api
from vramrules.cli import main
from vramrules.questions import sweep as S

CAT = api.load_catalog()
GPUS = list(CAT.kind("gpu"))  # every GPU: capacities and vendor facts differ across them
MODELS = ["llama3.1-8b", "mixtral-8x7b", "deepseek-v3", "gpt-oss-20b", "gemma3-27b"]


@pytest.mark.parametrize("model", MODELS)
def test_every_row_equals_the_single_evaluation(model):
    modes = list(CAT.rulesets["default"].modes)
    rows = list(S.run(CAT, [model], modes, [None, "int4", "fp8"], GPUS))
    assert len(rows) == len(modes) * 3 * len(GPUS)
    checked = 0
    for r in rows:
        opts = {} if not r.precision or r.error else {"precision": r.precision}
        try:
            one = vramrules.evaluate(model, r.mode, gpu=r.gpu, catalog=CAT, **opts)
        except vramrules.VramrulesError as exc:
            assert r.error, (r, exc)
            continue
        assert not r.error, r
        assert r.total == pytest.approx(one.total.bytes, rel=1e-12)
        assert r.usable == pytest.approx(one.fit.capacity_per_gpu.bytes, rel=1e-12)
        assert r.fits == one.fit.fits
        assert r.components == pytest.approx({c.name: c.memory.bytes for c in one.components}, rel=1e-12)
        checked += 1
    assert checked > len(rows) // 2


def test_gpu_independent_rules_are_hoisted():
    loop = S.grid_loop(CAT, "default", "train-lora", [])
    assert loop.gpu_leaves and all(leaf.startswith(("gpu.", "device.")) for leaf in loop.gpu_leaves)
    # weights, adapters, optimizer states, activations: none reads a GPU fact
    assert 0.5 * len(loop.compiled.order) < loop.hoisted < len(loop.compiled.order)
    assert loop.depth["weights"] == 0 and loop.depth["fits"] == 1


def test_a_rule_failing_on_one_gpu_is_located_row_by_row(monkeypatch):
    loop = S.grid_loop(CAT, "default", "inference", [])
    real = loop.fn

    def broken(facts, items):  # the loop says the first GPU's row failed: the located evaluator takes it again
        rows = real(facts, items)
        return [(S.LOCATE,)] + rows[1:]

    monkeypatch.setattr(loop, "fn", broken)
    rows = list(S.run(CAT, ["llama3.1-8b"], ["inference"], [None], ["rtx-4090", "h100-sxm-80gb"]))
    one = vramrules.evaluate("llama3.1-8b", "inference", gpu="rtx-4090", catalog=CAT)
    assert [r.gpu for r in rows] == ["rtx-4090", "h100-sxm-80gb"]
    assert rows[0].total == one.total.bytes and rows[0].fits == one.fit.fits and not rows[0].error


def test_broken_layout_is_a_row_with_the_reason():
    rows = list(S.run(CAT, ["llama3.1-8b"], ["inference"], [None], ["h100-sxm-80gb"], options={"tp": 3}))
    assert len(rows) == 1 and rows[0].error and rows[0].total == 0.0


def test_cli_csv_has_one_row_per_scenario():
    r = CliRunner().invoke(main, ["sweep", "--model", "llama3.1-8b,qwen2.5-7b", "--mode", "inference,train-lora",
                                  "--gpu", "rtx-4090,h100-sxm-80gb,l4"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert len(rows) == 2 * 2 * 3
    row = next(x for x in rows if x["model"] == "llama3.1-8b" and x["mode"] == "inference" and x["gpu"] == "rtx-4090")
    one = vramrules.evaluate("llama3.1-8b", "inference", gpu="rtx-4090")
    assert float(row["total_GiB"]) == pytest.approx(one.total.gib, abs=1e-4) and row["fits"] == ("yes" if one.fit.fits else "no")


def test_cli_json():
    r = CliRunner().invoke(main, ["sweep", "--models", "llama3.1-8b", "--modes", "serve", "--gpu", "l4", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    rows = doc["rows"] if isinstance(doc, dict) else doc
    assert len(rows) == 1 and rows[0]["gpu"] == "l4"


def test_thumb_rule_set_rows_equal_the_single_evaluation():
    """The classic rules of thumb through the same GPU loop (SEED cases: tests/cases)."""
    modes = list(CAT.rulesets["thumb"].modes)
    rows = list(S.run(CAT, ["llama3.1-8b", "qwen2.5-7b"], modes, [None], ["rtx-4090", "l4", "h100-sxm-80gb"], rules="thumb"))
    assert len(rows) == 2 * len(modes) * 3 and not any(r.error for r in rows)
    for r in rows:
        one = vramrules.evaluate(r.model, r.mode, gpu=r.gpu, rules="thumb", catalog=CAT, needed=False)
        assert (r.total, r.usable, r.fits) == (pytest.approx(one.total.bytes), pytest.approx(one.fit.capacity_per_gpu.bytes), one.fit.fits)
