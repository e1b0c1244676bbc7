"""What is computed only when it is read: a search probe's verdict evaluates the rules of the
branches it takes (backends/compiler._on_demand), and a prepared API call's Result makes its
breakdown and warnings when first read (evaluation/result.Result parts). Both must answer
exactly what the full evaluation answers."""
import pytest

import vramrules
from vramrules import api
from vramrules.backends import interpreter
from vramrules.evaluation.evaluate import evaluate_in, verdict_in

CASES = [
    ("llama3-70b", "train-lora", "h100-sxm-80gb", {"dp": 4, "zero": 3}),
    ("llama3-70b", "train-lora", "h100-sxm-80gb", {"dp": 4, "zero": 3, "activation_profile": "hf"}),
    ("llama3.1-8b", "train-full", "rtx-4090", {"recompute": "none"}),
    ("mixtral-8x7b", "serve", "h100-sxm-80gb", {"tp": 2}),
    ("qwen3-30b-a3b", "train-grpo", "h100-sxm-80gb", {"dp": 8, "zero": 3}),
    ("deepseek-v3", "inference", "h100-sxm-80gb", {"tp": 8, "pp": 2}),
    ("jamba-v0.1", "inference", "l4", {"seq_len": 32768}),
]


@pytest.mark.parametrize("model,mode,gpu,options", CASES)
def test_a_probe_verdict_is_the_full_evaluations(model, mode, gpu, options):
    cat = api.load_catalog()
    full = evaluate_in(cat, model, mode, gpu=gpu, once=True, **options).fit
    v = verdict_in(cat, model, mode, gpu=gpu, **options)
    assert (v.fits, v.needed_per_gpu, v.capacity_per_gpu) == (full.fits, full.needed_per_gpu.bytes, full.capacity_per_gpu.bytes)


def test_a_probe_skips_the_rules_of_the_profile_not_chosen(monkeypatch):
    """The training modes carry both activation profiles' rules (act_megatron_*, act_hf_*:
    data/rules/default.yaml); a probe under one profile evaluates none of the other's (the
    fewest-GPUs search of the README's first command made 8 probes that each computed both)."""
    cat = api.load_catalog()
    comp = api.compiled_mode(cat, "default", "train-lora", True, lean=True, once=True)
    name_of: dict = {}
    made = cat.functions[("interpreters", "default", "train-lora")]
    for name, step in made.items():
        name_of[id(step)] = name
    seen: set = set()
    real = interpreter.Interpreted.__call__
    monkeypatch.setattr(interpreter.Interpreted, "__call__", lambda self, env, i=None: seen.add(name_of.get(id(self))) or real(self, env, i))
    for profile, other in (("megatron", "act_hf_"), ("hf", "act_megatron_")):
        seen.clear()
        verdict_in(cat, "llama3-70b", "train-lora", gpu="h100-sxm-80gb", dp=4, zero=3, activation_profile=profile)
        assert any(n.startswith(other) for n in comp.order)  # the lean mode reads both profiles' rules
        assert seen and not [n for n in seen if n and n.startswith(other)]


def test_min_gpus_answers_as_before():
    """The README's first command: llama3-70b LoRA needs 2 x H100 80GB (the search's answer,
    now from verdicts; session 5's README shows the same figure)."""
    r = vramrules.evaluate("llama3-70b", "train-lora", gpu="h100-sxm-80gb")
    assert (r.fit.fits, r.fit.gpus_needed) == (False, 2)


def test_a_prepared_results_breakdown_is_made_when_read():
    cat = api.load_catalog()
    args = dict(gpu="rtx-4090", catalog=cat, needed=False)
    vramrules.evaluate("llama3.1-8b", "inference", seq_len=4096, batch=1, lora_rank=16, **args)
    fast = vramrules.evaluate("llama3.1-8b", "inference", seq_len=131072, batch=3, lora_rank=8, **args)
    assert fast._parts is not None  # nothing made yet
    full = evaluate_in(cat, "llama3.1-8b", "inference", gpu="rtx-4090", seq_len=131072, batch=3, lora_rank=8)
    assert fast.total == full.total and fast.fit.fits == full.fit.fits
    assert [(c.name, c.memory, c.share) for c in fast.components] == [(c.name, c.memory, c.share) for c in full.components]
    assert fast.warnings == full.warnings and any("lora_rank" in w or "--lora-rank" in w for w in fast.warnings)
    assert [(h.name, h.memory) for h in fast.host] == [(h.name, h.memory) for h in full.host]
