"""The shipped summary of harness/activations.py's measurement (issue 16): what
`vramrules check-measurements` compares the activation rules with, without torch and without the
full record (tests/cases/measured/activations.json, 1.4 MB of saved tensors by group, which the
wheel does not ship).

Per architecture: the harness's source line and library versions, the config the reduced model
was built from as vramrules imports it (the reduced number of experts: the router keeps one
probability per expert), and per regime the vramrules scenario that models it and, per decoder
layer, the measured bytes per token and per token per context token (eager attention's s x s
part); outside the layers, the final norm, lm_head input, ids, labels, rotary cos/sin and the
loss's fp32 log-softmax. Torch-free: tests/test_measured_activations.py checks that
data/activations-measured.json is exactly this summary of the full record.

    python harness/activations_summary.py      # rewrite data/activations-measured.json from the record

What is a judgement, not a measurement, is kept from the file as it is: `tolerance`, the
CPU-only assumptions (`set`) and the named `gaps`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "tests" / "cases" / "measured" / "activations.json"
OUT = ROOT / "data" / "activations-measured.json"
SCHEMA = "vramrules-activations-measured/1"
EXPERT_KEYS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")   # harness/transformers_alloc.py
DROPOUT_KEYS = ("resid_pdrop", "attn_pdrop", "embd_pdrop", "attention_dropout", "hidden_dropout", "dropout")


def config_text(entry: dict) -> bytes:
    """The bytes the harness built the model from: the config file, or a transformers default config kept in the entry."""
    if "config_dict" in entry:
        return json.dumps(entry["config_dict"], indent=2, sort_keys=True).encode("utf-8")
    return (ROOT / entry["config"]).read_bytes()


def import_config(entry: dict) -> dict:
    """The config as vramrules imports it for the comparison: the reduced model's number of experts
    (a router keeps a probability per expert) and the experts per token a default config leaves null."""
    config = json.loads(config_text(entry))
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    for key, (old, new) in entry["reduced_model"]["changes"].items():
        if old is None and text.get(key, None) is None and key != "use_cache":
            text[key] = new   # a default config's null (DeepseekV2Config's experts per token), as the harness ran it
        elif key in EXPERT_KEYS:
            text[key] = new
    return config


def model_dropout(entry: dict) -> bool:
    """The config's own dropout is on in train mode (GPT-2's 0.1; modern configs 0.0)."""
    config = import_config(entry)
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    return any(isinstance(text.get(k), (int, float)) and not isinstance(text.get(k), bool) and text.get(k) > 0 for k in DROPOUT_KEYS)


def scenario(regime: dict, entry: dict) -> dict:
    """The vramrules scenario of a measured regime (train-full or train-lora, --attention, --recompute,
    --adapter-precision, --dropout, --autocast)."""
    lora = regime["lora"]
    mode = {"lora": "train-lora", "qlora": "train-qlora"}.get(regime["training"], "train-full")
    return {"mode": mode,
            "attention": "eager" if regime["attn_implementation"] == "eager" else "flash",
            "recompute": "full" if regime["gradient_checkpointing"] else "none",
            "adapter_precision": "bf16" if lora and lora["adapter_dtypes"] == ["bfloat16"] else "fp32",
            "dropout": bool(lora["lora_dropout"]) if lora else model_dropout(entry),
            "autocast": regime.get("autocast") == "bfloat16",
            # peft's prepare_model_for_kbit_training casts every bf16 parameter left to fp32: the residual stream,
            # the norms and every linear layer's output are fp32 (bitsandbytes' Linear4bit returns its input's dtype)
            **({"compute_precision": "fp32"} if "prepare_model_for_kbit_training" in (regime.get("quantization") or {}) else {})}


def summarize(record: dict, kept: dict | None = None) -> dict:
    """The summary of the full record; `kept` is the summary as it is (its judgements are kept)."""
    kept = kept or {}
    entries = {}
    for name, e in sorted(record["entries"].items()):
        regimes = {}
        for rname, r in sorted(e["regimes"].items()):
            shared = (r["shared_by_layers"] or {}).get("bytes_per_token") or 0
            regimes[rname] = {
                "scenario": scenario(r["regime"], e),
                "layers": {k: {"bytes_per_token": v["bytes_per_token"],
                               "bytes_per_token_per_context_token": v["bytes_per_token_per_context_token"]}
                           for k, v in sorted(r["layers"].items())},
                "outside_layers_bytes_per_token": r["outside_layers"]["bytes_per_token"] + shared,
            }
        entries[name] = {
            "source": e["source"] + " (harness/activations.py in the vramrules repository; the saved tensors group by"
                                    " group are in its record, tests/cases/measured/activations.json)",
            "versions": e["versions"], "date": e["date"], "config": e["config"], "config_sha256": e["config_sha256"],
            "model_type": e["model_type"], "model_config": import_config(e),
            "vocab_size": int(e["reduced_model"]["changes"]["vocab_size"][1]),
            "layers": [{"mlp": x["mlp"], "kind": x["cache_kind"]} for x in e["reduced_model"]["layers"]],
            "regimes": regimes,
        }
    return {"schema": SCHEMA,
            "about": kept.get("about", ""),
            "units": "bytes per token of batch 1 (integers); bytes_per_token_per_context_token: per token per token of context",
            "seq_len": kept.get("seq_len", 64),
            "tolerance": kept.get("tolerance", {"layer": 0.05, "outside": 0.10}),
            "set": kept.get("set", {}),
            "gaps": kept.get("gaps", {}),
            "entries": entries}


def text_of(doc: dict) -> str:
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    record = json.loads(RECORD.read_text(encoding="utf-8"))
    kept = json.loads(OUT.read_text(encoding="utf-8")) if OUT.exists() else {}
    OUT.write_text(text_of(summarize(record, kept)), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
