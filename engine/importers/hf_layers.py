"""The layer stack of a hybrid config.json: which layers attend, which run a recurrent mixer
(gated DeltaNet linear attention, Mamba, Mamba-2) and which MLP each has, read from the family's
own pattern fields (`layer_types`, `full_attention_interval`, `hybrid_override_pattern`,
`attn_layer_period`/`attn_layer_offset`, `expert_layer_period`, `decoder_sparse_step`,
`mlp_only_layers`) as the transformers modeling code reads them. The result is the models.yaml
`layers:` list: one group per kind of layer, in the order the kinds first appear."""
from __future__ import annotations

from . import jsondoc

# a layer: (attention: full | window | chunked | none, window or chunk tokens, recurrent: none | linear | mamba | mamba2, mlp: dense | moe | none)
Layer = tuple


def groups(layers: list[Layer]) -> list[dict]:
    """Alike layers counted together, kinds in order of first appearance."""
    counts: dict[Layer, int] = {}
    for layer in layers:
        counts[layer] = counts.get(layer, 0) + 1
    out = []
    for (attention, window, recurrent, mlp), n in counts.items():
        g: dict = {"count": n, "attention": attention}
        if attention == "window":
            g["window"] = window
        if attention == "chunked":
            g["chunk"] = window
        if recurrent != "none":
            g["recurrent"] = recurrent
        g["mlp"] = mlp
        out.append(g)
    return out


def layer_kinds(f: jsondoc.Fields, L: int, values: dict, default=None) -> list:
    """`layer_types`, checked: one known kind per layer (values: the family's spellings -> ours)."""
    types = f.list("layer_types")
    if not types:
        if default is None:
            f.fail("layer_types", "missing 'layer_types'")
        return default
    if len(types) != L:
        f.fail("layer_types", f"lists {len(types)} layers, but num_hidden_layers is {L}")
    for t in types:
        if not isinstance(t, str) or t not in values:
            f.fail("layer_types", f"must list layer kinds from {', '.join(sorted(values))}, got {jsondoc.describe(t)}")
    return [values[t] for t in types]


def qwen3_next(f: jsondoc.Fields, L: int, experts: int) -> list[Layer]:
    """Qwen3-Next / Qwen3.5: gated DeltaNet layers with a full-attention layer every
    `full_attention_interval` (or as `layer_types` says); MoE layers every `decoder_sparse_step`
    except `mlp_only_layers` (Qwen3NextDecoderLayer)."""
    interval = f.int("full_attention_interval", 4)
    default = ["full" if (i + 1) % interval == 0 else "linear" for i in range(L)]
    mixers = layer_kinds(f, L, {"full_attention": "full", "linear_attention": "linear"}, default)
    step = f.int("decoder_sparse_step", 1)
    only = _layer_numbers(f, "mlp_only_layers", L)
    out = []
    for i, mixer in enumerate(mixers):
        mlp = "moe" if experts and i not in only and (i + 1) % step == 0 else "dense"
        out.append(("full", 0, "none", mlp) if mixer == "full" else ("none", 0, "linear", mlp))
    return out


def nemotron_h(f: jsondoc.Fields, L: int) -> list[Layer]:
    """Nemotron-H: `hybrid_override_pattern`, one character per block - M a Mamba-2 mixer,
    * attention, - an MLP, E a mixture of experts (Nemotron 3; NemotronHBlock: one mixer per block); transformers 5 writes the same
    as `layers_block_type` (linear_attention, full_attention, mlp)."""
    if f.has("layers_block_type"):
        spelled = {"mamba": "M", "linear_attention": "M", "attention": "*", "full_attention": "*", "mlp": "-", "moe": "E"}
        blocks = f.list("layers_block_type")
        if len(blocks) != L:
            f.fail("layers_block_type", f"lists {len(blocks)} blocks, but num_hidden_layers is {L}")
        for b in blocks:
            if not isinstance(b, str) or b not in spelled:
                f.fail("layers_block_type", f"must list block kinds from {', '.join(sorted(spelled))}, got {jsondoc.describe(b)}")
        pattern, key = "".join(spelled[b] for b in blocks), "layers_block_type"
    else:
        pattern, key = f.str("hybrid_override_pattern"), "hybrid_override_pattern"
    if pattern is None:
        f.fail("hybrid_override_pattern", "missing 'hybrid_override_pattern'")
    if len(pattern) != L:
        f.fail(key, f"has {len(pattern)} blocks, but num_hidden_layers is {L}")
    kinds = {"M": ("none", 0, "mamba2", "none"), "*": ("full", 0, "none", "none"), "-": ("none", 0, "none", "dense"),
             "E": ("none", 0, "none", "moe")}
    for c in pattern:
        if c not in kinds:
            f.fail(key, f"block kind {c!r} is not one vramrules imports (M: Mamba-2, *: attention, -: MLP, E: MoE)")
    return [kinds[c] for c in pattern]


def jamba(f: jsondoc.Fields, L: int, experts: int) -> list[Layer]:
    """Jamba: attention in layers i % attn_layer_period == attn_layer_offset, Mamba elsewhere;
    MoE in layers i % expert_layer_period == expert_layer_offset (JambaConfig.layers_block_type)."""
    period, offset = f.int("attn_layer_period", 8), f.int("attn_layer_offset", 4, minimum=0)
    eperiod, eoffset = f.int("expert_layer_period", 2), f.int("expert_layer_offset", 1, minimum=0)
    out = []
    for i in range(L):
        mlp = "moe" if experts > 1 and i % eperiod == eoffset else "dense"
        out.append(("full", 0, "none", mlp) if i % period == offset else ("none", 0, "mamba", mlp))
    return out


def granite_hybrid(f: jsondoc.Fields, L: int, experts: int) -> list[Layer]:
    """Granite 4.0-H: `layer_types` (or `layers_block_type`) of mamba and attention layers -
    transformers 5 spells them linear_attention and full_attention - each with the MoE block and
    the shared MLP (only the shared MLP when the model has no experts)."""
    spelled = {"mamba": "mamba2", "attention": "full", "linear_attention": "mamba2", "full_attention": "full"}
    if f.has("layers_block_type") and not f.has("layer_types"):
        blocks = f.list("layers_block_type")
        if len(blocks) != L or any(b not in spelled for b in blocks if isinstance(b, str)) or not all(isinstance(b, str) for b in blocks):
            f.fail("layers_block_type", f"must list {L} layer kinds from {', '.join(sorted(spelled))}")
        mixers = [spelled[b] for b in blocks]
    else:
        mixers = layer_kinds(f, L, spelled)
    mlp = "moe" if experts else "dense"
    return [("full", 0, "none", mlp) if m == "full" else ("none", 0, "mamba2", mlp) for m in mixers]


def llama4(f: jsondoc.Fields, L: int) -> list[Layer]:
    """Llama 4: chunked attention (attention_chunk_size tokens) on the RoPE layers, full attention on the NoPE ones
    (no_rope_layers: 1 RoPE, 0 NoPE; by default every no_rope_layer_interval-th layer is NoPE), as `layer_types` says when
    given; MoE in `moe_layers`, by default every interleave_moe_layer_step-th layer (Llama4TextConfig.__post_init__)."""
    chunk = f.int("attention_chunk_size", 0, minimum=0)
    rope = f.list("no_rope_layers")
    interval = f.int("no_rope_layer_interval", 4)
    if rope and len(rope) < L:
        f.fail("no_rope_layers", f"lists {len(rope)} layers, but num_hidden_layers is {L}")
    if any(r not in (0, 1) or isinstance(r, bool) for r in rope):
        f.fail("no_rope_layers", "must list 1 (RoPE) or 0 (NoPE) per layer")
    uses_rope = [bool(r) for r in rope[:L]] if rope else [(i + 1) % interval != 0 for i in range(L)]
    default = ["chunked" if r and chunk else "full" for r in uses_rope]
    kinds = layer_kinds(f, L, {"chunked_attention": "chunked", "full_attention": "full"}, default)
    if "chunked" in kinds and not chunk:
        f.fail("attention_chunk_size", "layer_types has chunked_attention layers, but no attention_chunk_size")
    if f.has("moe_layers"):
        moe = _layer_numbers(f, "moe_layers", L)
    else:
        step = f.int("interleave_moe_layer_step", 1)
        moe = set(range(step - 1, L, step))
    return [(kind, chunk if kind == "chunked" else 0, "none", "moe" if i in moe else "dense") for i, kind in enumerate(kinds)]


def _layer_numbers(f: jsondoc.Fields, key: str, L: int) -> set:
    out = set()
    for i in f.list(key):
        n = jsondoc.whole(i)
        if n is None or not 0 <= n < L:
            f.fail(key, f"must list layer numbers from 0 to {L - 1}, got {jsondoc.describe(i)}")
        out.add(n)
    return out
