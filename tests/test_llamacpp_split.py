"""llama.cpp on several GPUs (issue 15): the layer split of `--tensor-split` (by free memory when
it is not given), each GPU's own buffers and verdict, --fit filling the GPUs back to front, and
the command line that reproduces the plan. The rule set lists each GPU as a device of its own
(`devices: each`) and splits with the rule language's prefix scan, `device_prefix_sum`.

The split is held to llama.cpp's own assignment, re-enacted here in float32 as
src/llama-model.cpp:1556-1614 (llama.cpp 0c1e57098, the tree llama-cpp-python 0.3.36 vendors)
computes it: the split points are the prefix sums of the split over their total, and slot k of
the act_gpu_layers offloaded ones (the output layer the last) goes to the first device whose
point exceeds float(k) / act_gpu_layers (std::upper_bound). The CPU harness cannot fake several
devices (llama.cpp gives act_gpu_layers = 0 without a GPU backend, src/llama-model.cpp:1590), so
these tests hold the rules to that source; the split itself is also checked against published
two-GPU logs (test_published_two_gpu_logs_split_the_slots_as_the_rules, and the per-GPU model
buffers of data/measurements.yaml's llamacpp-llama31-70b-2x3090-* entries)."""
from __future__ import annotations

import bisect
import json
import shutil
import struct
import subprocess

import pytest
from cli_run import one_rule_overlay, run
from click.testing import CliRunner

import vramrules
from vramrules.api import load_catalog
from vramrules.cli import main
from vramrules.errors import UsageError

pytestmark = pytest.mark.usefixtures("runner")  # every test runs under both evaluators (conftest.runner)

CAT = load_catalog()
GIB, MIB = 1 << 30, 1 << 20


def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def llama_cpp_split(weights, n_layer: int, n_gpu_layers: int) -> tuple[list, int]:
    """(slots per device, the output layer's device) as src/llama-model.cpp:1576-1614 assigns
    them, in float32: splits[i] = the running sum, then divided by the total; layer il goes to
    upper_bound(splits, float(il - i_gpu_start) / act_gpu_layers)."""
    splits, total = [], _f32(0.0)
    for w in weights:
        total = _f32(total + _f32(w))
        splits.append(total)
    splits = [_f32(s / total) for s in splits]
    i_gpu_start = max(n_layer + 1 - n_gpu_layers, 0)
    act = min(n_gpu_layers, n_layer + 1)
    counts, output = [0] * len(weights), -1
    for il in range(n_layer + 1):  # il == n_layer: the output layer
        if il < i_gpu_start or il - i_gpu_start >= act:
            continue
        d = bisect.bisect_right(splits, _f32(_f32(float(il - i_gpu_start)) / act))
        counts[d] += 1
        if il == n_layer:
            output = d
    return counts, output


def _eval(gpu, **options):
    return vramrules.evaluate(model=options.pop("model", "llama3.1-8b"), rules="llamacpp", gpu=gpu, **options)


def _usable(gpu: str) -> float:
    g = CAT.kind("gpu")[gpu]
    return g.facts["memory_reported"] * g.facts["usable_fraction"]


@pytest.mark.parametrize("gpu,split,ngl", [
    ("rtx-4090+rtx-3090", (3, 1), -2),
    ("rtx-4090+rtx-3090", (1, 1), 33),
    ("rtx-4090+rtx-3090", (1, 1), 32),
    ("rtx-4090+rtx-3090+rtx-3060-12gb", (1, 1, 1), 33),
    ("rtx-4090+rtx-3090+rtx-3060-12gb", (1, 1, 1), 20),
    ("rtx-4090+rtx-3090+rtx-3060-12gb", (0.6, 0.3, 0.1), 33),
    ("rtx-4090+rtx-3090+rtx-3060-12gb", (5, 0, 2), 17),
    ("rtx-4090+rtx-3090", (1, 0), 33),
    ("rtx-4090+rtx-3090+rtx-3060-12gb+l4", (24, 24, 12, 24), 7),
    ("rtx-4090+rtx-3090", (2,), 33),  # missing values are 0 (common/arg.cpp:2845-2850)
])
def test_layers_split_as_llama_cpp_assigns_them(gpu, split, ngl):
    """Llama-3.1-8B (32 layers + the output layer) with --tensor-split and -ngl given: each GPU's
    slots, repeating layers and output layer are llama.cpp's."""
    v = _eval(gpu, seq_len=4096, tensor_split=split, n_gpu_layers=ngl).values
    n = len(gpu.split("+"))
    weights = list(split) + [0] * (n - len(split))
    counts, output = llama_cpp_split(weights, 32, ngl if ngl >= 0 else 33)
    assert v["device_slots"] == counts
    assert v["device_output"] == [d == output for d in range(n)]
    assert v["device_layers"] == [c - (d == output) for d, c in enumerate(counts)]
    assert sum(v["device_layers"]) == v["gpu_repeating_layers"]


@pytest.mark.parametrize("gpu", ["rtx-4090+rtx-3060-12gb", "rtx-3060-12gb+rtx-4090", "2xrtx-3090+rtx-4060-ti-16gb", "l4+rtx-4090+rtx-3090"])
def test_the_default_split_is_by_free_memory(gpu):
    """No --tensor-split: llama.cpp splits by each device's free memory (src/llama-model.cpp:1558-1571);
    free here is the GPU's memory less the CUDA context (derived). Order is the --gpu order."""
    res = _eval(gpu, seq_len=4096, n_gpu_layers=-2)
    v = res.values
    ids = [g.id for g, _c in res.scenario.devices]
    expanded = [p.partition("x")[2] if p[0].isdigit() else p for p in gpu.split("+") for _ in range(int(p[0]) if p[0].isdigit() else 1)]
    assert ids == expanded
    free = [_usable(g) - 500 * MIB for g in ids]
    assert v["device_free"] == free
    assert v["device_slots"] == llama_cpp_split(free, 32, 33)[0]


def test_each_gpu_holds_its_layers_and_the_host_the_rest():
    """Llama-3.1-70B Q4_K_M at 32k on an RTX 4090 and an RTX 3090 with -ngl 60 --tensor-split 1,1:
    i_gpu_start = 81 - 60 = 21, 30 slots each (llama_cpp_split); the first GPU layers 21..50, the
    second 51..79 and the output layer. Each GPU's model buffer is its layers' weights (the output layer's on the
    second), its KV cache its layers' share; the compute buffer with the logits is on the second,
    the first holds its layers' activations (without the logits); each has its CUDA context.
    GPUs and host together hold the whole model and the whole cache."""
    res = _eval("rtx-4090+rtx-3090", model="llama3.1-70b", precision="Q4_K_M", seq_len=32768, n_gpu_layers=60, tensor_split=(1, 1))
    v = res.values
    layer, out_layer = v["layer_bytes"], v["output_layer_bytes"]
    assert v["device_slots"] == [30, 30] and v["device_layers"] == [30, 29] and v["device_first_layer"] == [21, 51]
    assert v["device_model_buffer"] == [30 * layer, 29 * layer + out_layer]
    kv_layer = v["kv_cache_all"] / 80
    assert v["device_kv_cache"] == pytest.approx([30 * kv_layer, 29 * kv_layer], rel=1e-12)
    assert v["device_compute_buffer"] == [v["compute_layers_peak"], v["compute_all"]]
    assert v["compute_layers_peak"] < v["compute_all"]  # no logits on the first GPU
    assert v["device_runtime_overhead"] == [500 * MIB, 500 * MIB]
    for k, g in enumerate(["rtx-4090", "rtx-3090"]):
        assert v["device_usable"][k] == _usable(g) - GIB
        assert v["device_headroom"][k] == v["device_usable"][k] - v["device_total"][k]
    assert v["headroom"] == min(v["device_headroom"]) and v["per_gpu_total"] == max(v["device_total"])
    host = {h.name: h.memory.bytes for h in res.host}
    assert v["model_buffer"] + v["model_buffer_host"] == pytest.approx(v["weights_all"], rel=1e-12)
    assert host["layers_buffer_host"] == pytest.approx(21 * layer, rel=1e-12)
    assert v["kv_cache"] + v["kv_cache_host"] == pytest.approx(v["kv_cache_all"], rel=1e-12)


def test_fit_fills_the_gpus_back_to_front():
    """-ngl auto when every slot does not fit: --fit gives the last GPU the output layer and the
    most layers that leave its margin free, then the GPU before it the most of the rest
    (common/fit.cpp:660-731), and sets -ngl and --tensor-split to them. Each GPU keeps its margin
    and one more layer on either does not fit."""
    base = dict(model="llama3.1-70b", precision="Q4_K_M", seq_len=32768)
    auto = _eval("rtx-4090+rtx-3090", **base)
    v = auto.values
    assert v["fit_fills"] and not v["default_plan_fits"] and auto.fit.fits
    slots = [int(s) for s in v["device_slots"]]
    assert slots == [int(s) for s in v["device_fit_slots"]] and sum(slots) == v["gpu_layer_slots"] < 81
    assert all(h >= 0 for h in v["device_headroom"])
    for k in range(2):
        more = list(slots)
        more[k] += 1
        over = _eval("rtx-4090+rtx-3090", **base, n_gpu_layers=sum(more), tensor_split=tuple(more)).values
        assert over["device_slots"] == more and over["device_headroom"][k] < 0
    # everything fits on two 48 GiB cards: --fit changes nothing, and the split is by free memory
    roomy = _eval("2xrtx-a6000", **base).values
    assert roomy["default_plan_fits"] and roomy["gpu_layer_slots"] == 81 and roomy["device_slots"] == [41, 40]


def test_one_gpu_is_the_single_device_plan():
    """The per-device rules on one GPU give the numbers the one-GPU plan always had: --fit's
    18 slots for the issue's example (tests/test_llamacpp_placement.py works them out)."""
    v = _eval("rtx-3060-12gb", seq_len=32768).values
    assert v["device_slots"] == [18] and v["gpu_layer_slots"] == 18 and v["device_output"] == [True]
    assert v["device_total"] == [v["total"]] and v["headroom"] == v["device_headroom"][0]


def test_the_command_line_reproduces_the_plan():
    """The printed -ngl and --tensor-split (the slots per GPU) give llama.cpp the same assignment
    whatever memory is free when it starts (split points k / n on both sides), and vramrules the
    same plan when given back."""
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-70b", "--precision", "Q4_K_M", "--rules", "llamacpp",
                                  "--gpu", "rtx-4090,rtx-3090", "--seq-len", "32768", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    words = doc["command"].split()
    ngl, split = int(words[words.index("-ngl") + 1]), words[words.index("--tensor-split") + 1]
    slots = [int(x) for x in split.split(",")]
    assert sum(slots) == ngl and llama_cpp_split(slots, 80, ngl)[0] == slots
    again = _eval("rtx-4090+rtx-3090", model="llama3.1-70b", precision="Q4_K_M", seq_len=32768, n_gpu_layers=ngl, tensor_split=split).values
    assert again["device_slots"] == slots
    assert [d["plan"]["needed"]["bytes"] for d in doc["fit"]["devices"]] == [int(-(-x // 1)) for x in again["device_total"]]
    assert doc["fit"]["devices"][1]["plan"]["figures"]["device_output"] is True
    assert doc["ollama"] == {"unavailable": "Ollama has no option for --tensor-split"}
    one = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--rules", "llamacpp", "--gpu", "rtx-4090", "--format", "json"])
    assert "--tensor-split" not in json.loads(one.output)["command"]  # one GPU: no split to give


def test_the_text_plan_lists_each_gpu():
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--rules", "llamacpp", "--gpu", "rtx-4090+rtx-3060-12gb",
                                  "--seq-len", "32768", "--host-ram", "32GiB", "--check"], env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    for text in ("GPUs: rtx-4090+rtx-3060-12gb (2 GPUs, each with its own share)",
                 "GPU 0: rtx-4090 (NVIDIA GeForce RTX 4090 24GB, 24 GiB)", "GPU 1: rtx-3060-12gb",
                 "repeating layers on the GPU     23", "holds the output layer          yes",
                 "GPU verdict      fits on rtx-4090+rtx-3060-12gb", "host (CPU) memory: 0.98 GiB",
                 "verdict          FITS: rtx-4090+rtx-3060-12gb and the host", "--tensor-split 23,10"):
        assert text in r.output, text
    assert "per GPU rank" not in r.output  # one llama.cpp process drives both GPUs
    tight = CliRunner().invoke(main, ["eval", "--model", "llama3.1-70b", "--precision", "Q4_K_M", "--rules", "llamacpp",
                                      "--gpu", "rtx-4090+rtx-3060-12gb", "--seq-len", "32768", "-ngl", "all", "--check"])
    assert tight.exit_code == 3 and "does not fit: needs" in tight.output and "DOES NOT FIT on rtx-4090+rtx-3060-12gb" in tight.output


def test_tensor_split_mistakes_are_usage_errors():
    with pytest.raises(UsageError, match="--tensor-split gives 3 values for the 2 GPUs of --gpu rtx-4090"):
        _eval("rtx-4090+rtx-3090", tensor_split="1,2,3")
    with pytest.raises(UsageError, match="no GPU"):
        vramrules.evaluate(model="llama3.1-8b", rules="llamacpp", tensor_split="1,2")
    for bad, said in (("1,x", "takes numbers separated by commas"), ("1,-1", ">= 0"), ("nan", "finite")):
        r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--rules", "llamacpp", "--gpu", "rtx-4090+rtx-3090", "-ts", bad])
        assert r.exit_code == 2 and "--tensor-split" in r.output and said in r.output, r.output


@pytest.mark.parametrize("formula,message", [
    ("device_prefix_sum(device.memory)", "device_prefix_sum() has one value per device of the placement"),
    ("input.tensor_split * B", "input 'input.tensor_split' has one value per device of the placement"),
])
def test_scan_and_per_device_input_are_checked_when_they_load(tmp_path, formula, message):
    code, out = run("validate", "--data", one_rule_overlay(tmp_path, formula))
    assert code == 1 and message in out, out


def test_a_nested_scan_is_refused():
    from vramrules.language.ir import validate
    from vramrules.language.syntax import FormulaError

    scan = ["call", "device_prefix_sum", [["n", "device.memory"]]]
    assert validate(scan, {}, "device") == {"device.memory": "device"}
    for tree, per in ((scan, None), (["call", "device_prefix_sum", [scan]], "device")):
        with pytest.raises(FormulaError, match="a prefix scan outside a rule per its axis"):
            validate(tree, {}, per)
    assert validate(["call", "device_sum", [scan]], {}, None)  # a sum of prefix sums: each item's scan, then the sum


def test_numpy_sweep_and_generated_loop_agree_on_split_plans():
    """The sweep's generated loop and the numpy grid evaluate the prefix scan alike, and as the
    single evaluation does (placements, and one GPU type on --gpus 3 with a split)."""
    pytest.importorskip("numpy")
    from vramrules.questions import sweep as S

    def rows(backend, gpus, opts):
        out = []
        for b in S.blocks(CAT, ["llama3.1-8b", "mixtral-8x7b"], ["inference"], [None, "gguf-q4-k-m"], gpus, rules="llamacpp",
                          axes={"seq_len": [4096, 131072]}, backend=backend, options=opts):
            out += [(b.model, b.precision, r) for r in b.iter_rows()]
        return out

    for gpus, opts in ((["rtx-4090", "rtx-3060-12gb"], {"gpus": 2}), (["rtx-4090", "rtx-3090"], {"gpus": 3, "tensor_split": (3, 1, 1)}),
                       (["rtx-4090+rtx-3060-12gb", "rtx-4090"], None)):
        a, b = rows("python", gpus, opts), rows("numpy", gpus, opts)
        assert a == b and len(a) == 2 * 2 * 2 * len(gpus)
        for model, precision, r in a:
            one = _eval(r[0][1], model=model, precision=precision, seq_len=r[0][0], **(opts or {}))
            assert (r[2], r[4]) == (one.total.bytes, one.fit.fits)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_generated_javascript_computes_the_split_as_python(tmp_path):
    """The page's backend (backends/javascript.mode_js) of the llama.cpp mode gives Python's
    values, lists per device included, on a three-GPU split."""
    from vramrules.backends import javascript
    from vramrules.evaluation.evaluate import compiled_mode

    res = _eval("rtx-4090+rtx-3090+rtx-3060-12gb", model="llama3.1-70b", precision="Q4_K_M", seq_len=32768, tensor_split=(3, 2, 1))
    comp = compiled_mode(CAT, "llamacpp", "inference", True)
    facts = res.scenario.facts(comp.leaves)
    script = tmp_path / "split.js"
    script.write_text(javascript.runtime() + "\nconst f = " + javascript.mode_js(comp) + ";\n"
                      + f"process.stdout.write(JSON.stringify(f({json.dumps(facts)})));\n", encoding="utf-8")
    got = dict(zip(comp.order, json.loads(subprocess.run(["node", str(script)], capture_output=True, check=True, text=True).stdout)))
    for name in ("device_slots", "device_model_buffer", "device_total", "device_headroom", "headroom", "total", "fits"):
        assert got[name] == res.values[name], name


MIB = 2**20


def _q6_k(elements: int) -> int:
    return elements // 256 * 210  # ggml's block_q6_K: 210 bytes per 256 weights (the gguf package's GGML_QUANT_SIZES)


def test_published_two_gpu_logs_split_the_slots_as_the_rules():
    """Two llama.cpp logs with every slot offloaded over two GPUs (the layer split has not changed
    since llama.cpp's layer split mode, January 2024: src/llama-model.cpp:1589-1614). The logs print
    each GPU's model buffer, not its layers; the layers follow from the buffers, since every
    repeating layer of a file weighs the same and the last GPU also holds the output layer:

    - ggml-org/llama.cpp#7217 (description, build b2849): Yi-34B IQ4_XS on an RTX 3090 + RTX 3060,
      `-ngl 61 -ts 1,1 -nkvo -c 2048`: CUDA0 8796.98 MiB, CUDA1 8588.34 MiB. 31 layers on CUDA0
      (283.77 MiB each) leave 358.91 MiB on CUDA1 past its 29, which is the q6_K output layer
      (64,000 x 7,168: 358.89 MiB) and its f32 norm (28 KiB).
    - containers/ramalama#1354 (comment by mcornea): Llama-3.x-70B Q4_K_M on 2 x RTX 3090, the split
      by free memory: CUDA0 20038.81 MiB, CUDA1 19940.67 MiB. 41 layers on CUDA0 (488.75 MiB each);
      CUDA1 less the q6_K output layer (128,256 x 8,192: 822.0 MiB) is 490.22 MiB for each of 39.
      40/40 would make CUDA0's layers 500.97 MiB and CUDA1's 477.97 (2.3% apart, against 0.3%)."""
    yi = vramrules.evaluate(model="yi-34b", rules="llamacpp", gpu="rtx-3090,rtx-3060-12gb", precision="Q4_K_M", seq_len=2048,
                            n_gpu_layers=61, tensor_split="1,1", kv_offload=False)
    assert yi.values["device_layers"] == [31, 29] and yi.values["device_output"] == [False, True]
    assert yi.values["device_kv_cache"] == [0, 0]  # -nkvo: the KV cache is on the host
    per_layer = 8796.98 / 31
    assert abs(8588.34 - 29 * per_layer - (_q6_k(64000 * 7168) + 7168 * 4) / MIB) < 0.05

    llama = vramrules.evaluate(model="llama3.1-70b", rules="llamacpp", gpu="rtx-3090,rtx-3090", precision="Q4_K_M", seq_len=2048,
                               flash_attn="on")
    assert llama.values["device_layers"] == [41, 39] and llama.values["device_output"] == [False, True]
    out = (_q6_k(128256 * 8192) + 8192 * 4) / MIB
    cuda0, cuda1 = 20038.81 / 41, (19940.67 - out) / 39
    assert abs(cuda0 / cuda1 - 1) < 0.005
    assert abs((20038.81 / 40) / ((19940.67 - out) / 40) - 1) > 0.02  # the other split the buffers could mean does not fit them
