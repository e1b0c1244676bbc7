"""What autograd really saves for backward in a `transformers` decoder layer (issue 16).

For each config (tests/cases/hf/*.json and tests/cases/hf-defaults/*.json), a reduced real model
(bfloat16, CPU, random weights) that keeps every dimension activations depend on (hidden size,
heads, KV heads, head dims, MLP and expert widths, experts per token, linear-attention and SSM
dims) and shrinks only the vocabulary (512), the number of experts (at most 4, never fewer than
the experts per token) and the layers (2, chosen so that the layer kinds that matter are there).
It is run forward in training mode (batch 1, three sequence lengths) inside
torch.autograd.graph.saved_tensors_hooks: every tensor autograd saves is recorded with the module
that saved it (forward pre/post hooks keep the module stack), its dtype and shape; each storage is
counted once (by its data pointer, all its bytes: a saved view keeps its whole storage alive);
storages that are parameters or buffers are not activations and are left out. With gradient
checkpointing (non-reentrant) autograd saves nothing inside a layer: what the checkpoint holds is
the arguments it was called with, recorded by wrapping the layers' `_gradient_checkpointing_func`.

Per decoder layer (and for the non-layer part: embeddings, final norm, lm_head, loss; and what is
shared by several layers: rotary cos/sin, masks) the bytes are fitted exactly as a + b*s + c*s^2
over the three lengths: `bytes_per_token` = b, `bytes_per_token_per_context_token` = c (eager
attention's s x s scores), `bytes_constant` = a.

    /tmp/harness-venv/bin/python harness/activations.py                         # every architecture
    /tmp/harness-venv/bin/python harness/activations.py --only llama3.1-8b gpt2  # some; the rest stay

See harness/README.md ("Activations") for the output's fields.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import gc
import hashlib
import json
import re
import sys
import time
import traceback
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transformers_alloc as ta  # noqa: E402  (the same config loading, torch settings and versions)

ROOT = ta.ROOT
OUT = ROOT / "tests" / "cases" / "measured" / "activations.json"
SCHEMA = "vramrules-measured-activations/1"
SEQ_LENS = (13, 23, 33)      # lengths no model dimension equals; three of them fit a + b*s + c*s^2
# an architecture whose reference path pads the sequence to whole chunks: lengths of 2, 3 and 4 chunks, so the
# padded tensors are exact in s (below one chunk they are a constant) and a chunk count is named s/chunk. The layer
# totals are exact; a group name may read a head dimension equal to one of the lengths (128, 256) as s, and such a
# group's own fit mixes tensors (3, 5 and 7 chunks avoid that, at 12 minutes a regime on 2 cores)
CHUNKED = {"qwen3_next": 64}   # torch_chunk_gated_delta_rule(chunk_size=64), modeling_qwen3_next.py:371
VOCAB = 512
MAX_EXPERTS = 4
LAYERS = 2

# config stem (in tests/cases/hf or tests/cases/hf-defaults) -> extra changes so that two layers
# hold the kinds that matter (a dense and a MoE layer, a linear-attention and a full one)
ARCHS = {
    "llama3.1-8b": ("hf", {}),
    "qwen2.5-7b": ("hf", {}),
    "phi3-mini-4k": ("hf", {}),
    "gemma2-9b": ("hf", {}),
    "opt-1.3b": ("hf", {}),
    "gpt2": ("hf-defaults", {}),
    "mixtral-8x7b": ("hf", {}),
    "qwen3-30b-a3b": ("hf", {}),
    "gemma3": ("hf-defaults", {}),
    "deepseek-v3": ("hf", {"first_k_dense_replace": 1}),
    "deepseek_v2": ("hf-defaults", {"first_k_dense_replace": 1, "num_experts_per_tok": 6}),
    "deepseek-v2-lite": ("hf", {}),   # first_k_dense_replace is already 1: a dense and a MoE layer
    "gpt-oss-20b": ("hf", {}),
    "jamba-v0.1": ("hf", {"attn_layer_period": 2, "attn_layer_offset": 1, "expert_layer_period": 2,
                          "expert_layer_offset": 1}),
    "qwen3_next": ("hf-defaults", {"layer_types": ["linear_attention", "full_attention"]}),
    "falcon_h1": ("hf-defaults", {}),
    # no published config of these in tests/cases: transformers' own default config of the class
    # (@auto_docstring(checkpoint="mistralai/Mistral-7B-v0.1"), (checkpoint="Qwen/Qwen3-8B")), kept in the entry
    "mistral": ("transformers", {}, "MistralConfig"),
    "qwen3": ("transformers", {}, "Qwen3Config"),
}
EXPERT_KEYS = ta.EXPERT_KEYS
PER_TOKEN_KEYS = ta.PER_TOKEN_KEYS
LAYER_RE = re.compile(r"(?:^|\.)(?:layers|h)\.(\d+)(?:\.|$)")
EXPERT_INDEX_RE = re.compile(r"\.(\d+)(?=\.|$)")

# regimes: (name, attn_implementation, training, adapter dtype, lora_dropout, gradient checkpointing)
REGIMES = [
    ("full/sdpa", "sdpa", "full", None, None, False),
    ("lora-fp32/sdpa", "sdpa", "lora", "float32", 0.0, False),
    ("full/sdpa/checkpointing", "sdpa", "full", None, None, True),
    ("lora-bf16/sdpa", "sdpa", "lora", "bfloat16", 0.0, False),
    ("lora-fp32-dropout/sdpa", "sdpa", "lora", "float32", 0.05, False),
    ("lora-bf16-dropout/sdpa", "sdpa", "lora", "bfloat16", 0.05, False),
    ("lora-fp32/sdpa/checkpointing", "sdpa", "lora", "float32", 0.0, True),
    ("full/eager", "eager", "full", None, None, False),
    ("lora-fp32/eager", "eager", "lora", "float32", 0.0, False),
    # fp32 adapters with the forward under bf16 autocast, as the HF Trainer runs it with bf16=True
    # (accelerate's autocast) and LLaMA-Factory with bf16: true
    ("lora-fp32-autocast/sdpa", "sdpa", "lora", "float32", 0.0, False),
    # QLoRA (QLORA below): every linear layer of the decoder layers a bitsandbytes Linear4bit (NF4, double
    # quantization, bf16 compute, as BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
    # bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16) loads it; lm_head stays bf16, as
    # transformers' get_keys_to_not_convert keeps the output embedding); PEFT's fp32 adapters on top
    ("qlora-fp32/sdpa", "sdpa", "qlora", "float32", 0.0, False),
    # ... after peft.prepare_model_for_kbit_training (what TRL's SFTTrainer calls on a 4-bit model with a
    # peft_config): every bf16 parameter (embeddings, norms, lm_head) cast to fp32, so the residual stream is
    # fp32; with its default use_gradient_checkpointing=True (non-reentrant here) and without
    ("qlora-fp32-kbit/sdpa/checkpointing", "sdpa", "qlora", "float32", 0.0, True),
    ("qlora-fp32-kbit/sdpa", "sdpa", "qlora", "float32", 0.0, False),
]
QLORA = ("llama3.1-8b",)   # the architectures the qlora regimes run on (bitsandbytes 4-bit on CPU)


def _quantize_4bit(model) -> dict:
    """Every nn.Linear inside a decoder layer replaced by a bitsandbytes Linear4bit holding the same weight
    quantized (NF4, double quantization, bf16 compute); marks the model loaded in 4 bits as from_pretrained does."""
    import bitsandbytes as bnb
    import torch

    replaced = 0
    for name, mod in list(model.named_modules()):
        for cname, child in list(mod.named_children()):
            if type(child) is torch.nn.Linear and LAYER_RE.search(f"{name}.{cname}"):
                q = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                      compute_dtype=torch.bfloat16, compress_statistics=True, quant_type="nf4")
                q.weight = bnb.nn.Params4bit(child.weight.data.contiguous(), requires_grad=False, quant_type="nf4",
                                             compress_statistics=True)
                if child.bias is not None:
                    q.bias = torch.nn.Parameter(child.bias.data, requires_grad=False)
                setattr(mod, cname, q.to("cpu"))   # Params4bit quantizes when moved to a device
                replaced += 1
    model.is_loaded_in_4bit = True
    model.is_quantized = True
    return {"linear4bit_modules": replaced, "quant_type": "nf4", "double_quantization": True, "compute_dtype": "bfloat16",
            "library": f"bitsandbytes {bnb.__version__}"}


def reduced_config(raw: dict, extra: dict) -> tuple[dict, dict]:
    raw = copy.deepcopy(raw)
    text = ta._text_part(raw)
    changed: dict = {}

    def put(key, value):
        old = text.get(key)
        if old != value:
            changed[key] = [old, value]
        text[key] = value

    put("vocab_size", VOCAB)
    for key in ta.TOKEN_ID_KEYS:
        value = text.get(key)
        if isinstance(value, int) and value >= VOCAB:
            put(key, 0)
        elif isinstance(value, list) and any(isinstance(v, int) and v >= VOCAB for v in value):
            put(key, [v for v in value if v < VOCAB] or [0])
    for key, value in extra.items():
        put(key, value)
    per_tok = next((text[k] for k in PER_TOKEN_KEYS if isinstance(text.get(k), int)), 1)
    for key in EXPERT_KEYS:
        if isinstance(text.get(key), int) and text[key] > MAX_EXPERTS:
            put(key, max(MAX_EXPERTS, per_tok))
    for key in ("n_group", "topk_group"):
        if isinstance(text.get(key), int) and text[key] > 1:
            put(key, 1)
    for key in ta.LAYER_LIST_KEYS:
        if isinstance(text.get(key), list):
            put(key, text[key][:LAYERS])
    if isinstance(text.get("mlp_only_layers"), list):
        put("mlp_only_layers", [i for i in text["mlp_only_layers"] if i < LAYERS])
    put("num_hidden_layers", LAYERS)
    if "n_layer" in text:
        put("n_layer", LAYERS)
    for key in ("use_cache",):
        put(key, False)
    return raw, changed


_BUILT: dict = {}


def _build(cfg, attn: str):
    """A fresh copy of the reduced model (built once per attention implementation)."""
    import torch
    from transformers import AutoModelForCausalLM

    if attn not in _BUILT:
        _BUILT.clear()
        gc.collect()
        torch.manual_seed(0)
        _BUILT[attn] = AutoModelForCausalLM.from_config(cfg.get_text_config(decoder=True), dtype=torch.bfloat16,
                                                        attn_implementation=attn)
    return copy.deepcopy(_BUILT[attn])


class Recorder:
    """saved_tensors_hooks with the module stack: every saved tensor's storage, once."""

    def __init__(self, model):
        self.model = model
        self.stack = ["<top>"]
        self.handles = []
        self.skip = set()
        for p in model.parameters():
            self.skip.add(p.untyped_storage().data_ptr())
        for b in model.buffers():
            self.skip.add(b.untyped_storage().data_ptr())
        for name, mod in model.named_modules():
            self.handles.append(mod.register_forward_pre_hook(self._pre(name)))
            self.handles.append(mod.register_forward_hook(self._post))
        self.storages: dict[int, dict] = {}
        self.keep = []
        self.params_saved = 0

    def _pre(self, name):
        def hook(mod, args):
            self.stack.append(name)
        return hook

    def _post(self, mod, args, out):
        self.stack.pop()

    def record(self, t, module, how):
        if t.numel() == 0 or t.device.type == "meta":
            return
        st = t.untyped_storage()
        ptr = st.data_ptr()
        if ptr in self.skip:
            self.params_saved += 1
            return
        rec = self.storages.get(ptr)
        if rec is None:
            rec = self.storages[ptr] = {"bytes": st.nbytes(), "savers": [], "tensors": []}
        rec["savers"].append(module)
        view = t.numel() * t.element_size() != st.nbytes()
        rec["tensors"].append({"module": module, "dtype": str(t.dtype).removeprefix("torch."),
                               "shape": list(t.shape), "view": view, "how": how})
        self.keep.append(t)

    def pack(self, t):
        self.record(t, self.stack[-1], "saved")
        return t

    def close(self):
        for h in self.handles:
            h.remove()


def _wrap_checkpoints(model, rec: Recorder):
    import torch

    for name, mod in model.named_modules():
        func = getattr(mod, "_gradient_checkpointing_func", None)
        if func is None or name == "":
            continue

        def wrapped(fn, *args, _orig=func, _name=name, **kw):
            held = list(args) + list(getattr(fn, "keywords", {}).values()) + list(kw.values())
            for value in held:
                for t in (value if isinstance(value, (tuple, list)) else (value,)):
                    if isinstance(t, torch.Tensor):
                        rec.record(t, _name, "checkpoint argument")
            return _orig(fn, *args, **kw)
        mod._gradient_checkpointing_func = wrapped


def _layer_of(module: str) -> tuple[str, str]:
    m = LAYER_RE.search(module)
    if not m:
        return "outside", module
    return m.group(1), module[m.end():] if m.end() < len(module) else "(layer)"


def _dim(d: int, n: int, chunk: int = 0) -> str:
    """A dimension in a group's name: the sequence length as s (s+1: gpt-oss's attention sinks add a column; s/64:
    the chunks of a chunked reference path)."""
    return ("s" if d == n else "s+1" if d == n + 1 else f"s/{chunk}" if chunk and d == n // chunk and d > 1
            else str(d))


def run_once(model, n: int, autocast: bool = False, chunk: int = 0) -> tuple[dict, int]:
    """One forward with labels: {bucket: {group: bytes}} and per-group tensor examples (under bf16
    autocast when `autocast`)."""
    import contextlib

    import torch

    rec = Recorder(model)
    if getattr(model, "is_gradient_checkpointing", False):
        _wrap_checkpoints(model, rec)
    gen = torch.Generator().manual_seed(n)
    ids = torch.randint(0, VOCAB, (1, n), generator=gen)
    amp = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with torch.autograd.graph.saved_tensors_hooks(rec.pack, lambda t: t), amp:
        out = model(input_ids=ids, labels=ids, use_cache=False)
    assert out.loss.requires_grad
    rec.close()
    buckets: dict = defaultdict(lambda: defaultdict(int))
    examples: dict = {}
    for st in rec.storages.values():
        layers = {_layer_of(s)[0] for s in st["savers"]}
        first = st["tensors"][0]
        layer, sub = _layer_of(first["module"])
        bucket = layer if len(layers) == 1 else "shared_by_layers"
        if bucket == "shared_by_layers":
            sub = first["module"] if layer == "outside" else sub
        sub = EXPERT_INDEX_RE.sub(".N", sub) if "expert" in sub else sub
        if not sub:
            sub = "(top-level forward: the loss)"
        shape = "" if "expert" in sub else "[" + ",".join(_dim(d, n, chunk) for d in first["shape"]) + "] "
        key = f"{sub} {shape}{first['dtype']}" + (" view" if first["view"] else "") + \
            (" (checkpoint argument)" if first["how"] != "saved" else "")
        buckets[bucket][key] += st["bytes"]
        examples.setdefault((bucket, key), {"shape": first["shape"], "saved_as": len(st["tensors"])})
    del out
    rec.keep.clear()
    return {b: dict(g) for b, g in buckets.items()}, examples, rec.params_saved


def seq_lens(stem: str) -> tuple[int, int, int]:
    chunk = CHUNKED.get(stem)
    return (2 * chunk, 3 * chunk, 4 * chunk) if chunk else SEQ_LENS


def fit(values: list[int], lens: tuple[int, int, int] = SEQ_LENS) -> tuple[Fraction, Fraction, Fraction]:
    (s1, s2, s3), (y1, y2, y3) = lens, values
    # Lagrange / divided differences
    d1 = Fraction(y2 - y1, s2 - s1)
    d2 = Fraction(y3 - y2, s3 - s2)
    c = (d2 - d1) / (s3 - s1)
    b = d1 - c * (s1 + s2)
    a = y1 - b * s1 - c * s1 * s1
    return a, b, c


def _as_int(x: Fraction):
    return int(x) if x.denominator == 1 else float(x)


def measure_regime(base_cfg, regime, lens: tuple[int, int, int] = SEQ_LENS, chunk: int = 0) -> dict:
    import torch

    name, attn, training, adapter_dtype, dropout, checkpointing = regime
    model = _build(base_cfg, attn)
    model.train()
    lora_note = None
    quant_note = None
    if training == "qlora":
        from peft import prepare_model_for_kbit_training

        quant_note = _quantize_4bit(model)
        if "-kbit" in name:
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing,
                                                    gradient_checkpointing_kwargs={"use_reentrant": False})
            quant_note["prepare_model_for_kbit_training"] = {"use_gradient_checkpointing": checkpointing}
    if training in ("lora", "qlora"):
        from peft import LoraConfig, get_peft_model

        lcfg = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", lora_dropout=dropout, task_type="CAUSAL_LM")
        model = get_peft_model(model, lcfg, autocast_adapter_dtype=(adapter_dtype == "float32"))
        lora_dtypes = sorted({str(p.dtype).removeprefix("torch.") for n, p in model.named_parameters() if "lora_" in n})
        adapted = sorted({EXPERT_INDEX_RE.sub(".N", n.split(".lora_")[0].split("layers.0.", 1)[-1])
                          for n, _ in model.named_parameters() if "lora_A" in n and ".0." in n})
        lora_note = {"r": 16, "lora_alpha": 32, "target_modules": "all-linear", "lora_dropout": dropout,
                     "adapter_dtypes": lora_dtypes, "adapted_modules_of_layer_0": adapted}
    else:
        for p in model.parameters():
            p.requires_grad_(True)
    if checkpointing and not (quant_note and "prepare_model_for_kbit_training" in quant_note):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    runs, examples = [], {}
    params_saved = 0
    for n in lens:
        b, ex, params_saved = run_once(model, n, autocast="-autocast" in name, chunk=chunk)
        runs.append(b)
        examples = ex
    del model
    gc.collect()
    torch.manual_seed(0)
    buckets = sorted(set().union(*runs))
    out = {}
    for bucket in buckets:
        groups = sorted(set().union(*(r.get(bucket, {}) for r in runs)))
        rec = {"groups": {}}
        tot = [sum(r.get(bucket, {}).values()) for r in runs]
        a, b, c = fit(tot, lens)
        rec.update({"bytes_constant": _as_int(a), "bytes_per_token": _as_int(b),
                    "bytes_per_token_per_context_token": _as_int(c), "bytes_at": dict(zip(map(str, lens), tot))})
        for g in groups:
            vals = [r.get(bucket, {}).get(g, 0) for r in runs]
            ga, gb, gc_ = fit(vals, lens)
            ex = examples.get((bucket, g), {})
            if all(x.denominator == 1 for x in (ga, gb, gc_)):
                fitted = {"bytes_constant": int(ga), "bytes_per_token": int(gb), "bytes_per_token_per_context_token": int(gc_)}
            else:   # a shape that is not polynomial in s (Qwen3-Next's chunk padding, a key seen at one length only)
                fitted = {"bytes_at": dict(zip(map(str, lens), vals)), "fit_exact": False}
            rec["groups"][g] = {**fitted, f"shape_at_{lens[-1]}": ex.get("shape"), "saved_as_tensors": ex.get("saved_as")}
        out[bucket] = rec
    layers = {k: v for k, v in out.items() if k.isdigit()}
    return {"regime": {"name": name, "attn_implementation": attn, "training": training,
                       "gradient_checkpointing": {"use_reentrant": False} if checkpointing else None, "lora": lora_note,
                       "model_train_mode": True, "batch": 1, "labels": True,
                       "autocast": "bfloat16" if "-autocast" in name else None,
                       **({"quantization": quant_note} if quant_note else {})},
            "layers": layers, "outside_layers": out.get("outside"), "shared_by_layers": out.get("shared_by_layers"),
            "parameter_tensors_saved_not_counted": params_saved}


def _layer_info(model_cfg, reduced_kinds) -> list[dict]:
    text = model_cfg.get_text_config(decoder=True)
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(text)
    info = []
    for i in range(LAYERS):
        classes = sorted({type(m).__name__ for n, m in model.named_modules() if LAYER_RE.search(n + ".")
                          and LAYER_RE.search(n + ".").group(1) == str(i)})
        moe = any(("moe" in c.lower() or "sparse" in c.lower() or "experts" in c.lower()) and "router" not in c.lower()
                  for c in classes)
        info.append({"cache_kind": reduced_kinds[i] if i < len(reduced_kinds) else None, "mlp": "moe" if moe else "dense",
                     "module_classes": classes})
    return info


def measure(stem: str, versions: dict, today: str, only_regimes=None) -> dict:
    folder, extra, *cls = ARCHS[stem]
    if folder == "transformers":   # a default config of the class, kept in the entry (config_dict)
        import transformers

        raw = json.loads(json.dumps(getattr(transformers, cls[0])().to_dict(), sort_keys=True))
        text = json.dumps(raw, indent=2, sort_keys=True)
        config_ref = f"transformers.{cls[0]}() of transformers {transformers.__version__} (config_dict)"
    else:
        path = ROOT / "tests" / "cases" / folder / f"{stem}.json"
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text)
        config_ref = path.relative_to(ROOT).as_posix()
    built, torch_changes = ta._for_torch(raw)
    reduced, changed = reduced_config(built, extra)
    cfg = ta._load_config(reduced)
    text_cfg = cfg.get_text_config(decoder=True)
    for key in ta.TOKEN_ID_KEYS:   # a class default past the vocabulary (Phi3Config's pad_token_id 32000)
        value = getattr(text_cfg, key, None)
        if isinstance(value, int) and value >= VOCAB:
            setattr(text_cfg, key, None)
            changed[key] = [value, None]
    kinds, _ = ta.layer_kinds(cfg)
    entry = {
        "config": config_ref,
        **({"config_dict": raw} if folder == "transformers" else {}),
        "config_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "model_type": raw.get("model_type"), "date": today, "versions": versions,
        "source": (f"measured by harness/activations.py with transformers {versions['transformers']}, "
                   f"torch {versions['torch']}, peft {versions['peft']} on CPU, {today}"),
        "config_changes_for_torch": torch_changes,
        "reduced_model": {"changes": changed, "num_hidden_layers": LAYERS, "layers": _layer_info(cfg, kinds)},
        "dtype": "bfloat16", "seq_lens": list(seq_lens(stem)), "batch": 1,
        **({"chunked_reference_path": {"chunk_size": CHUNKED[stem], "why": "lengths of whole chunks: the reference path"
                                       " pads the sequence to a multiple of the chunk"}} if stem in CHUNKED else {}),
        "regimes": {},
    }
    for regime in REGIMES:
        if only_regimes and regime[0] not in only_regimes:
            continue
        if regime[2] == "qlora" and stem not in QLORA:
            continue
        t0 = time.time()
        try:
            entry["regimes"][regime[0]] = measure_regime(cfg, regime, seq_lens(stem), CHUNKED.get(stem, 0))
        except ValueError as exc:   # an attention implementation the model refuses (Gemma 2: no sdpa)
            entry.setdefault("regimes_refused", {})[regime[0]] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            print(f"  {regime[0]:32s} refused: {exc}".splitlines()[0][:200], file=sys.stderr, flush=True)
            continue
        lay = entry["regimes"][regime[0]]["layers"]
        print(f"  {regime[0]:32s} " + "  ".join(f"L{k} {v['bytes_per_token']}+{v['bytes_per_token_per_context_token']}s"
                                                 for k, v in sorted(lay.items())) + f"  ({time.time() - t0:.0f}s)",
              file=sys.stderr, flush=True)
    return entry


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="architectures (config stems) to (re)measure; the rest stay")
    ap.add_argument("--regimes", nargs="*", help="only these regimes (for a quick look; merged)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    versions, today = ta._versions(), datetime.date.today().isoformat()
    doc = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    entries, skipped = doc.get("entries", {}), doc.get("skipped", {})
    failed = 0
    for stem in (args.only or list(ARCHS)):
        print(f"{stem} ...", file=sys.stderr, flush=True)
        try:
            entry = measure(stem, versions, today, args.regimes)
            _BUILT.clear()
        except Exception as exc:
            traceback.print_exc()
            skipped[stem] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            failed += 1
            continue
        skipped.pop(stem, None)
        if args.regimes and stem in entries:
            entries[stem]["regimes"].update(entry["regimes"])
            if entry.get("regimes_refused"):
                entries[stem].setdefault("regimes_refused", {}).update(entry["regimes_refused"])
        else:
            entries[stem] = entry
        doc = {"schema": SCHEMA, "units": "every *bytes* field is in bytes (integers); per token of batch 1",
               "about": "what autograd saves for backward per decoder layer (see harness/README.md, Activations)",
               "entries": dict(sorted(entries.items())), "skipped": dict(sorted(skipped.items()))}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
