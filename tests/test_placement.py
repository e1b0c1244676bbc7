"""Device lists: a scenario is placed on a list of devices (GPU types with counts); rules read
device.FIELD per device (`per: device`) and reduce with device_min/device_sum/device_max.
`--gpu X --gpus N` is the special case of one type: its results are the ones it always had
(the golden, fidelity and sweep suites prove that); these tests pin the placement itself."""
from __future__ import annotations

import json
import math

import pytest
from cli_run import one_rule_overlay, run

import vramrules
from vramrules.api import load_catalog
from vramrules.errors import UsageError

pytestmark = pytest.mark.usefixtures("runner")  # every test runs under both evaluators (conftest.runner)

CAT = load_catalog()


def usable(gpu: str) -> float:
    g = CAT.kind("gpu")[gpu]
    return g.facts["memory_reported"] * g.facts["usable_fraction"]


def test_one_type_written_as_a_placement_is_the_same_scenario():
    a = vramrules.evaluate("llama3-70b", "inference", gpu="h100-sxm-80gb", gpus=2, needed=False)
    b = vramrules.evaluate("llama3-70b", "inference", gpu="2xh100-sxm-80gb", needed=False)
    assert a.values == b.values and a.fit.fits == b.fit.fits
    assert b.scenario.facts(["device.count"]) == {"device.count": [2.0]}


def test_a_counted_placement_that_does_not_fit_says_how_many_it_needs():
    """`--gpu 2xrtx-4090` is `--gpu rtx-4090 --gpus 2`: when it does not fit, the fewest GPUs of
    that type is the answer (it used to be a usage error, exit 2, from the fewest-GPUs search)."""
    code, out = run("eval", "--model", "llama3-70b", "--gpu", "2xrtx-4090")
    code2, out2 = run("eval", "--model", "llama3-70b", "--gpu", "rtx-4090", "--gpus", "2")
    assert code == code2 == 0
    assert "DOES NOT FIT on 2 x rtx-4090; needs 8 x rtx-4090" in out and out == out2


def test_two_gpu_types_through_eval_json_and_explain():
    """An RTX 4090 beside an RTX 3060 12GB, tensor-parallel: each GPU holds half, so the 3060 bounds it."""
    code, out = run("eval", "--model", "llama3.1-8b", "--gpu", "rtx-4090+rtx-3060-12gb", "--seq-len", 8192, "--format", "json")
    assert code == 0, out
    fit = json.loads(out)["fit"]
    assert fit["gpus"] == 2 and fit["gpu"] == "rtx-4090+rtx-3060-12gb"
    assert fit["usable_per_gpu"]["bytes"] == min(usable("rtx-4090"), usable("rtx-3060-12gb")) == usable("rtx-3060-12gb")
    assert [(d["gpu"], d["count"], d["usable"]["bytes"]) for d in fit["devices"]] == \
        [("rtx-4090", 1, usable("rtx-4090")), ("rtx-3060-12gb", 1, usable("rtx-3060-12gb"))]
    one = vramrules.evaluate("llama3.1-8b", "inference", gpu="rtx-3060-12gb", gpus=2, seq_len=8192, needed=False)
    assert fit["needed_per_gpu"]["bytes"] == math.ceil(one.fit.needed_per_gpu.bytes)  # the same even split, in whole bytes
    code, text = run("eval", "--model", "llama3.1-8b", "--gpu", "rtx-4090+rtx-3060-12gb", "--seq-len", 8192, "--explain")
    assert "GPUs: rtx-4090+rtx-3060-12gb (2 GPUs, tp 2 x pp 1 x dp 1)" in text
    assert "verdict          FITS on rtx-4090+rtx-3060-12gb" in text
    assert "usable_memory_per_gpu = " in text and "device_min(usable_per_device)" in text
    assert "device.memory_reported = [" in text and "built-in:gpus.yaml:" in text


def test_a_placement_through_fit_and_sweep():
    code, out = run("fit", "--model", "llama3.1-8b", "--gpu", "rtx-4090+rtx-3060-12gb", "--max", "seq-len", "--format", "json")
    assert code == 0, out
    longest = json.loads(out)["answer"]
    at = vramrules.evaluate("llama3.1-8b", "inference", gpu="rtx-4090+rtx-3060-12gb", seq_len=longest, needed=False)
    over = vramrules.evaluate("llama3.1-8b", "inference", gpu="rtx-4090+rtx-3060-12gb", seq_len=longest + 1, needed=False)
    assert at.fit.fits and not over.fit.fits
    code, out = run("sweep", "--model", "llama3.1-8b", "--mode", "inference,serve", "--gpu", "rtx-4090+rtx-3060-12gb,rtx-4090",
                    "--format", "json")
    assert code == 0, out
    rows = {(r["mode"], r["gpu"]): r for r in json.loads(out)}
    assert set(rows) == {(m, g) for m in ("inference", "serve") for g in ("rtx-4090+rtx-3060-12gb", "rtx-4090")}
    for (mode, g), r in rows.items():
        one = vramrules.evaluate("llama3.1-8b", mode, gpu=g, needed=False)
        assert r["total"]["bytes"] == one.total.bytes and r["fits"] == one.fit.fits


def test_placement_mistakes_are_usage_errors():
    with pytest.raises(UsageError, match="unknown gpu 'rtx-4091'"):
        vramrules.evaluate("llama3.1-8b", gpu="rtx-4090+rtx-4091")
    with pytest.raises(UsageError, match="places the workload on 2 GPUs, but --gpus says 4"):
        vramrules.evaluate("llama3.1-8b", gpu="rtx-4090+rtx-3090", gpus=4)
    code, out = run("fit", "--model", "llama3-70b", "--gpu", "rtx-4090+rtx-3090")
    assert code == 2 and "the fewest GPUs is a question about one GPU type" in out


def test_a_rule_set_that_reads_one_gpu_is_refused_on_a_mixed_placement(tmp_path):
    data = (str(one_rule_overlay(tmp_path, "gpu.memory * 1", "reads one GPU's memory")),)
    assert vramrules.evaluate("llama3.1-8b", data=data, gpu="rtx-4090").values["extra_check"] == CAT.kind("gpu")["rtx-4090"].facts["memory"]
    with pytest.raises(UsageError, match="reads gpu.memory, a fact of one GPU"):
        vramrules.evaluate("llama3.1-8b", data=data, gpu="rtx-4090+rtx-3090")


@pytest.mark.parametrize("formula,message", [
    ("device.memory", "'device.memory' has one value per device of the placement"),
    ("device_sum(group_sum(group.count) * device.memory)", "group_sum() cannot be used per device"),
    ("device_min(device.memry)", "unknown device field 'device.memry' (hint: did you mean 'device.memory'?)"),
])
def test_device_rules_are_checked_when_they_load(tmp_path, formula, message):
    code, out = run("validate", "--data", one_rule_overlay(tmp_path, formula))
    assert code == 1 and message in out, out
