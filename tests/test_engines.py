"""--engine NAME[@VERSION] (data/engines.yaml): a serving engine's profile picks the rule set and
mode the answer follows, on eval, fit, sweep and the API; an unknown engine or release is a usage
error (exit 2) that lists the known ones."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import vramrules
from vramrules.cli import main

# vLLM 0.15.1 on an A100 40GB logs 157,936 tokens for Llama-3.1-8B; the serve mode's estimate is
# 158,377 (README "Serving capacity"; data/measurements.yaml vllm-llama31-8b-kv-tokens)
LLAMA_8B_A100_TOKENS = 158_377


def run(*args):
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output


def doc(*args):
    code, out = run(*args, "--format", "json")
    assert code == 0, out
    return json.loads(out)


@pytest.mark.parametrize("spelling", ["llama.cpp", "llamacpp", "llama-cpp", "llama-server", "llama.cpp@0c1e57098"])
def test_llamacpp_engine_is_the_llamacpp_rule_set(spelling):
    base = ["eval", "--model", "llama3.1-8b", "--gpu", "rtx-3060-12gb", "--seq-len", "32768", "--precision", "Q4_K_M", "-ngl", "20"]
    by_rules = doc(*base, "--rules", "llamacpp")
    by_engine = doc(*base, "--engine", spelling)
    assert by_engine["rules"] == "llamacpp" and by_engine["mode"] == "inference"
    assert by_engine["components"] == by_rules["components"] and by_engine["total"] == by_rules["total"]
    assert by_engine["command"] == by_rules["command"]  # llama-server's command line, as --rules llamacpp prints it
    assert by_engine["engine"] == {"id": "llama-cpp", "name": "llama.cpp", "release": "0c1e57098"}
    assert not any("--engine" in w for w in by_engine["warnings"])


def test_vllm_engine_implies_serve_and_names_its_release():
    d = doc("eval", "--model", "llama3.1-8b", "--gpu", "a100-40gb", "--engine", "vllm@0.10.1")
    assert d["mode"] == "serve" and d["rules"] == "default"
    assert d["engine"] == {"id": "vllm", "name": "vLLM", "release": "0.10.1"}
    assert d["inputs"]["engine"] == "vllm@0.10.1" and d["input_origin"]["engine"] == "option"
    assert d["figures"]["kv_token_capacity"]["value"] == LLAMA_8B_A100_TOKENS
    assert not d["warnings"]
    code, out = run("eval", "--model", "llama3.1-8b", "--gpu", "a100-40gb", "--engine", "vllm")
    assert code == 0 and "engine: vLLM 0.27.1" in out.splitlines()[0], out  # no @VERSION: the newest release covered


def test_serve_without_engine_is_vllm_and_inference_names_none():
    assert doc("eval", "--model", "llama3.1-8b", "--gpu", "a100-40gb", "--mode", "serve")["engine"]["id"] == "vllm"
    assert doc("eval", "--model", "llama3.1-8b", "--gpu", "a100-40gb")["engine"] is None


def test_engine_with_a_mode_it_does_not_model_says_so():
    d = doc("eval", "--model", "llama3.1-8b", "--gpu", "a100-40gb", "--engine", "vllm", "--mode", "inference")
    assert d["engine"] is None
    assert any(w.startswith("--engine does not apply to mode 'inference'") for w in d["warnings"])


@pytest.mark.parametrize("engine,words", [
    ("vlm", ["unknown engine 'vlm'", "did you mean: vllm", "vLLM (vllm[@0.6.0 to 0.27.1])", "llama.cpp (llama-cpp)",
             "SGLang", "TensorRT-LLM"]),
    ("vllm@0.3.0", ["unknown vLLM version '0.3.0'", "0.6.0 to 0.27.1"]),
    ("vllm@0.28", ["unknown vLLM version '0.28'"]),
    ("vllm@latest", ["'latest' is not a release number"]),
    ("vllm@", ["give a version after '@'"]),
    ("llama.cpp@b4600", ["unknown llama.cpp version 'b4600'", "0c1e57098"]),
])
def test_unknown_engine_or_release_is_a_usage_error(engine, words):
    code, out = run("eval", "--model", "llama3.1-8b", "--gpu", "a100-40gb", "--engine", engine)
    assert code == 2, out
    assert "Traceback" not in out
    for w in words:
        assert w in out, out


def test_engine_and_another_rule_set_contradict():
    code, out = run("eval", "--model", "llama3.1-8b", "--gpu", "a100-40gb", "--engine", "llama.cpp", "--rules", "default")
    assert code == 2 and "modelled by rule set 'llamacpp'" in out, out


def test_fit_takes_the_engine():
    code, out = run("fit", "--model", "llama3.1-8b", "--gpu", "l4", "--engine", "vllm@0.10", "--max", "batch")
    assert code == 0, out
    assert "--mode serve" in out and "--engine vllm@0.10" in out  # the check commands repeat the frame


def test_sweep_takes_a_list_of_engines_of_one_rule_set():
    code, out = run("sweep", "--model", "llama3.1-8b", "--gpu", "l4", "--engine", "vllm,sglang,trtllm", "--seq-len", "4k")
    assert code == 0, out
    rows = [line.split(",") for line in out.strip().splitlines()]
    head = rows[0]
    assert [r[head.index("engine")] for r in rows[1:]] == ["vllm", "sglang", "trtllm"]
    assert {r[head.index("mode")] for r in rows[1:]} == {"serve"}
    code, out = run("sweep", "--model", "llama3.1-8b", "--gpu", "l4", "--engine", "vllm,llama.cpp")
    assert code == 2 and "different rule sets" in out, out


def test_api_takes_the_engine():
    r = vramrules.evaluate("llama3.1-8b", gpu="rtx-3060-12gb", engine="llamacpp", seq_len=32768, precision="Q4_K_M", n_gpu_layers=20)
    same = vramrules.evaluate("llama3.1-8b", gpu="rtx-3060-12gb", rules="llamacpp", seq_len=32768, precision="Q4_K_M", n_gpu_layers=20)
    assert r.scenario.ruleset == "llamacpp" and r.total.bytes == same.total.bytes
    assert vramrules.evaluate("llama3.1-8b", gpu="a100-40gb", engine="sglang").scenario.mode == "serve"


def test_list_engines():
    code, out = run("list", "engines", "--format", "json")
    assert code == 0, out
    rows = {r["id"]: r for r in json.loads(out)}
    assert set(rows) == {"vllm", "sglang", "trtllm", "llama-cpp"}
    assert rows["llama-cpp"]["rules"] == "llamacpp" and rows["vllm"]["mode"] == "serve"
