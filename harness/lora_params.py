"""How many parameters PEFT's LoRA really trains on a model, module by module (issue 16).

For each architecture of harness/activations.py (the same reduced real models: every width kept,
the vocabulary 512, at most 4 experts, 2 layers), PEFT's get_peft_model(LoraConfig(r=16,
target_modules="all-linear")) is applied to the model built on the meta device, and every
trainable parameter is counted, grouped by where it sits: the attention, a dense MLP, the routed
experts (PEFT 0.21 adapts transformers v5's fused 3-D expert weights as parameters), the router,
the shared experts, a recurrent mixer, outside the layers. Written to
tests/cases/measured/lora_params.json; tests/test_measured_lora_params.py compares the rules'
lora_params with it, without torch.

    /tmp/harness-venv/bin/python harness/lora_params.py
    /tmp/harness-venv/bin/python harness/lora_params.py --only mixtral-8x7b
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import traceback
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import activations as act  # noqa: E402  (the same architectures and reduced configs)
import transformers_alloc as ta  # noqa: E402

OUT = ta.ROOT / "tests" / "cases" / "measured" / "lora_params.json"
SCHEMA = "vramrules-measured-lora-params/1"
RANK = 16
# architectures where adapter placement is not plain: MoE (PEFT's expert conversion), fused modules, hybrids
ARCHS = ["mixtral-8x7b", "qwen3-30b-a3b", "deepseek-v2-lite", "gpt-oss-20b", "qwen3_next", "jamba-v0.1",
         "llama3.1-8b", "phi3-mini-4k", "gpt2"]


def _part(name: str) -> str:
    """Where a LoRA parameter sits, from its module path."""
    m = act.LAYER_RE.search(name)
    if not m:
        return "outside"
    sub = name[m.end():]
    if "shared_expert" in sub:
        return "shared_experts"
    if ".experts" in "." + sub:
        return "experts"
    if sub.startswith(("mlp.gate.", "mlp.router.", "feed_forward.router.", "block_sparse_moe.gate.", "mlp.gate.base_layer")):
        return "router"
    if sub.startswith(("self_attn.", "attn.", "attention.")):
        return "attention"
    if sub.startswith(("mamba.", "linear_attn.", "mixer.")):
        return "mixer"
    if sub.startswith(("mlp.", "feed_forward.")):
        return "mlp"
    return "other:" + sub.split(".lora_")[0]


def measure(stem: str, versions: dict, today: str) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder, extra, *cls = act.ARCHS[stem]
    raw = json.loads((ta.ROOT / "tests" / "cases" / folder / f"{stem}.json").read_text(encoding="utf-8"))
    built, _ = ta._for_torch(raw)
    reduced, changed = act.reduced_config(built, extra)
    cfg = ta._load_config(reduced)
    text = cfg.get_text_config(decoder=True)
    for key in ta.TOKEN_ID_KEYS:
        value = getattr(text, key, None)
        if isinstance(value, int) and value >= act.VOCAB:
            setattr(text, key, None)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(text, dtype=torch.bfloat16)
    model = get_peft_model(model, LoraConfig(r=RANK, lora_alpha=2 * RANK, target_modules="all-linear", task_type="CAUSAL_LM"))
    per_layer: dict = defaultdict(lambda: defaultdict(int))
    shapes: dict = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        m = act.LAYER_RE.search(name)
        layer = m.group(1) if m else "outside"
        part = _part(name)
        per_layer[layer][part] += p.numel()
        if layer in ("0", "1"):
            shapes[name.split("layers.", 1)[-1]] = list(p.shape)
    total = sum(sum(v.values()) for v in per_layer.values())
    return {"config": f"tests/cases/{folder}/{stem}.json", "reduced_model": {"changes": changed, "num_hidden_layers": act.LAYERS},
            "lora": {"r": RANK, "lora_alpha": 2 * RANK, "target_modules": "all-linear"},
            "trainable_params": total, "per_layer": {k: dict(v) for k, v in sorted(per_layer.items())},
            "parameter_shapes_of_layers_0_and_1": shapes, "date": today, "versions": versions,
            "source": (f"measured by harness/lora_params.py with transformers {versions['transformers']}, "
                       f"torch {versions['torch']}, peft {versions['peft']} on the meta device, {today}")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    versions, today = ta._versions(), datetime.date.today().isoformat()
    doc = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    entries = doc.get("entries", {})
    failed = 0
    for stem in args.only or ARCHS:
        try:
            entries[stem] = measure(stem, versions, today)
            print(stem, entries[stem]["trainable_params"], json.dumps(entries[stem]["per_layer"]), file=sys.stderr, flush=True)
        except Exception:
            traceback.print_exc()
            failed += 1
    doc = {"schema": SCHEMA, "units": "parameters", "about": "PEFT LoRA trainable parameters per layer and module kind",
           "entries": dict(sorted(entries.items()))}
    args.out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
