"""What the real `transformers` implementation allocates for each config.json in tests/cases/hf/.

For every config whose model_type the installed transformers knows:

* params: the model built from the full config on the meta device (no memory is touched), counted
  with shared tensors once (`total`) and once per name (`total_counting_shared_each_time`), split by
  top-level component (embeddings, decoder layers, lm_head, vision tower, ...);
* cache: a reduced real model (bfloat16, CPU) that keeps every dimension the cache depends on but
  has a 512-token vocabulary, at most 4 experts (never fewer than the experts per token), small MLP
  widths and one period of the layer pattern; forward passes of 16 and 48 tokens (batch 1) and one
  decode step; from the returned cache object, per layer kind: the bytes per token (growth between
  the two lengths) and the bytes per sequence that do not grow (recurrent / convolution state), with
  every tensor's dtype and shapes; scaled to the full model's count of layers of each kind, taken
  from transformers' own cache layout for the full config;
* a sliding-window probe for configs that have sliding layers: the same reduced model with a small
  window, run past it, to see how many positions the cache keeps.

Run it in an environment with the `measure` extra (torch, transformers, peft), never in CI:

    python harness/transformers_alloc.py                   # every config, writes the JSON
    python harness/transformers_alloc.py --only jamba-v0.1  # one config, merged into the JSON

See harness/README.md for the output's fields. Every number is bytes or a plain count.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import hashlib
import inspect
import json
import math
import platform
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "tests" / "cases" / "hf"
OUT = ROOT / "tests" / "cases" / "measured" / "transformers.json"
SCHEMA = "vramrules-measured-transformers/1"

SEQ_LENS = (16, 48)          # two prefill lengths: growth between them is the per-token part
REDUCED_VOCAB = 512
MAX_EXPERTS = 4
MAX_MLP_WIDTH = 256          # MLP widths do not enter any cache
PROBE_WINDOW = 24            # sliding window of the probe model, run with PROBE_LEN > window tokens
PROBE_LEN = 40

EXPERT_KEYS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")
PER_TOKEN_KEYS = ("num_experts_per_tok", "moe_topk", "num_experts_per_token")
# MLP widths that decide no cache size. Families whose `intermediate_size` is the SSM inner width
# (mamba, mamba2, falcon_mamba) keep it.
MLP_KEYS = ("intermediate_size", "moe_intermediate_size", "shared_expert_intermediate_size", "shared_intermediate_size",
            "moe_shared_expert_intermediate_size", "ffn_dim", "n_inner")
SSM_INNER_IS_INTERMEDIATE = {"mamba", "mamba2", "falcon_mamba"}
TOKEN_ID_KEYS = ("pad_token_id", "bos_token_id", "eos_token_id")
# keys that would make transformers build something other than plain bf16 weights, or need CUDA kernels
DROP_KEYS = ("quantization_config",)
CPU_SETTINGS = {"use_mamba_kernels": False}
# model_types transformers has no class for, whose config names an architecture it has: built as that one
# (Kimi K2's config.json: "architectures": ["DeepseekV3ForCausalLM"], custom code under model_type kimi_k2)
BUILT_AS = {"kimi_k2": "deepseek_v3"}
# published values transformers 5's typed configs refuse, as it reads them: Llama 4's config.json has
# "attn_temperature_tuning": 4 (transformers 4.51 read it as a truth value; Llama4TextConfig now declares a bool);
# no parameter or cache depends on it
AS_BOOL = ("attn_temperature_tuning",)
LAYER_LIST_KEYS = ("layer_types", "layers_block_type", "no_rope_layers")  # Llama 4: one 1/0 (RoPE/NoPE) per layer
LAYER_PATTERN_KEYS = ("hybrid_override_pattern",)
VISION_PREFIXES = ("vision", "visual", "multi_modal_projector", "mm_projector", "merger", "image")


def _versions() -> dict:
    import peft
    import torch
    import transformers

    return {"transformers": transformers.__version__, "torch": torch.__version__, "peft": peft.__version__,
            "python": platform.python_version()}


def _text_part(raw: dict) -> dict:
    """The dict that holds the language model's fields (the top level, or text_config)."""
    return raw["text_config"] if isinstance(raw.get("text_config"), dict) else raw


def _load_config(raw: dict):
    from transformers import AutoConfig

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(raw), encoding="utf-8")
        return AutoConfig.from_pretrained(tmp)


def _for_torch(raw: dict) -> tuple[dict, dict]:
    """The config as the harness builds it (meta and reduced alike): without quantization, with the
    pure-torch code paths. Returns the dict and what was changed."""
    raw = copy.deepcopy(raw)
    changes: dict = {"dropped": [], "set": {}}
    for part in (raw, _text_part(raw)):
        for key in DROP_KEYS:
            if key in part:
                del part[key]
                changes["dropped"].append(key)
        if part.get("model_type") in BUILT_AS:
            changes["set"]["model_type"] = [part["model_type"], BUILT_AS[part["model_type"]]]
            part["model_type"] = BUILT_AS[part["model_type"]]
        for key in AS_BOOL:
            if key in part and not isinstance(part[key], bool):
                changes["set"][key] = [part[key], bool(part[key])]
                part[key] = bool(part[key])
        for key, value in CPU_SETTINGS.items():
            if key in part and part[key] != value:
                changes["set"][key] = [part[key], value]
                part[key] = value
    changes["dropped"] = sorted(set(changes["dropped"]))
    return raw, changes


def layer_kinds(config) -> tuple[list[str], list[dict]]:
    """transformers' own cache layout for a config: one cache-layer type per decoder layer."""
    from transformers.cache_utils import get_layer_types_and_kwargs

    return get_layer_types_and_kwargs(config.get_text_config(decoder=True))


def _period(kinds: list[str]) -> int:
    for p in range(1, len(kinds) + 1):
        if all(kinds[i] == kinds[i % p] for i in range(len(kinds))):
            return p
    return len(kinds)


def reduced_layer_count(kinds: list[str]) -> int:
    """One full period of the layer pattern (at least 2 layers, to see that layers of a kind agree);
    for an irregular pattern, the shortest prefix that holds every kind."""
    p = _period(kinds)
    if p <= 16:
        return min(len(kinds), p * math.ceil(2 / p))
    wanted = set(kinds)
    for k in range(1, len(kinds) + 1):
        if set(kinds[:k]) == wanted:
            return k
    return len(kinds)


def _reduce(raw: dict, full_config, k: int) -> tuple[dict, dict]:
    """The reduced config dict and a {key: [full, reduced]} record of every change."""
    raw = copy.deepcopy(raw)
    text = _text_part(raw)
    full_text = full_config.get_text_config(decoder=True)
    changed: dict = {}

    def put(key, value, part=text):
        old = part.get(key, getattr(full_text, key, None))
        if old != value:
            changed[key] = [old, value]
        part[key] = value

    put("vocab_size", REDUCED_VOCAB)
    for key in TOKEN_ID_KEYS:
        value = text.get(key, getattr(full_text, key, None))
        if isinstance(value, int) and value >= REDUCED_VOCAB:
            put(key, 0)
        elif isinstance(value, list) and any(isinstance(v, int) and v >= REDUCED_VOCAB for v in value):
            put(key, [v for v in value if v < REDUCED_VOCAB] or [0])
    per_tok = next((text[key] for key in PER_TOKEN_KEYS if isinstance(text.get(key), int)), 1)
    for key in PER_TOKEN_KEYS:   # a default config may leave it unset (DeepseekV2Config: None), and its router cannot run
        if key in text and text[key] is None and any(isinstance(text.get(k), int) for k in EXPERT_KEYS):
            put(key, 1)
    for key in EXPERT_KEYS:
        value = text.get(key)
        if isinstance(value, int) and value > MAX_EXPERTS:
            put(key, max(MAX_EXPERTS, per_tok))
    for key in ("n_group", "topk_group"):
        if isinstance(text.get(key), int) and text[key] > 1:
            put(key, 1)
    model_type = text.get("model_type", raw.get("model_type"))
    for key in MLP_KEYS:
        if key == "intermediate_size" and model_type in SSM_INNER_IS_INTERMEDIATE:
            continue
        value = text.get(key)
        if isinstance(value, int) and value > MAX_MLP_WIDTH:
            put(key, MAX_MLP_WIDTH)
    # the layer pattern: one period, written in the config's own vocabulary
    for key in LAYER_LIST_KEYS:
        if isinstance(text.get(key), list):
            put(key, text[key][:k])
    for key in LAYER_PATTERN_KEYS:
        if isinstance(text.get(key), str):
            put(key, text[key][:k])
    for key in ("mlp_only_layers", "moe_layers"):
        if isinstance(text.get(key), list):
            put(key, [i for i in text[key] if i < k])
    put("num_hidden_layers", k)
    # the vision tower is not run for the cache: keep one block of it
    vision = raw.get("vision_config")
    if isinstance(vision, dict):
        for key in ("depth", "num_hidden_layers"):
            if isinstance(vision.get(key), int) and vision[key] > 1:
                changed[f"vision_config.{key}"] = [vision[key], 1]
                vision[key] = 1
    return raw, changed


def _tensor_record(t) -> dict:
    return {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape), "bytes": t.numel() * t.element_size()}


def cache_tensors(cache) -> list[dict[str, dict]]:
    """Per decoder layer: {tensor name: {dtype, shape, bytes}} of what the cache object holds."""
    layers = getattr(cache, "layers", None)
    if layers is None:
        raise TypeError(f"{type(cache).__name__} has no per-layer `layers`; this harness reads the layered cache API")
    import torch

    out = []
    for layer in layers:
        rec: dict[str, dict] = {}
        for name, value in vars(layer).items():
            if name.startswith("_"):
                continue   # bookkeeping (e.g. the sliding window as a 0-d tensor), not cache storage
            if isinstance(value, torch.Tensor) and value.numel():
                rec[name] = _tensor_record(value)
            elif isinstance(value, dict):
                for idx, item in value.items():
                    if isinstance(item, torch.Tensor) and item.numel():
                        rec[f"{name}[{idx}]"] = _tensor_record(item)
        out.append({"class": type(layer).__name__, "tensors": rec})
    return out


def _forward(model, n_tokens: int, seed: int = 0):
    import torch

    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, REDUCED_VOCAB, (1, n_tokens), generator=gen)
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True)
    return _returned_cache(out)


def _decode_step(model, cache, position: int):
    import torch

    ids = torch.tensor([[1]])
    # newer transformers name the argument `cache`, older ones `past_key_values`
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True, cache_position=torch.tensor([position]), **{name: cache})
    return _returned_cache(out)


def _returned_cache(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _build_reduced(cfg):
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    text = cfg.get_text_config(decoder=True)
    try:
        model = AutoModelForCausalLM.from_config(text, dtype=torch.bfloat16)
    except ValueError:
        from transformers import AutoModelForImageTextToText

        model = AutoModelForImageTextToText.from_config(cfg, dtype=torch.bfloat16)
    return model.eval()


def measure_cache(raw: dict, full_config) -> dict:
    full_kinds, full_kwargs = layer_kinds(full_config)
    k = reduced_layer_count(full_kinds)
    reduced_raw, changed = _reduce(raw, full_config, k)
    cfg = _load_config(reduced_raw)
    kinds, kwargs = layer_kinds(cfg)
    if kinds != full_kinds[:k]:
        raise RuntimeError(f"the reduced model's layer kinds {kinds} are not the full model's first {k}: {full_kinds[:k]}")
    model = _build_reduced(cfg)

    short, long = SEQ_LENS
    at = {n: cache_tensors(_forward(model, n)) for n in SEQ_LENS}
    decoded = cache_tensors(_decode_step(model, _forward(model, long), long))

    per_layer = []
    for i in range(k):
        a, b, d = at[short][i], at[long][i], decoded[i]
        tensors = {}
        for name in sorted(set(a["tensors"]) | set(b["tensors"])):
            ta, tb, td = a["tensors"].get(name), b["tensors"].get(name), d["tensors"].get(name)
            grow, rem = divmod((tb["bytes"] if tb else 0) - (ta["bytes"] if ta else 0), long - short)
            if rem:
                raise RuntimeError(f"layer {i} {name}: growth {tb} - {ta} is not a whole number of bytes per token")
            const = (ta["bytes"] if ta else 0) - grow * short
            rec = {"dtype": (tb or ta)["dtype"], "shape_at": {str(short): ta and ta["shape"], str(long): tb and tb["shape"],
                                                              str(long + 1): td and td["shape"]},
                   "bytes_per_token": grow, "bytes_per_sequence": const,
                   "decode_step_bytes": (td["bytes"] if td else 0) - (tb["bytes"] if tb else 0)}
            tensors[name] = rec
        per_layer.append({"kind": kinds[i], "cache_layer_class": b["class"], "tensors": tensors,
                          "bytes_per_token": sum(t["bytes_per_token"] for t in tensors.values()),
                          "bytes_per_sequence": sum(t["bytes_per_sequence"] for t in tensors.values())})

    counts = Counter(full_kinds)
    by_kind: dict = {}
    for kind in sorted(counts):
        layers = [p for p in per_layer if p["kind"] == kind]
        first = layers[0]
        agree = all((p["bytes_per_token"], p["bytes_per_sequence"]) == (first["bytes_per_token"], first["bytes_per_sequence"])
                    for p in layers)
        windows = sorted({kw.get("sliding_window") for t, kw in zip(full_kinds, full_kwargs) if t == kind} - {None})
        entry = {"cache_layer_class": first["cache_layer_class"], "layers_in_full_model": counts[kind],
                 "layers_in_reduced_model": len(layers), "layers_agree": agree,
                 "kv_bytes_per_token_per_layer": first["bytes_per_token"],
                 "state_bytes_per_sequence_per_layer": first["bytes_per_sequence"],
                 "decode_step_bytes_per_layer": sum(t["decode_step_bytes"] for t in first["tensors"].values()),
                 "tensors": first["tensors"]}
        if windows:
            entry["sliding_window"] = windows[0] if len(windows) == 1 else windows
        by_kind[kind] = entry
    result = {
        "dtype": "bfloat16", "batch_size": 1, "seq_lens": list(SEQ_LENS), "decode_step_after": long,
        "reduced_model": {"num_hidden_layers": k, "layer_kinds": kinds, "changes": changed},
        "kinds": by_kind,
        "kv_bytes_per_token": sum(e["kv_bytes_per_token_per_layer"] * e["layers_in_full_model"] for e in by_kind.values()),
        "state_bytes_per_sequence": sum(e["state_bytes_per_sequence_per_layer"] * e["layers_in_full_model"] for e in by_kind.values()),
    }
    if any(kw.get("sliding_window") for kw in full_kwargs):
        result["sliding_window_probe"] = _sliding_probe(reduced_raw)
    return result


def _sliding_probe(reduced_raw: dict) -> dict:
    """Run past a small window: how many positions does a sliding (or chunked) layer keep?"""
    probe = copy.deepcopy(reduced_raw)
    text = _text_part(probe)
    if text.get("sliding_window") is not None or text.get("attention_chunk_size") is None:
        text["sliding_window"] = PROBE_WINDOW
    if text.get("attention_chunk_size") is not None:   # chunked layers (Llama 4) take their cache size from the chunk
        text["attention_chunk_size"] = PROBE_WINDOW
    cfg = _load_config(probe)
    kinds, _ = layer_kinds(cfg)
    layers = cache_tensors(_forward(_build_reduced(cfg), PROBE_LEN))
    kept = {}
    for kind, layer in zip(kinds, layers):
        keys = layer["tensors"].get("keys")
        kept.setdefault(kind, keys["shape"][-2] if keys else None)
    return {"sliding_window": PROBE_WINDOW, "tokens": PROBE_LEN, "positions_kept_by_kind": kept}


def _component(name: str) -> str:
    parts = name.split(".")
    if parts[0] == "model" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def count_params(raw: dict) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    cfg = _load_config(raw)
    multimodal = hasattr(cfg, "vision_config") and cfg.vision_config is not None
    with torch.device("meta"):
        if multimodal:
            from transformers import AutoModelForImageTextToText

            model = AutoModelForImageTextToText.from_config(cfg)
            auto = "AutoModelForImageTextToText"
        else:
            model = AutoModelForCausalLM.from_config(cfg)
            auto = "AutoModelForCausalLM"
    unique = dict(model.named_parameters())
    every = list(model.named_parameters(remove_duplicate=False))
    by_component = Counter()
    for name, p in unique.items():
        by_component[_component(name)] += p.numel()
    emb_in = model.get_input_embeddings()
    emb_out = model.get_output_embeddings()
    tied = emb_out is not None and emb_out.weight is emb_in.weight
    vision = sum(n for c, n in by_component.items() if any(c.split(".")[-1].startswith(v) for v in VISION_PREFIXES))
    return {
        "auto_class": auto, "model_class": type(model).__name__,
        "total": sum(p.numel() for p in unique.values()),
        "total_counting_shared_each_time": sum(p.numel() for _, p in every),
        "tied_embeddings": bool(tied),
        "input_embedding": emb_in.weight.numel(),
        "output_embedding": 0 if emb_out is None or tied else emb_out.weight.numel(),
        "vision": vision, "language_model": sum(by_component.values()) - vision,
        "by_component": dict(sorted(by_component.items())),
        "full_model_layer_kinds": dict(sorted(Counter(layer_kinds(cfg)[0]).items())),
    }


def measure(path: Path, versions: dict, today: str) -> dict:
    text = path.read_text(encoding="utf-8")
    raw = json.loads(text)
    model_type = raw.get("model_type")
    from transformers import CONFIG_MAPPING

    if model_type not in CONFIG_MAPPING and model_type not in BUILT_AS:
        return {"skipped": f"model_type {model_type!r} is not in transformers {versions['transformers']}"}
    built, changes = _for_torch(raw)
    full_config = _load_config(built)
    entry = {
        "config": path.resolve().relative_to(ROOT).as_posix() if path.resolve().is_relative_to(ROOT) else str(path),
        "config_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "model_type": model_type, "date": today, "versions": versions,
        "source": (f"measured by harness/transformers_alloc.py with transformers {versions['transformers']}, "
                   f"torch {versions['torch']} on CPU, {today}"),
        "config_changes_for_torch": changes,
        "params": count_params(built),
        "cache": measure_cache(built, full_config),
    }
    return entry


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="config stems to (re)measure; the others stay as they are in the output")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--configs", type=Path, default=CONFIGS, help="folder of config.json files (default: tests/cases/hf)")
    args = ap.parse_args(argv)
    versions, today = _versions(), datetime.date.today().isoformat()
    doc = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    entries, skipped = doc.get("entries", {}), doc.get("skipped", {})
    paths = sorted(args.configs.glob("*.json"))
    if args.only:
        paths = [p for p in paths if p.stem in args.only]
    failed = 0
    for path in paths:
        print(f"{path.name} ...", file=sys.stderr, flush=True)
        try:
            entry = measure(path, versions, today)
        except Exception:   # one config's failure is reported, the others are still measured
            traceback.print_exc()
            failed += 1
            continue
        entries.pop(path.name, None)
        skipped.pop(path.name, None)
        if "skipped" in entry:
            skipped[path.name] = entry["skipped"]
        else:
            entries[path.name] = entry
            c = entry["cache"]
            print(f"  params {entry['params']['total']:,}  kv {c['kv_bytes_per_token']:,} B/token  "
                  f"state {c['state_bytes_per_sequence']:,} B/sequence", file=sys.stderr)
    doc = {"schema": SCHEMA, "units": "every *bytes* field is in bytes; params are element counts",
           "about": "what transformers allocates for each config in tests/cases/hf (see harness/README.md)",
           "entries": dict(sorted(entries.items())), "skipped": dict(sorted(skipped.items()))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
