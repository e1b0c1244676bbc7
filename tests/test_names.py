"""The user's words for catalog entries (issue 19): ids in any case, display and nvidia-smi
names, data aliases and llama.cpp spellings, short forms that name one entry; a short form that
fits several is answered with the choices, never with a guess."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

import vramrules
from vramrules.cli import main
from vramrules.errors import UsageError


@pytest.mark.parametrize("words,gpu", [
    ("RTX-4090", "rtx-4090"),
    ("NVIDIA GeForce RTX 4090", "rtx-4090"),     # as nvidia-smi names it
    ("RTX 4090", "rtx-4090"),
    ("4090", "rtx-4090"),
    ("3060", "rtx-3060-12gb"),
    ("mi300", "mi300x"),
    ("l4", "l4"),                                # an exact id wins over the ids that contain it
])
def test_gpu_words(words, gpu):
    assert vramrules.evaluate("llama3.1-8b", gpu=words, needed=False).scenario.gpu.id == gpu


@pytest.mark.parametrize("words,precision", [
    ("Q4_K_M", "gguf-q4-k-m"), ("q8_0", "gguf-q8-0"), ("Q5_K_M", "gguf-q5-k-m"), ("q4_k", "gguf-q4-k"),
    ("f16", "fp16"), ("F32", "fp32"), ("bfloat16", "bf16"), ("BF16", "bf16"),
])
def test_precision_words(words, precision):
    r = vramrules.evaluate("llama3.1-8b", precision=words, kv_precision=words if words.startswith(("f", "F", "b")) else None)
    assert r.scenario.selections["precision"].id == precision


@pytest.mark.parametrize("words,model", [("LLAMA3.1-8B", "llama3.1-8b"), ("meta-llama/Llama-3.1-8B", "llama3.1-8b")])
def test_model_words(words, model):
    assert vramrules.evaluate(words).scenario.model.id == model


@pytest.mark.parametrize("words,choices", [
    ("h100", "h100-nvl-94gb, h100-pcie-80gb, h100-sxm-80gb"),
    ("a100", "a100-40gb, a100-80gb"),
])
def test_a_short_form_of_several_is_answered_with_the_choices(words, choices):
    with pytest.raises(UsageError, match=f"'{words}' could be any of: {choices}; give one id"):
        vramrules.evaluate("llama3.1-8b", gpu=words)
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--gpu", words])
    assert r.exit_code == 2


def test_short_forms_work_in_fit_and_sweep():
    r = CliRunner().invoke(main, ["fit", "--model", "meta-llama/Llama-3.1-8B", "--gpu", "4090", "--max", "seq-len"])
    assert r.exit_code == 0 and "53,921" in r.output  # the same answer as for llama3.1-8b on rtx-4090 (README)
    r = CliRunner().invoke(main, ["sweep", "--model", "LLAMA3.1-8B", "--mode", "inference", "--gpu", "4090,3060", "--precision", "Q4_K_M"])
    assert r.exit_code == 0 and "llama3.1-8b,inference,gguf-q4-k-m,rtx-4090," in r.output and ",rtx-3060-12gb," in r.output
