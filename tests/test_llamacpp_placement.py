"""A llama.cpp plan on the hardware a user owns (issue 15): the GPU's part and the host's part of
the `llamacpp` rule set, the layer count --fit chooses when -ngl is left at auto, and the whole
plan's verdict with --host-ram.

--fit (llama.cpp 0c1e57098, common/fit.cpp) fills the device back to front - the output layer
first, then the last repeating layers - with the most layer slots that leave its margin free
(common/fit.cpp:650 targets = free - margin, :660-731 the search, the margin 1 GiB by default,
common/common.h:483). Every figure below is worked out here from the model's config and those
rules, not read back from the engine."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import vramrules
from vramrules.cli import main

GIB, MIB = 1 << 30, 1 << 20


def _eval(**options):
    return vramrules.evaluate(model=options.pop("model", "llama3.1-8b"), rules="llamacpp", **options)


def test_auto_layers_of_the_issue_example_are_the_most_that_fit():
    """Llama-3.1-8B bf16 (data/models.yaml: 8,030,261,248 parameters, 32 layers, vocabulary
    128,256 x 4,096, untied) at -c 32768 on an RTX 3060 12GB (12,288 MiB reported): usable
    12,288 MiB - 1 GiB. The output layer alone costs its 128,256 x 4,096 bf16 weights, the compute
    buffer (512 x (128,256 x 4 + 3 x 4,096 x 4 + 4) B: the logits peak) and the 500 MiB CUDA
    context; each further slot one layer's weights (the layers' share of the parameters, 2 B each)
    and its KV cache (32,768 cells x 1,024 x 2 x 2 B). 1 + floor((usable - fixed) / per layer) =
    18 slots: the output layer and the last 17 layers."""
    embd = 128256 * 4096
    layer = (8030261248 - 2 * embd) / 32 * 2
    kv_layer = 32768 * 1024 * 2 * 2
    fixed = embd * 2 + 512 * (128256 * 4 + 3 * 4096 * 4 + 4) + 500 * MIB
    usable = 12288 * MIB - GIB
    slots = 1 + int((usable - fixed) // (layer + kv_layer))
    assert slots == 18
    v = _eval(gpu="rtx-3060-12gb", seq_len=32768).values
    assert v["gpu_layer_slots"] == slots and v["fit_layer_slots"] == slots
    assert v["model_buffer"] == pytest.approx(embd * 2 + 17 * layer, rel=1e-12)
    assert v["kv_cache"] == 17 * kv_layer and v["kv_cache_host"] == 15 * kv_layer
    assert v["headroom"] == pytest.approx(usable - fixed - 17 * (layer + kv_layer), rel=1e-12) and v["headroom"] >= 0
    # one more slot does not fit; all of them (-ngl all = -2) far from it
    assert _eval(gpu="rtx-3060-12gb", seq_len=32768, n_gpu_layers=slots + 1).values["headroom"] < 0
    full = _eval(gpu="rtx-3060-12gb", seq_len=32768, n_gpu_layers=-2)
    assert full.values["gpu_layer_slots"] == 33 and not full.fit.fits


def test_the_host_holds_what_the_gpu_does_not():
    """The host's part: token embeddings (always on the CPU, src/llama-model.cpp:1603-1605), the 15
    layers -ngl 18 leaves there and their KV cache; GPU and host add up to the whole model and the
    whole cache."""
    embd = 128256 * 4096 * 2
    layer = (8030261248 - 2 * 128256 * 4096) / 32 * 2
    res = _eval(gpu="rtx-3060-12gb", seq_len=32768, host_ram="32 GiB")
    v = res.values
    host = {h.name: h.memory.bytes for h in res.host}
    assert host["token_embeddings_host"] == pytest.approx(embd, rel=1e-12)
    assert host["layers_buffer_host"] == pytest.approx(15 * layer, rel=1e-12)
    assert host["kv_cache_host"] == 15 * 32768 * 1024 * 2 * 2
    assert v["model_buffer"] + v["model_buffer_host"] == pytest.approx(v["weights_all"], rel=1e-12)
    assert v["host_needed"] == sum(host.values())
    assert v["host_usable"] == 31 * GIB and v["host_headroom"] == 31 * GIB - v["host_needed"]
    assert res.fit.fits and res.host_verdict()["fits"]


def test_the_done_means_command_gives_a_plan_and_a_command_line():
    """`vramrules eval --model llama3.1-8b --gpu rtx-3060-12gb --host-ram 32GiB --rules llamacpp
    --seq-len 32768`: a per-device plan that fits with -ngl 18 < 33 and the llama-server line."""
    argv = ["eval", "--model", "llama3.1-8b", "--gpu", "rtx-3060-12gb", "--host-ram", "32GiB", "--rules", "llamacpp", "--seq-len", "32768"]
    r = CliRunner().invoke(main, argv + ["--check"], env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    for text in ("GPU verdict      fits on 1 x rtx-3060-12gb", "token embeddings (always on the CPU): 0.98 GiB",
                 "model buffer of the layers on the CPU: 6.09 GiB", "KV cache (host): 1.88 GiB",
                 "usable host RAM  31.00 GiB", "verdict          FITS: 1 x rtx-3060-12gb and the host",
                 "llama-server -m MODEL.gguf -c 32768 -ngl 18 -ub 512 -np 1 -ctk f16 -ctv f16 -fa auto"):
        assert text in r.output, text
    doc = json.loads(CliRunner().invoke(main, argv + ["--format", "json"]).output)
    assert doc["fit"]["fits"] is True and doc["host"]["fits"] is True
    assert doc["host"]["usable"]["bytes"] == 31 * GIB and doc["host"]["ram"]["bytes"] == 32 * GIB
    assert doc["figures"]["gpu_layer_slots"]["value"] == 18


def test_a_host_too_small_is_the_plan_not_fitting():
    """Llama-3.1-70B Q4_K_M at 32k on the same card: --fit puts 16 slots on it and leaves 40.41 GiB
    in RAM; with 32 GiB the plan does not fit (exit 3 with --check), and the verdict says the host
    is what is short. Without --host-ram the host is not checked, and the answer says so."""
    argv = ["eval", "--model", "llama3.1-70b", "--precision", "Q4_K_M", "--gpu", "rtx-3060-12gb", "--rules", "llamacpp", "--seq-len", "32768"]
    r = CliRunner().invoke(main, argv + ["--host-ram", "32GiB", "--check"], env={"COLUMNS": "120"})
    assert r.exit_code == 3, r.output
    assert "GPU verdict      fits on 1 x rtx-3060-12gb" in r.output
    assert "DOES NOT FIT: the host needs 9.41 GiB more" in r.output
    assert "-ngl 16" in r.output
    r = CliRunner().invoke(main, argv + ["--host-ram", "64GiB", "--check"], env={"COLUMNS": "120"})
    assert r.exit_code == 0 and "FITS: 1 x rtx-3060-12gb and the host" in r.output
    r = CliRunner().invoke(main, argv, env={"COLUMNS": "120"})
    assert r.exit_code == 0 and "host RAM not checked: give --host-ram SIZE" in r.output


def test_cpu_only_the_host_holds_everything():
    """Without a GPU llama.cpp has no device to offload to (src/llama-model.cpp:1590): every buffer
    is in RAM, and --host-ram is checked against all of them."""
    res = _eval(seq_len=4096, host_ram="8 GiB")
    v = res.values
    assert v["host_needed"] == v["total"] + v["host_total"] and v["total"] > 15 * GIB
    assert res.host_verdict()["fits"] is False
    assert _eval(seq_len=4096, host_ram="32 GiB").host_verdict()["fits"] is True


@pytest.mark.parametrize("model,precision,gpu,seq_len", [
    ("llama3.1-8b", "Q4_K_M", "rtx-3060-12gb", 131072), ("llama3.1-70b", "Q4_K_M", "rtx-4090", 8192),
    ("qwen2.5-7b", "bf16", "rtx-4060-ti-16gb", 32768), ("gemma3-27b", "Q4_K_M", "rtx-3090", 65536),
    ("mixtral-8x7b", "Q4_K_M", "rtx-4090", 4096), ("llama3.1-8b", "Q4_K_M", "rtx-4090", 8192),
])
def test_auto_layers_are_the_largest_count_that_fits(model, precision, gpu, seq_len):
    """For any model, card and context: the slots --fit chooses fit, and one more does not (unless
    all n_layer + 1 are already there)."""
    base = dict(model=model, precision=precision, gpu=gpu, seq_len=seq_len)
    auto = _eval(**base)
    s, n = int(auto.values["gpu_layer_slots"]), int(auto.scenario.model.facts["num_layers"])
    assert auto.fit.fits
    assert _eval(**base, n_gpu_layers=s).values["headroom"] == auto.values["headroom"]
    if s < n + 1:
        assert _eval(**base, n_gpu_layers=s + 1).values["headroom"] < 0


def test_bad_host_ram_is_a_usage_error():
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--rules", "llamacpp", "--host-ram", "32 GiBB"])
    assert r.exit_code == 2 and "--host-ram" in r.output and "GiBB" in r.output
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--rules", "llamacpp", "--host-ram", "32"])
    assert r.exit_code == 2 and "--host-ram" in r.output


# --- MoE experts in host RAM (--n-cpu-moe) -----------------------------------------------------

def test_n_cpu_moe_moves_the_experts_of_the_first_layers():
    """Qwen3-30B-A3B (data/models.yaml, its config.json: 48 layers, 128 experts of 3 x 2048 x 768,
    every layer MoE) at Q4_K_M. --n-cpu-moe N puts blk.0 .. blk.N-1's ffn_*_exps on the CPU
    (common/common.h:1198-1217); with -ngl 10 the GPU holds layers 39..47 (src/llama-model.cpp:1589),
    so --n-cpu-moe 45 moves the experts of 6 of its layers, and 20 moves none. GPU + host stay the
    whole model. Given, it turns --fit's layer search off (common/fit.cpp:484-486): -ngl auto is
    every slot."""
    base = dict(model="qwen3-30b-a3b", precision="Q4_K_M", gpu="rtx-3060-12gb", seq_len=4096)
    v0 = _eval(**base, n_gpu_layers=10).values
    bpp = v0["bytes_per_param"]
    experts = 128 * 3 * 2048 * 768 * bpp
    v = _eval(**base, n_gpu_layers=10, n_cpu_moe=45).values
    assert v["cpu_moe_gpu_layers"] == 6 and v["experts_host"] == pytest.approx(6 * experts, rel=1e-12)
    assert v["model_buffer"] == pytest.approx(v0["model_buffer"] - 6 * experts, rel=1e-12)
    assert v["model_buffer"] + v["model_buffer_host"] == pytest.approx(v["weights_all"], rel=1e-12)
    assert _eval(**base, n_gpu_layers=10, n_cpu_moe=20).values["experts_host"] == 0
    assert _eval(**base, n_cpu_moe=1).values["gpu_layer_slots"] == 49
    assert _eval(**base, n_cpu_moe=100).values["cpu_moe_gpu_layers"] == 48   # every offloaded layer


def test_n_cpu_moe_on_a_real_gguf_moves_its_expert_tensors(tmp_path):
    """The tiny qwen3moe GGUF the llama.cpp harness loads (tests/tiny_gguf_llamacpp.py: 2 layers, 8
    experts of 128, q8_0): with every slot on a GPU, --n-cpu-moe 1 moves blk.0's three ffn_*_exps
    tensors to the host - their bytes in the file's tensor table, within the 0.3% the model's
    average bytes per parameter (its f32 norms) makes of a per-layer split (derived). Without a GPU
    it changes nothing, as llama.cpp's -ot exps=CPU run on this CPU showed (measured:
    test_layers_and_kv_offload_change_nothing_without_a_gpu)."""
    pytest.importorskip("gguf")
    import tiny_gguf_llamacpp as tg

    spec = tg.SPECS["qwen3moe-q8_0"]
    path = str(tg.write(spec, tmp_path / "qwen3moe-q8_0.gguf"))
    blk0 = sum(tg.nbytes(t, ne) for name, t, ne in tg.tensors(spec) if name.startswith("blk.0.ffn_") and "_exps" in name)
    assert blk0 == 3 * 8 * 128 * 256 // 32 * 34
    opts = dict(mode="inference", rules="llamacpp", model_config=path, seq_len=4096, n_gpu_layers=-2)
    v = vramrules.evaluate(gpu="rtx-3060-12gb", n_cpu_moe=1, **opts).values
    assert v["experts_host"] == pytest.approx(blk0, rel=3e-3)
    cpu = vramrules.evaluate(**opts).values
    assert vramrules.evaluate(n_cpu_moe=2, **opts).values["model_buffer"] == cpu["model_buffer"] == cpu["weights_all"]


# --- vramrules fit on that hardware ------------------------------------------------------------

def _fit(argv):
    r = CliRunner().invoke(main, ["fit", *argv, "--format", "json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def _checks_hold(doc):
    """Each check command, run, gives what the answer says it gives."""
    import shlex

    for c in doc["checks"]:
        argv = shlex.split(c["command"])[1:]
        r = CliRunner().invoke(main, argv + ["--check"])
        assert r.exit_code == (0 if c["expect"] == "fits" else 3), (c, r.output)


def test_fit_the_most_layers_on_the_gpu():
    """`fit --max n-gpu-layers`: 18 for the issue example (derived in
    test_auto_layers_of_the_issue_example_are_the_most_that_fit), with the evals that check 18
    and 19 and the llama-server line; all 33 slots on a 24 GB card at 8k."""
    doc = _fit(["--model", "llama3.1-8b", "--rules", "llamacpp", "--gpu", "rtx-3060-12gb", "--seq-len", "32768", "--max", "n-gpu-layers"])
    assert doc["answer"] == 18
    assert doc["command"] == "llama-server -m MODEL.gguf -c 32768 -ngl 18 -ub 512 -np 1 -ctk f16 -ctv f16 -fa auto"
    assert [c["expect"] for c in doc["checks"]] == ["fits", "does not fit"] and "--n-gpu-layers 19" in doc["checks"][1]["command"]
    _checks_hold(doc)
    doc = _fit(["--model", "llama3.1-8b", "--rules", "llamacpp", "--gpu", "rtx-4090", "--precision", "Q4_K_M", "--seq-len", "8192",
                "--max", "n-gpu-layers"])
    assert doc["answer"] == 33 and "every layer slot fits" in doc["note"]


def test_fit_the_longest_context_with_every_layer_on_the_gpu():
    """`fit --max seq-len` under llamacpp holds -ngl all (its search_defaults): with -ngl auto any
    context would fit by leaving layers on the CPU. Llama-3.1-8B Q4_K_M on a 3060 12GB: 48,640
    tokens (190 x 256 cells: llama.cpp pads the context to 256, so 48,641 needs 191); the answer's
    llama-server line offloads all 33 slots."""
    doc = _fit(["--model", "llama3.1-8b", "--rules", "llamacpp", "--gpu", "rtx-3060-12gb", "--precision", "Q4_K_M", "--max", "seq-len"])
    assert doc["answer"] == 48640 and doc["answer"] % 256 == 0
    assert "--n-gpu-layers -2" in doc["checks"][0]["command"] and "-ngl 33" in doc["command"]
    _checks_hold(doc)


def test_fit_how_many_layers_experts_go_to_ram():
    """`fit --min n-cpu-moe`: Mixtral-8x7B Q4_K_M on an RTX 4090 at 4k with every slot on it keeps
    6 layers' experts in RAM (5 is too few); Qwen3-30B-A3B at 32k on a 3060 12GB 30. Each with the
    evals of N and N - 1 and the llama-server line with --n-cpu-moe N. A dense model, or the default
    rule set, is a usage error."""
    doc = _fit(["--model", "mixtral-8x7b", "--rules", "llamacpp", "--gpu", "rtx-4090", "--precision", "Q4_K_M", "--min", "n-cpu-moe"])
    assert doc["answer"] == 6 and doc["command"].endswith("--n-cpu-moe 6") and "-ngl 33" in doc["command"]
    _checks_hold(doc)
    doc = _fit(["--model", "qwen3-30b-a3b", "--rules", "llamacpp", "--gpu", "rtx-3060-12gb", "--precision", "Q4_K_M", "--seq-len", "32768",
                "--host-ram", "32GiB", "--min", "n-cpu-moe"])
    assert doc["answer"] == 30
    _checks_hold(doc)
    for argv in (["--model", "llama3.1-8b", "--rules", "llamacpp"], ["--model", "mixtral-8x7b"]):
        r = CliRunner().invoke(main, ["fit", *argv, "--gpu", "rtx-4090", "--min", "n-cpu-moe"])
        assert r.exit_code == 2, r.output


def test_the_local_api_asks_the_same_questions():
    """`vramrules serve`'s fit (service/answer.py) holds the same search defaults and answers as
    the CLI: max n-gpu-layers 18, min n-cpu-moe 6 (test_fit_* above)."""
    from vramrules.service.answer import Service

    s = Service()
    d = s.fit({"model": "llama3.1-8b", "rules": "llamacpp", "gpu": "rtx-3060-12gb", "seq_len": 32768, "max": "n-gpu-layers"})
    assert d["answer"] == 18 and "-ngl 18" in d["command"]
    d = s.fit({"model": "mixtral-8x7b", "rules": "llamacpp", "gpu": "rtx-4090", "precision": "Q4_K_M", "min": "n-cpu-moe"})
    assert d["answer"] == 6 and d["command"].endswith("--n-cpu-moe 6")


def test_ngl_takes_llama_cpps_words():
    """-ngl auto|all|N as llama-server takes it (common/arg.cpp:2789-2797): auto (-1) is --fit's
    choice, all (-2) every slot; the vocabulary's `names:` of the input, so sweep and fit read
    them too. Another word is a usage error naming them."""
    base = ["eval", "--model", "llama3.1-8b", "--gpu", "rtx-3060-12gb", "--rules", "llamacpp", "--seq-len", "32768", "--format", "json"]
    slots = {w: json.loads(CliRunner().invoke(main, base + ["-ngl", w]).output)["figures"]["gpu_layer_slots"]["value"]
             for w in ("auto", "all", "-2", "-1", "7")}
    assert slots == {"auto": 18, "all": 33, "-2": 33, "-1": 18, "7": 7}
    r = CliRunner().invoke(main, base + ["-ngl", "most"])
    assert r.exit_code == 2 and "or auto, all" in r.output


def test_the_ollama_settings_that_start_the_same_llama_server():
    """Ollama 0.33 (ollama/ollama v0.33.0-rc2, llm/llama_server.go:375-409, :590-621) starts
    llama-server with -c num_ctx x OLLAMA_NUM_PARALLEL, -np OLLAMA_NUM_PARALLEL, -ngl num_gpu,
    -b and -ub num_batch, OLLAMA_KV_CACHE_TYPE as both cache types and OLLAMA_FLASH_ATTENTION as
    -fa on/off. The issue example: num_ctx 32768, num_gpu 18; two slots of q8_0 with flash
    attention: num_ctx is per slot. A flag Ollama cannot pass is named instead."""
    from vramrules.evaluation.engine_command import ollama

    res = _eval(gpu="rtx-3060-12gb", seq_len=32768)
    assert ollama(res) == {"env": {"OLLAMA_NUM_PARALLEL": "1"}, "parameters": {"num_ctx": 32768, "num_gpu": 18, "num_batch": 512}}
    two = ollama(_eval(gpu="rtx-3060-12gb", seq_len=32768, parallel=2, kv_precision="q8_0", kv_precision_v="q8_0", flash_attn="on"))
    assert two["env"] == {"OLLAMA_NUM_PARALLEL": "2", "OLLAMA_KV_CACHE_TYPE": "q8_0", "OLLAMA_FLASH_ATTENTION": "1"}
    assert two["parameters"]["num_ctx"] == 16384
    assert "--n-cpu-moe" in ollama(_eval(model="mixtral-8x7b", precision="Q4_K_M", gpu="rtx-4090", n_cpu_moe=4))["unavailable"]
    assert "-c 32767 over -np 2" in ollama(_eval(gpu="rtx-3060-12gb", seq_len=32767, parallel=2))["unavailable"]
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--gpu", "rtx-3060-12gb", "--rules", "llamacpp", "--seq-len", "32768"],
                           env={"COLUMNS": "200"})
    assert "Ollama 0.33 (it starts this llama-server): OLLAMA_NUM_PARALLEL=1 ollama serve; PARAMETER num_ctx 32768, num_gpu 18, num_batch 512" in r.output


# --- unified memory: the GPU's buffers and the host's are one pool ----------------------------

def test_unified_memory_counts_each_byte_once():
    """An M4 Max with 128 GiB (data/gpus.yaml: unified_memory, the GPU's default working set 0.75 of
    it): the GPU's buffers come out of the same RAM as the host's, so the host's usable memory is
    the pool less the GPU's part and the --fit margin, with or without --host-ram; a discrete GPU
    is unchanged (--host-ram alone)."""
    base = dict(model="llama3.1-70b", precision="Q4_K_M", seq_len=65536, gpu="apple-m4-max-128gb")
    res = _eval(**base)
    v = res.values
    assert v["unified_memory"] and v["host_ram_total"] == 128 * GIB
    assert v["host_usable"] == 128 * GIB - GIB - v["total"]
    h = res.host_verdict()
    assert h["ram"] == 128 * GIB and h["fits"]
    # a context that fits the GPU's working set alone but not the pool with the host's part
    assert _eval(**{**base, "n_gpu_layers": 40}, host_ram="64 GiB").values["host_usable"] == 64 * GIB - GIB - _eval(**{**base, "n_gpu_layers": 40}).values["total"]
    discrete = _eval(model="llama3.1-70b", precision="Q4_K_M", seq_len=32768, gpu="rtx-4090", host_ram="64 GiB").values
    assert not discrete["unified_memory"] and discrete["host_usable"] == 63 * GIB
    assert _eval(model="llama3.1-70b", precision="Q4_K_M", seq_len=32768, gpu="rtx-4090").host_verdict() is None


def test_jetson_orin_modules_are_one_pool_sized_as_cuda_reports_it():
    """Jetson Orin (data/gpus.yaml: unified_memory, no working-set limit): the GPU's usable memory is
    CUDA's total less the --fit margin, and the host's part of a plan comes out of the same pool
    (CUDA device queries: AGX Orin 64GB 'Global memory: 61 GB', tmcdonell/cuda#77; Orin NX 16GB
    15,189,422,080 B, atinfinity's deviceQuery gist; the Orin Nano 8GB at its marketed 8 GiB)."""
    for gpu, total in (("jetson-agx-orin-64gb", 61 * GIB), ("jetson-orin-nx-16gb", 15_189_422_080), ("jetson-orin-nano-8gb", 8 * GIB)):
        res = _eval(model="llama3.1-8b", precision="Q4_K_M", seq_len=8192, gpu=gpu)
        v = res.values
        assert v["unified_memory"] and v["host_ram_total"] == total, gpu
        assert v["host_usable"] == total - GIB - v["total"], gpu
        assert res.fit.fits and res.host_verdict()["fits"], gpu
    # 8 GiB: Llama-3.1-8B at Q4_K_M fits with 8k tokens, not with 32k (the KV cache alone is 4 GiB)
    assert not _eval(model="llama3.1-8b", precision="Q4_K_M", seq_len=32768, n_gpu_layers=-2, gpu="jetson-orin-nano-8gb").fit.fits
