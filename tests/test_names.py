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


@pytest.mark.parametrize("words,model", [
    ("meta-llama/Llama-3.1-8B-Instruct", "llama3.1-8b"),      # a Hub repo id listed under hub:
    ("META-LLAMA/llama-3.1-8b-instruct", "llama3.1-8b"),      # in any case, as the Hub resolves it
    ("meta-llama/Meta-Llama-3.1-8B", "llama3.1-8b"),          # the name it was released under
    ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5-7b"),
    ("google/gemma-3-12b-it", "gemma3-12b"),
    ("Llama-3.1-8B-Instruct", "llama3.1-8b"),                 # a repo's name without its org
])
def test_hub_repo_ids_name_catalog_models(words, model):
    assert vramrules.evaluate(words, needed=False).scenario.model.id == model


def test_every_hub_id_names_its_own_model(catalog):
    seen: dict = {}
    for mid, e in catalog.kind("model").items():
        for repo in e.raw.get("hub") or []:
            assert repo.lower() not in seen, (repo, seen.get(repo.lower()), mid)
            seen[repo.lower()] = mid
            assert vramrules.evaluate(repo, catalog=catalog, needed=False).scenario.model.id == mid
    assert len(seen) >= 43


def test_an_unknown_repo_id_is_not_guessed():
    """A fine-tune or re-upload with a catalog model's name is not taken for it: the closest
    catalog names and the hf: spelling that reads the repo itself are the answer (exit 2)."""
    with pytest.raises(UsageError) as exc:
        vramrules.evaluate("someone/Llama-3.1-8B-Instruct", needed=False)
    text = str(exc.value)
    assert "unknown model 'someone/Llama-3.1-8B-Instruct'" in text and "llama3.1-8b" in text
    assert "--model hf:someone/Llama-3.1-8B-Instruct" in text
    r = CliRunner().invoke(main, ["eval", "--model", "unsloth/Llama-3.1-8B"])
    assert r.exit_code == 2 and "hf:unsloth/Llama-3.1-8B" in r.output and "llama3.1-8b" in r.output


def test_a_repo_id_for_a_gpu_or_precision_keeps_the_usual_rules():
    assert vramrules.evaluate("llama3.1-8b", gpu="NVIDIA/H100-SXM-80GB", needed=False).scenario.gpu.id == "h100-sxm-80gb"


def test_read_spellings_where_only_catalog_names_go():
    r = CliRunner().invoke(main, ["sweep", "--model", "hf:meta-llama/Llama-3.1-8B", "--mode", "inference", "--gpu", "l4"])
    assert r.exit_code == 2 and "is a model to read from the Hugging Face Hub" in r.output and "Traceback" not in r.output
