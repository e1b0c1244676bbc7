"""A Hugging Face config.json -> a models.yaml entry, for the common decoder families.

Each family maps its config fields onto the architecture fields memory depends on; a field a
family needs and the file lacks is an error that names it. Every value is checked for its kind
before use: a fraction, a boolean or a string where a whole number belongs, a zero count, a
number beyond the models schema's maximum is an error at the config's own field and line (never
truncated, never the entry field it would have become). The parameter count is derived by the
rules (params_total) and marked as such."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import DataError, Location, Problem, UsageError
from ..reading.loader import MAX_FILE_BYTES, pointer_text
from . import hf_layers, jsondoc
from .localfile import read_limited

FAMILIES = ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2", "gemma3", "gemma3_text",
            "phi3", "deepseek_v3", "gpt_oss", "qwen3_next", "qwen3_5_text", "qwen3_5_moe_text", "jamba", "nemotron_h", "falcon_h1",
            "granitemoehybrid", "mamba2", "opt", "deepseek_v2", "gpt2", "falcon", "llama4_text", "llama4", "qwen2_5_vl", "qwen2_5_vl_text",
            "qwen3_5", "qwen3_5_moe", "smollm3", "olmo2", "glm4_moe", "kimi_k2", "deepseek_v32", "ministral3", "mistral3",
            "qwen3_vl", "qwen3_vl_text", "qwen3_vl_moe", "qwen3_vl_moe_text")
# families read as another one: the same modules under another model_type
LIKE = {"qwen3_5_text": "qwen3_next", "qwen3_5_moe_text": "qwen3_next", "deepseek_v2": "deepseek_v3", "qwen2_5_vl_text": "qwen2",
        # Kimi K2 ships DeepseekV3ForCausalLM (its config's architectures) under model_type kimi_k2; DeepseekV32Attention is
        # DeepseekV3's MLA plus the DSA indexer (_mixture); SmolLM3 is a Llama with NoPE layers (no parameters, the same cache);
        # Ministral 3 is a Mistral with a YaRN/llama-4 rope (no parameters); Qwen3-VL's text models are Qwen3 / Qwen3-MoE
        "kimi_k2": "deepseek_v3", "deepseek_v32": "deepseek_v3", "smollm3": "llama", "ministral3": "mistral",
        "qwen3_vl_text": "qwen3", "qwen3_vl_moe_text": "qwen3_moe"}
# multimodal wrappers: the language model's config is text_config (or the top level), read as this family
TEXT_OF = {"gemma3": "gemma3", "llama4": "llama4_text", "qwen2_5_vl": "qwen2_5_vl_text", "qwen3_5": "qwen3_5_text", "qwen3_5_moe": "qwen3_5_moe_text",
           "mistral3": "mistral", "qwen3_vl": "qwen3_vl_text", "qwen3_vl_moe": "qwen3_vl_moe_text"}
# a wrapper whose text_config names its own model_type (Mistral 3: mistral or ministral3) is read as that one
OWN_TEXT_TYPE = ("mistral3",)
MAX_CONFIG_BYTES = MAX_FILE_BYTES
HINT = "fix '{key}' in {file}, or write the models.yaml entry by hand"


class ConfigProblem(DataError):
    def __init__(self, path: str, message: str, hint: str = ""):
        super().__init__([Problem(Location(path), "", message, hint)])


class Unsupported(UsageError):
    """A well-formed file of a family or architecture vramrules does not import: asking for it is
    a usage error (exit 2, code usage_error), still located at the field that names it."""

    def __init__(self, location: Location, pointer: tuple, message: str, hint: str = ""):
        self.problems = [Problem(location, pointer_text(pointer), message, hint, "usage_error")]
        super().__init__(str(self.problems[0]))


def read(path) -> tuple[dict, str]:
    """(config dict, display path) from a config.json or a folder holding one. The dict is a
    jsondoc.Doc: it keeps the file's text, so an error can give a field's line."""
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    shown = str(p)
    if not p.exists() and not p.is_symlink():
        raise ConfigProblem(shown, "cannot read config: No such file or directory", "give a config.json or a model folder holding one")
    raw = read_limited(p, shown, MAX_CONFIG_BYTES, "a config")
    cfg, text = jsondoc.load(raw, shown, "config.json")
    if not isinstance(cfg, dict):
        raise ConfigProblem(shown, "config.json must hold a JSON object")
    doc = jsondoc.Doc(cfg)
    doc.text, doc.shown = text, shown
    return doc, shown


def config_fields(cfg: dict, shown: str) -> jsondoc.Fields:
    return jsondoc.Fields(cfg, shown, getattr(cfg, "text", ""), HINT)


def packed_bits(cfg: dict, shown: str) -> int:
    """Bits per weight of packed GPTQ/AWQ `qweight` tensors (quantization_config.bits, else 4)."""
    top = config_fields(cfg, shown)
    q = top.dict("quantization_config")
    return jsondoc.Fields(q, shown, top.text, HINT, prefix=("quantization_config",)).int("bits", 4, minimum=1, maximum=16)


class _Config(jsondoc.Fields):
    """A family's config: `need` is a field the family cannot do without."""

    family = ""
    missing: list

    def need(self, key: str, field: str, minimum: int = 1) -> int:
        """The field's whole number; a missing one is noted (every missing field is named in one
        error, by missing_error) and stands in as 1 meanwhile."""
        if not self.has(key):
            if key not in self.missing:
                self.missing.append(key)
            return 1
        return self.int(key, minimum=minimum, field=field)

    def missing_error(self) -> None:
        if self.missing:
            keys = ", ".join(f"'{k}'" for k in self.missing)
            raise ConfigProblem(self.shown, f"{self.family} config lacks {keys}",
                                f"add {'it' if len(self.missing) == 1 else 'them'} to {self.shown}, or write the models.yaml entry by hand")


def _merged(top: jsondoc.Fields, cfg: dict, family: str) -> tuple[dict, dict]:
    """A multimodal config's text_config, as the config to read, and where each key came from.
    The wrapper's tie_word_embeddings decides (the wrapper model owns lm_head)."""
    text = top.dict("text_config")
    origin: dict[str, tuple] = {k: ("text_config", k) for k in text}
    own = text.get("model_type") if family in OWN_TEXT_TYPE else None
    merged = {**text, "model_type": own if own in ("mistral", "ministral3") else TEXT_OF[family]}
    if "tie_word_embeddings" in cfg:
        merged["tie_word_embeddings"] = cfg["tie_word_embeddings"]
        origin["tie_word_embeddings"] = ("tie_word_embeddings",)
    elif "tie_word_embeddings" not in text:
        merged["tie_word_embeddings"] = family == "gemma3"
    return merged, origin


def convert(cfg: dict, shown: str, precision_given: bool = False) -> dict:
    """The models.yaml fields for this config (without params, which the rules derive).
    `precision_given`: the user chose the precision, so a quantization format the data lacks is
    not an error."""
    top = config_fields(cfg, shown)
    family = top.str("model_type")
    origin: dict[str, tuple] = {}
    vision_cfg = cfg.get("vision_config") if family in TEXT_OF else None
    if family in TEXT_OF and cfg.get("text_config") is not None:
        cfg, origin = _merged(top, cfg, family)
        family = cfg["model_type"]
    elif family in TEXT_OF and family != "gemma3":
        cfg, family = {**cfg, "model_type": TEXT_OF[family]}, TEXT_OF[family]  # Qwen2.5-VL: the text fields at the top level
    if family is None:
        raise ConfigProblem(shown, "config.json has no 'model_type'", "add the model's model_type, or write the models.yaml entry by hand")
    if family not in FAMILIES:
        line, col = jsondoc.position(top.text, ("model_type",))
        raise Unsupported(Location(shown, line, col), ("model_type",), f"model_type {jsondoc._short(family)!r} is not one vramrules can import",
                          "supported: " + ", ".join(FAMILIES) + "; or write the models.yaml entry by hand")
    f = _Config(cfg, shown, top.text, HINT, origin=origin)
    f.family, f.missing = family, []
    family = LIKE.get(family, family)
    if family == "mamba2":
        entry = _ssm_only(f)
    elif family == "gpt2":
        entry = _gpt2(f)
    elif family == "falcon":
        entry = _falcon(f)
    else:
        entry = _core(f, family)
    entry["family"] = f.family
    f.missing_error()  # the sizes everything below divides by
    L = entry["num_layers"]
    window = f.int("sliding_window", 0, minimum=0, field="sliding_window")
    if window and f.bool("use_sliding_window", True):
        layers = _window_layers(f, family, L)
        if layers:
            entry["sliding_window"] = window
            entry["sliding_window_layers"] = layers
    _mixture(f, family, entry)
    _hybrid(f, family, entry)
    _mtp(f, family, entry)
    if vision_cfg is not None:
        entry["vision"] = _vision(top, str(top.str("model_type")), entry)
    precision = quantized_precision(f, strict=not precision_given)
    if precision:
        entry["native_precision"] = precision
    if family == "deepseek_v3" and "intermediate_size" not in entry:
        entry["intermediate_size"] = f.need("intermediate_size", "intermediate_size")
    f.missing_error()
    return entry


def _ssm_only(f: _Config) -> dict:
    """Mamba-2 (Mamba2ForCausalLM): every block one norm and one Mamba-2 mixer, no attention, no
    MLP, no position limit."""
    hidden, L = f.need("hidden_size", "hidden_size"), f.need("num_hidden_layers", "num_layers")
    heads, head_dim = f.need("num_heads", "ssm.num_heads"), f.need("head_dim", "ssm.head_dim")
    return {"name": _name(f, "mamba2"), "family": "mamba2", "hidden_size": hidden, "num_layers": L,
            "num_attention_heads": 0, "num_kv_heads": 0, "head_dim": 0,
            "vocab_size": f.need("vocab_size", "vocab_size"), "tie_word_embeddings": f.bool("tie_word_embeddings", False),
            "max_context": 1_000_000_000,  # a recurrent model has no position limit: the schema's largest figure stands for none
            "mlp": "gated", "norm": "rms", "norms_per_layer": 1,
            "ssm": {"inner_size": heads * head_dim, "num_heads": heads, "head_dim": head_dim, "state_size": f.need("state_size", "ssm.state_size"),
                    "n_groups": f.int("n_groups", 8, field="ssm.n_groups"), "conv_kernel": f.int("conv_kernel", 4, field="ssm.conv_kernel"),
                    "conv_bias": f.bool("use_conv_bias", True), "proj_bias": f.bool("use_bias", False), "inner_norm": True},
            "layers": [{"count": L, "attention": "none", "recurrent": "mamba2", "mlp": "none"}]}


def _name(f: _Config, family: str) -> str:
    name = f.data.get("_name_or_path")
    if not (isinstance(name, str) and name.strip() and len(name) <= 200 and name.isprintable()):
        shown_path = Path(f.shown)
        name = (shown_path.parent.name if shown_path.name == "config.json" else shown_path.stem) or family
    return name


def _core(f: _Config, family: str) -> dict:
    """The fields every family has: sizes, heads, vocabulary, norms, biases."""
    hidden = f.need("hidden_size", "hidden_size")
    heads = f.need("num_attention_heads", "num_attention_heads")
    if family == "nemotron_h" and not f.has("num_hidden_layers") and f.has("layers_block_type"):
        L = len(f.list("layers_block_type"))  # transformers 5 writes the block list and derives the count
    else:
        L = f.need("num_hidden_layers", "num_layers")
    kv = f.int("num_key_value_heads", heads, field="num_kv_heads")
    if heads % kv:
        f.fail("num_key_value_heads", f"{kv} does not divide num_attention_heads {heads}")
    head_dim = f.int("head_dim", None, field="head_dim")
    if head_dim is None:
        head_dim = hidden // heads  # as the model code computes it
        if head_dim < 1:
            f.fail("num_attention_heads", f"{heads} heads leave no head_dim for hidden_size {hidden}")
    entry = {
        "name": _name(f, family),
        "family": family,
        "hidden_size": hidden,
        "num_layers": L,
        "num_attention_heads": heads,
        "num_kv_heads": kv,
        "head_dim": head_dim,
        "vocab_size": f.need("vocab_size", "vocab_size"),
        # SmolLM3Config ties by default, as the Gemmas do
        "tie_word_embeddings": f.bool("tie_word_embeddings", family.startswith("gemma") or f.family == "smollm3"),
        "max_context": f.need("max_position_embeddings", "max_context"),
        "mlp": "gated",
        "norm": "rms",
        "norms_per_layer": 4 if family.startswith("gemma") and family != "gemma" else 2,
        "qk_norm": family in ("qwen3", "qwen3_moe", "gemma3", "gemma3_text", "qwen3_next", "olmo2")
        or family == "glm4_moe" and f.bool("use_qk_norm", False),  # Glm4MoeAttention: q_norm/k_norm per head when use_qk_norm
        "attention_bias": f.bool("attention_bias", False),
        "attention_out_bias": False,
        "mlp_bias": f.bool("mlp_bias", False),
    }
    dense_mlp = ("llama", "mistral", "phi3", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "deepseek_v3", "qwen2_moe", "qwen3_moe",
                 "qwen3_next", "jamba", "nemotron_h", "falcon_h1", "olmo2", "glm4_moe")
    if family in dense_mlp and (family not in ("qwen2_moe", "qwen3_moe", "deepseek_v3", "qwen3_next", "glm4_moe") or f.has("intermediate_size")):
        entry["intermediate_size"] = f.need("intermediate_size", "intermediate_size")
    if family in ("qwen2", "qwen2_moe"):
        entry["attention_bias"] = True  # Qwen2Attention: q, k, v with bias, o without
    if family == "nemotron_h":
        entry.update(mlp="plain", norms_per_layer=1)  # NemotronHMLP: up and down with relu2; NemotronHBlock: one norm, one mixer
    if family == "granitemoehybrid":
        entry["attention_out_bias"] = entry["attention_bias"]  # GraniteMoeHybridAttention: o_proj has attention_bias too
    if family == "falcon_h1":
        entry["attention_out_bias"] = entry["attention_bias"]  # FalconH1Attention: o_proj has attention_bias too
    if family == "olmo2":
        # Olmo2Attention: q_norm over num_heads x head_dim and k_norm over num_kv_heads x head_dim (the whole projection, not
        # per head); Olmo2DecoderLayer: post_attention_layernorm and post_feedforward_layernorm, none before
        entry["qk_norm_width"] = "projection"
    if family == "phi3":
        entry.update(fused_qkv=True, fused_gate_up=True)  # Phi3Attention.qkv_proj, Phi3MLP.gate_up_proj
    if family == "llama4_text":
        # Llama4TextDecoderLayer: dense layers a Llama4TextMLP of intermediate_size_mlp; the MoE layers' experts and shared
        # expert are intermediate_size wide (_mixture); Llama4TextL2Norm on q and k has no weight
        entry["intermediate_size"] = f.need("intermediate_size_mlp", "intermediate_size")
    if family == "opt":
        # OPTDecoderLayer: fc1/fc2 with ReLU, LayerNorms with bias, every projection with bias (enable_bias);
        # OPTLearnedPositionalEmbedding has max_position_embeddings + 2 rows (offset 2)
        bias = f.bool("enable_bias", True)
        entry.update(intermediate_size=f.need("ffn_dim", "intermediate_size"), mlp="plain", norm="layer",
                     attention_bias=bias, attention_out_bias=bias, mlp_bias=bias, tie_word_embeddings=f.bool("tie_word_embeddings", True),
                     position_embeddings=entry["max_context"] + 2)
        if f.int("word_embed_proj_dim", hidden, field="hidden_size") != hidden:
            f.fail("word_embed_proj_dim", f"differs from hidden_size {hidden}: OPT's project_in/project_out are not imported",
                   "write the models.yaml entry by hand (extra_params for the two projections)")
        if not f.bool("do_layer_norm_before", True):
            f.fail("do_layer_norm_before", "post-norm OPT (no final LayerNorm) is not imported", "write the models.yaml entry by hand")
    return entry


def _mixture(f: _Config, family: str, entry: dict):
    """Experts (mixtral, qwen MoE, deepseek_v3, gpt_oss), MLA, and precisions a config declares."""
    L = entry["num_layers"]
    if family == "mixtral":
        entry["moe"] = _experts(f, "num_local_experts", "intermediate_size")
    elif family == "jamba":
        if f.int("num_experts", 16) > 1:  # JambaSparseMoeBlock: a router and num_experts JambaMLPs of intermediate_size
            entry["moe"] = _experts(f, "num_experts", "intermediate_size")
    elif family == "granitemoehybrid":
        shared = f.need("shared_intermediate_size", "moe.shared_expert_intermediate_size")
        if f.int("num_local_experts", 0, minimum=0) > 0:  # GraniteMoeHybridMoE beside the always-present shared MLP
            entry["moe"] = {**_experts(f, "num_local_experts", "intermediate_size"), "shared_experts": 1, "shared_expert_intermediate_size": shared}
        else:  # only GraniteMoeHybridMLP, a gated MLP of shared_intermediate_size
            entry["intermediate_size"] = shared
    elif family in ("qwen2_moe", "qwen3_moe") or family == "qwen3_next" and f.has("num_experts"):  # Qwen3.5's dense models have none
        moe = _experts(f, "num_experts", "moe_intermediate_size")
        shared = f.int("shared_expert_intermediate_size", 0, minimum=0, field="moe.shared_expert_intermediate_size")
        if shared:
            moe.update(shared_experts=1, shared_expert_intermediate_size=shared, shared_expert_gate=True)
        dense = f.list("mlp_only_layers")
        for i in dense:
            n = jsondoc.whole(i)
            if n is None or not 0 <= n < L:
                f.fail("mlp_only_layers", f"must list layer numbers from 0 to {L - 1}, got {jsondoc.describe(i)}")
        if dense:
            moe["dense_layers"] = len({jsondoc.whole(i) for i in dense})
        entry["moe"] = moe
    elif family == "glm4_moe":
        # Glm4MoeMoE: Glm4MoeTopkRouter (e_score_correction_bias a buffer, not a parameter), n_routed_experts Glm4MoeExperts of
        # moe_intermediate_size and one Glm4MoeMLP of moe_intermediate_size x n_shared_experts; the first first_k_dense_replace
        # layers a Glm4MoeMLP of intermediate_size (Glm4MoeDecoderLayer); the MTP layer (num_nextn_predict_layers) is not built
        moe = _experts(f, "n_routed_experts", "moe_intermediate_size")
        moe.update(shared_experts=f.int("n_shared_experts", 1, minimum=0, field="moe.shared_experts"),
                   shared_expert_intermediate_size=moe["expert_intermediate_size"],
                   dense_layers=f.int("first_k_dense_replace", 1, minimum=0, maximum=L),
                   router_bias=f.str("topk_method") == "noaux_tc")
        entry["moe"] = moe
        if moe["dense_layers"]:
            entry["intermediate_size"] = f.need("intermediate_size", "intermediate_size")
    elif family == "deepseek_v3":
        moe = _experts(f, "n_routed_experts", "moe_intermediate_size")
        moe.update(shared_experts=f.int("n_shared_experts", 0, minimum=0, field="moe.shared_experts"),
                   shared_expert_intermediate_size=moe["expert_intermediate_size"],
                   dense_layers=f.int("first_k_dense_replace", 0, minimum=0, maximum=L),
                   router_bias=f.str("topk_method") == "noaux_tc")
        entry["moe"] = moe
        # q_lora_rank null: a full q_proj (DeepSeek-V2-Lite); absent: DeepseekV2Config's / DeepseekV3Config's default, 1536
        q_rank = f.int("q_lora_rank", 0, minimum=0, field="mla.q_lora_rank") if "q_lora_rank" in f.data else 1536
        entry["mla"] = {"q_lora_rank": q_rank,
                        "kv_lora_rank": f.need("kv_lora_rank", "mla.kv_lora_rank"),
                        "qk_rope_head_dim": f.need("qk_rope_head_dim", "mla.qk_rope_head_dim"),
                        "qk_nope_head_dim": f.need("qk_nope_head_dim", "mla.qk_nope_head_dim", minimum=0),
                        "v_head_dim": f.need("v_head_dim", "mla.v_head_dim")}
        entry["head_dim"] = entry["mla"]["qk_rope_head_dim"] + entry["mla"]["qk_nope_head_dim"]
        if f.family == "deepseek_v32":
            # DeepseekV32Indexer (DeepSeek Sparse Attention): wq_b (q_lora_rank -> index_n_heads x index_head_dim), wk (hidden ->
            # index_head_dim), k_norm (a LayerNorm with bias), weights_proj (hidden -> index_n_heads); its key cache holds
            # index_head_dim values per token per layer beside the MLA latent (DynamicIndexedLayer)
            if not q_rank:
                f.fail("q_lora_rank", "DeepSeek-V3.2's indexer projects the q latent: q_lora_rank must be set")
            entry["mla"].update(index_n_heads=f.int("index_n_heads", 64, field="mla.index_n_heads"),
                                index_head_dim=f.int("index_head_dim", 128, field="mla.index_head_dim"))
    elif family == "llama4_text":
        # Llama4TextMoe: Llama4TextExperts (gate_up_proj E x h x 2I, down_proj E x I x h), a router without bias, one shared
        # Llama4TextMLP of intermediate_size beside them
        moe = _experts(f, "num_local_experts", "intermediate_size")
        moe.update(shared_experts=1, shared_expert_intermediate_size=moe["expert_intermediate_size"])
        entry["moe"] = moe
        entry["layers"] = hf_layers.groups(hf_layers.llama4(f, L))
    elif family == "gpt_oss":
        entry["moe"] = {**_experts(f, "num_local_experts", "intermediate_size"), "router_bias": True, "expert_bias": True}
        entry["attention_bias"] = entry["attention_out_bias"] = entry["attention_sinks"] = True


def _gpt2(f: _Config) -> dict:
    """GPT-2 (GPT2LMHeadModel): Conv1D c_attn (fused q, k, v, with bias) and c_proj, a plain MLP of n_inner (4 x n_embd
    when null) with biases, LayerNorms ln_1, ln_2 and ln_f, learned positions wpe of n_positions, lm_head tied to wte."""
    hidden, heads = f.need("n_embd", "hidden_size"), f.need("n_head", "num_attention_heads")
    if f.bool("add_cross_attention", False):
        f.fail("add_cross_attention", "a GPT-2 with cross-attention (an encoder-decoder's decoder) is not imported", "write the models.yaml entry by hand")
    if hidden % heads:
        f.fail("n_head", f"{heads} does not divide n_embd {hidden}")
    positions = f.need("n_positions", "max_context")
    return {"name": _name(f, "gpt2"), "family": "gpt2", "hidden_size": hidden, "num_layers": f.need("n_layer", "num_layers"),
            "num_attention_heads": heads, "num_kv_heads": heads, "head_dim": hidden // heads,
            "vocab_size": f.need("vocab_size", "vocab_size"), "tie_word_embeddings": f.bool("tie_word_embeddings", True),
            "max_context": positions, "position_embeddings": positions,
            "intermediate_size": f.int("n_inner", 4 * hidden, field="intermediate_size"),
            "mlp": "plain", "norm": "layer", "norms_per_layer": 2, "qk_norm": False,
            "attention_bias": True, "attention_out_bias": True, "mlp_bias": True, "fused_qkv": True}


def _falcon(f: _Config) -> dict:
    """Falcon (FalconForCausalLM): a fused query_key_value - multi-query (one K/V head, falcon-7b), all heads, or with
    new_decoder_architecture num_kv_heads groups (falcon-40b) -, dense, a plain MLP of ffn_hidden_size (4 x hidden when
    null), `bias` on every linear layer, LayerNorms: one per layer for parallel attention (two with
    new_decoder_architecture's num_ln_in_parallel_attn 2, the default there), two for sequential; rotary or ALiBi
    positions, neither with parameters; lm_head tied by default."""
    hidden = f.need("hidden_size", "hidden_size")
    heads = f.need("num_attention_heads" if f.has("num_attention_heads") or not f.has("n_head") else "n_head", "num_attention_heads")
    L = f.need("num_hidden_layers" if f.has("num_hidden_layers") or not f.has("n_layer") else "n_layer", "num_layers")
    new_arch = f.bool("new_decoder_architecture", False)
    kv_key = "num_kv_heads" if f.has("num_kv_heads") or not f.has("n_head_kv") else "n_head_kv"
    if new_arch:
        kv = f.int(kv_key, heads, field="num_kv_heads")
        if heads % kv:
            f.fail(kv_key, f"{kv} does not divide num_attention_heads {heads}")
    else:
        kv = 1 if f.bool("multi_query", True) else heads  # FalconAttention: the old layout's qkv is hidden + 2 head_dim, or 3 x hidden
    if hidden % heads:
        f.fail("num_attention_heads", f"{heads} does not divide hidden_size {hidden}")
    parallel = f.bool("parallel_attn", True)
    norms = f.int("num_ln_in_parallel_attn", 2 if new_arch else 1) if parallel else 2
    bias = f.bool("bias", False)
    return {"name": _name(f, "falcon"), "family": "falcon", "hidden_size": hidden, "num_layers": L,
            "num_attention_heads": heads, "num_kv_heads": kv, "head_dim": hidden // heads,
            "vocab_size": f.need("vocab_size", "vocab_size"), "tie_word_embeddings": f.bool("tie_word_embeddings", True),
            "max_context": f.int("max_position_embeddings", 2048, field="max_context"),
            "intermediate_size": f.int("ffn_hidden_size", 4 * hidden, field="intermediate_size"),
            "mlp": "plain", "norm": "layer", "norms_per_layer": 2 if norms == 2 else 1, "qk_norm": False,
            "attention_bias": bias, "attention_out_bias": bias, "mlp_bias": bias, "fused_qkv": True}


def _vision(top: jsondoc.Fields, family: str, entry: dict) -> dict:
    """The vision tower of a multimodal config (its vision_config) as the models.yaml vision block; the rules count
    its parameters (vision_params). A tower whose structure the block cannot describe is refused at vision_config."""
    v = jsondoc.Fields(top.dict("vision_config"), top.shown, top.text, HINT, prefix=("vision_config",))
    text_hidden = entry["hidden_size"]
    if family == "gemma3":
        # SiglipVisionModel (patch Conv2d with bias, position_embedding of (image_size / patch_size)^2 patches, blocks
        # with LayerNorms and biases, post_layernorm, the pooling head when vision_use_head) and Gemma3MultiModalProjector
        # (mm_soft_emb_norm, a Gemma3RMSNorm over the vision width, and mm_input_projection_weight, vision x text width)
        if v.str("model_type", "siglip_vision_model") != "siglip_vision_model":
            v.fail("model_type", f"gemma3's vision tower must be siglip_vision_model, got {jsondoc.describe(v.str('model_type'))}")
        hidden, patch = v.int("hidden_size", 768), v.int("patch_size", 16)
        image = v.int("image_size", 224)
        return {"depth": v.int("num_hidden_layers", 12), "hidden_size": hidden, "intermediate_size": v.int("intermediate_size", 3072),
                "num_heads": v.int("num_attention_heads", 12), "patch_size": patch, "num_channels": v.int("num_channels", 3),
                "position_embeddings": (image // patch) ** 2, "post_norm": True, "pooling_head": v.bool("vision_use_head", True),
                "projector_norm": hidden, "projector_norm_kind": "rms", "projector_in": hidden, "projector_out": text_hidden,
                "tokens_per_image": top.int("mm_tokens_per_image", 256),
                "source": "transformers, src/transformers/models/siglip/modeling_siglip.py, src/transformers/models/gemma3/modeling_gemma3.py"}
    if family == "mistral3":
        # PixtralVisionModel: patch_conv (Conv2d without bias), ln_pre (RMSNorm), blocks with RMSNorms, q/k/v/o and a gated MLP
        # without biases, rotary positions (no parameters); Mistral3MultiModalProjector: an RMSNorm over the vision width,
        # Mistral3PatchMerger's merging_layer (vision x merge^2 -> vision, no bias: counted as extra_params, as the block
        # has no slot for it), linear_1 (vision -> text) and linear_2 (text -> text), biased when multimodal_projector_bias
        if v.str("model_type", "pixtral") != "pixtral":
            v.fail("model_type", f"mistral3's vision tower must be pixtral, got {jsondoc.describe(v.str('model_type'))}")
        hidden, merge = v.int("hidden_size", 1024), top.int("spatial_merge_size", 2)
        entry["extra_params"] = hidden * merge * merge * hidden
        return {"depth": v.int("num_hidden_layers", 24), "hidden_size": hidden, "intermediate_size": v.int("intermediate_size", 4096),
                "num_heads": v.int("num_attention_heads", 16), "patch_size": v.int("patch_size", 14), "num_channels": v.int("num_channels", 3),
                "patch_bias": False, "norm": "rms", "mlp": "gated", "attention_bias": False, "mlp_bias": False, "pre_norm": True,
                "projector_norm": hidden, "projector_norm_kind": "rms", "projector_in": hidden, "projector_hidden": text_hidden,
                "projector_out": text_hidden, "projector_bias": top.bool("multimodal_projector_bias", False),
                "token_merge": merge, "row_break_tokens": True,  # PixtralProcessor: [IMG_BREAK] ends each row of image tokens
                "source": "transformers, src/transformers/models/pixtral/modeling_pixtral.py, src/transformers/models/mistral3/modeling_mistral3.py"}
    if family in ("qwen2_5_vl", "qwen3_5", "qwen3_5_moe", "qwen3_vl", "qwen3_vl_moe"):
        hidden, merge = v.int("hidden_size", 1280 if family == "qwen2_5_vl" else 1152), v.int("spatial_merge_size", 2)
        out = v.int("out_hidden_size", text_hidden)
        block = {"depth": v.int("depth", 32 if family == "qwen2_5_vl" else 27), "hidden_size": hidden,
                 "intermediate_size": v.int("intermediate_size", 3420 if family == "qwen2_5_vl" else 4304),
                 "num_heads": v.int("num_heads", 16), "patch_size": v.int("patch_size", 14 if family == "qwen2_5_vl" else 16),
                 "temporal_patch_size": v.int("temporal_patch_size", 2), "num_channels": v.int("in_channels", 3),
                 "projector_norm": hidden, "projector_in": hidden * merge * merge, "projector_hidden": hidden * merge * merge,
                 "projector_out": out, "projector_bias": True, "token_merge": merge}
        if family == "qwen2_5_vl":
            # Qwen2_5_VisionTransformerPretrainedModel: Conv3d patch embedding without bias, rotary positions, blocks
            # with RMSNorms, a biased fused qkv and a gated MLP with biases; the merger's ln_q (RMSNorm) and two linears
            block.update(patch_bias=False, norm="rms", mlp="gated", projector_norm_kind="rms",
                         source="transformers, src/transformers/models/qwen2_5_vl/modeling_qwen2_5_vl.py")
        elif family in ("qwen3_vl", "qwen3_vl_moe"):
            # Qwen3VLVisionModel: as Qwen3.5's, plus one deepstack merger per deepstack_visual_indexes (the same two linears,
            # its LayerNorm after the patch shuffle, over vision x merge^2: Qwen3VLVisionPatchMerger use_postshuffle_norm)
            deep = v.list("deepstack_visual_indexes") if "deepstack_visual_indexes" in v.data else [8, 16, 24]
            block.update(position_embeddings=v.int("num_position_embeddings", 2304), projector_norm_kind="layer",
                         deepstack_projectors=len(deep), source="transformers, src/transformers/models/qwen3_vl/modeling_qwen3_vl.py")
        else:
            # Qwen3_5VisionModel: Conv3d with bias, learned pos_embed of num_position_embeddings, LayerNorm blocks with a
            # plain MLP, the merger's LayerNorm over the encoder width and two linears
            block.update(position_embeddings=v.int("num_position_embeddings", 2304), projector_norm_kind="layer",
                         source="transformers, src/transformers/models/qwen3_5/modeling_qwen3_5.py")
            if v.list("deepstack_visual_indexes"):
                v.fail("deepstack_visual_indexes", "deepstack mergers are not imported", "write the models.yaml entry by hand (extra_params)")
        return block
    if family == "llama4":
        # Llama4VisionModel: Llama4UnfoldConvolution (a bias-free linear over unfolded patches), class_embedding, a
        # positional_embedding_vlm row per patch and one for the class token, layernorm_pre and layernorm_post (LayerNorm),
        # blocks with LayerNorms, biased q/k/v/o and a plain biased fc1/fc2 MLP; vision_adapter (Llama4VisionPixelShuffleMLP:
        # fc1 intermediate_size -> projector_input_dim, fc2 projector_input_dim -> projector_output_dim, bias-free);
        # Llama4MultiModalProjector: linear_1, vision_output_dim -> the text hidden size, bias-free
        if v.str("model_type", "llama4_vision_model") != "llama4_vision_model":
            v.fail("model_type", f"llama4's vision tower must be llama4_vision_model, got {jsondoc.describe(v.str('model_type'))}")
        hidden, patch, image = v.int("hidden_size", 768), v.int("patch_size", 14), v.int("image_size", 448)
        inner = v.int("intermediate_size", 5632)
        return {"depth": v.int("num_hidden_layers", 34), "hidden_size": hidden, "intermediate_size": inner,
                "num_heads": v.int("num_attention_heads", 16), "patch_size": patch, "num_channels": v.int("num_channels", 3),
                "patch_bias": False, "position_embeddings": (image // patch) ** 2 + 1, "class_embedding": True,
                "pre_norm": True, "post_norm": True, "projector_in": inner, "projector_hidden": v.int("projector_input_dim", 4096),
                "projector_out": v.int("projector_output_dim", 4096), "projector_bias": False,
                "text_projection": v.int("vision_output_dim", 7680), "token_merge": _pixel_shuffle_merge(v),
                "source": "transformers, src/transformers/models/llama4/modeling_llama4.py"}
    at = top.pointer("vision_config")
    line, col = jsondoc.position(top.text, at)
    raise Unsupported(Location(top.shown, line, col), at, f"{family}'s vision tower is not one vramrules counts; counting the language "
                      "model alone would under-count", "import the text model's config (text_config), or write the models.yaml entry by "
                      "hand with the tower's parameters as extra_params")


def _pixel_shuffle_merge(v: jsondoc.Fields) -> int:
    """Patches merged into one image token along each side by Llama 4's pixel shuffle (Llama4VisionPixelShuffleMLP:
    pixel_shuffle_ratio 0.5, each side halved: 576 patches of a tile become 144 tokens)."""
    ratio = v.data.get("pixel_shuffle_ratio", 0.5)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1 or (1 / ratio) % 1:
        v.fail("pixel_shuffle_ratio", f"must be 1 over a whole number of patches (0.5: 2 x 2 patches a token), got {jsondoc.describe(ratio)}")
    return round(1 / ratio)


def quantized_precision(f: jsondoc.Fields, strict: bool = True) -> str | None:
    """The precision (data/precisions.yaml id) of the checkpoint's weights from its
    `quantization_config`, or None when there is none. A quantization without an entry in the
    data is an error naming what was found, never an estimate at 16 bit."""
    if not f.has("quantization_config"):
        return None
    q = jsondoc.Fields(f.dict("quantization_config"), f.shown, f.text, HINT, prefix=f.pointer("quantization_config"))
    method = q.str("quant_method")
    bits = q.int("bits", 4) if method in ("gptq", "awq") else None
    group = q.int("group_size", 128, minimum=-1) if method in ("gptq", "awq") else None
    if method in ("gptq", "awq") and bits == 4 and group == 128:
        return f"{method}-int4-g128"            # packing, scales and zero points: data/precisions.yaml
    if method == "bitsandbytes":
        if q.bool("load_in_4bit", False):
            kind = q.str("bnb_4bit_quant_type", "fp4")
            if kind not in ("nf4", "fp4"):
                q.fail("bnb_4bit_quant_type", f"must be nf4 or fp4, got {jsondoc.describe(kind)}")
            return "nf4-dq" if kind == "nf4" and q.bool("bnb_4bit_use_double_quant", False) else kind
        if q.bool("load_in_8bit", False):
            return "int8"
    if method == "fp8":
        block = q.list("weight_block_size")
        if block == [128, 128]:
            return "fp8-block128"
        if not block:
            return "fp8"
    if method == "mxfp4":
        return "mxfp4-moe"                      # gpt-oss: experts in MXFP4, the rest bf16
    if method == "compressed-tensors":
        groups = q.dict("config_groups")
        weights = [g.get("weights") for g in groups.values() if isinstance(g, dict)]
        if weights and all(isinstance(w, dict) and w.get("type") == "float" and w.get("num_bits") == 8 for w in weights):
            return "fp8"                        # FP8 weights with per-tensor or per-channel scales
    found = ", ".join(f"{k}={jsondoc._short(json.dumps(v), 40)}" for k, v in sorted(f.dict("quantization_config").items())
                      if k in ("quant_method", "bits", "group_size", "load_in_4bit", "load_in_8bit", "weight_block_size", "format"))
    if not strict:
        return None
    at = q.pointer("quant_method") if q.has("quant_method") else f.pointer("quantization_config")
    line, col = jsondoc.position(f.text, at)
    raise Unsupported(Location(f.shown, line, col), at,
                      f"the checkpoint is quantized ({found or 'no quant_method'}), and data/precisions.yaml has no entry for that format",
                      "give --precision with the closest entry (vramrules list precisions), or add the format to precisions.yaml with its source")


def _hybrid(f: _Config, family: str, entry: dict):
    """The layer stack of a hybrid family (hf_layers) and the blocks its recurrent layers read."""
    L = entry["num_layers"]
    if family == "qwen3_next":
        entry["attention_gate"] = f.bool("attn_output_gate", True)  # Qwen3NextAttention: q_proj is 2 x heads x head_dim wide
        dtype = f.str("mamba_ssm_dtype")
        if dtype is not None:  # Qwen3.5 declares the state's dtype (float32)
            widths = {"float32": "32 bit", "bfloat16": "16 bit", "float16": "16 bit"}
            if dtype not in widths:
                f.fail("mamba_ssm_dtype", f"must be one of {', '.join(widths)}, got {jsondoc.describe(dtype)}")
            entry["recurrent_state_bits"] = widths[dtype]
        entry["linear_attention"] = {"num_key_heads": f.need("linear_num_key_heads", "linear_attention.num_key_heads"),
                                     "num_value_heads": f.need("linear_num_value_heads", "linear_attention.num_value_heads"),
                                     "key_head_dim": f.need("linear_key_head_dim", "linear_attention.key_head_dim"),
                                     "value_head_dim": f.need("linear_value_head_dim", "linear_attention.value_head_dim"),
                                     "conv_kernel": f.need("linear_conv_kernel_dim", "linear_attention.conv_kernel")}
        layers = hf_layers.qwen3_next(f, L, entry.get("moe", {}).get("num_experts", 0))
    elif family == "jamba":
        hidden = entry["hidden_size"]
        rank = f.data.get("mamba_dt_rank", "auto")
        entry["ssm"] = {"inner_size": f.int("mamba_expand", 2) * hidden, "state_size": f.int("mamba_d_state", 16, field="ssm.state_size"),
                        "conv_kernel": f.int("mamba_d_conv", 4, field="ssm.conv_kernel"),
                        # JambaMambaMixer: time_step_rank = ceil(hidden_size / 16) when "auto"
                        "dt_rank": -(-hidden // 16) if rank == "auto" else f.int("mamba_dt_rank", field="ssm.dt_rank"),
                        "conv_bias": f.bool("mamba_conv_bias", True), "proj_bias": f.bool("mamba_proj_bias", False),
                        "inner_norm": False, "dt_norms": True}
        layers = hf_layers.jamba(f, L, entry.get("moe", {}).get("num_experts", 0))
    elif family == "nemotron_h":
        heads, head_dim = f.need("mamba_num_heads", "ssm.num_heads"), f.need("mamba_head_dim", "ssm.head_dim")
        entry["ssm"] = {"inner_size": heads * head_dim, "num_heads": heads, "head_dim": head_dim,
                        "state_size": f.need("ssm_state_size", "ssm.state_size"), "n_groups": f.int("n_groups", 8, field="ssm.n_groups"),
                        "conv_kernel": f.int("conv_kernel", 4, field="ssm.conv_kernel"),
                        "conv_bias": f.bool("use_conv_bias", True), "proj_bias": f.bool("use_bias", False), "inner_norm": True}
        layers = hf_layers.nemotron_h(f, L)
        if any(layer[3] == "moe" for layer in layers):
            # NemotronHMoE (Nemotron 3): n_routed_experts NemotronHExperts (up and down, relu2: plain), in moe_latent_size
            # when set (fc1/fc2_latent_proj around them); NemotronHTopkRouter (a weight per expert, and e_score_correction_bias:
            # a buffer in transformers, stored in the checkpoint, as DeepSeek-V3's); one shared NemotronHMLP of
            # moe_shared_expert_intermediate_size, whatever n_shared_experts says
            moe = _experts(f, "n_routed_experts", "moe_intermediate_size")
            moe.update(shared_experts=1, shared_expert_intermediate_size=f.need("moe_shared_expert_intermediate_size",
                                                                                "moe.shared_expert_intermediate_size"),
                       router_bias=True, expert_mlp="plain")
            latent = f.int("moe_latent_size", 0, minimum=0, field="moe.latent_size") if f.data.get("moe_latent_size") is not None else 0
            if latent:
                moe["latent_size"] = latent
            entry["moe"] = moe
    elif family in ("falcon_h1", "granitemoehybrid"):
        hidden = entry["hidden_size"]
        heads, head_dim = f.need("mamba_n_heads", "ssm.num_heads"), f.need("mamba_d_head", "ssm.head_dim")
        inner = f.int("mamba_expand", 2) * hidden
        if family == "falcon_h1" and f.has("mamba_d_ssm"):  # FalconH1Mixer: mamba_d_ssm, else mamba_expand x hidden
            inner = f.int("mamba_d_ssm", field="ssm.inner_size")
        entry["ssm"] = {"inner_size": inner, "num_heads": heads, "head_dim": head_dim,
                        "state_size": f.need("mamba_d_state", "ssm.state_size"), "n_groups": f.int("mamba_n_groups", 1, field="ssm.n_groups"),
                        "conv_kernel": f.int("mamba_d_conv", 4, field="ssm.conv_kernel"), "conv_bias": f.bool("mamba_conv_bias", True),
                        "proj_bias": f.bool("mamba_proj_bias", False),
                        "inner_norm": f.bool("mamba_rms_norm", False) if family == "falcon_h1" else True}
        if family == "falcon_h1":
            if f.bool("projectors_bias", False) != entry["ssm"]["proj_bias"]:
                f.fail("projectors_bias", "differs from mamba_proj_bias: one bias flag for in_proj and out_proj is imported", "write the models.yaml entry by hand")
            layers = [("full", 0, "mamba2", "dense")] * L  # FalconH1DecoderLayer: attention and Mamba-2 side by side, then the MLP
        else:
            layers = hf_layers.granite_hybrid(f, L, entry.get("moe", {}).get("num_experts", 0))
    else:
        return
    entry["layers"] = hf_layers.groups(layers)
    if any(g["mlp"] == "dense" for g in entry["layers"]) and "intermediate_size" not in entry:
        entry["intermediate_size"] = f.need("intermediate_size", "intermediate_size")


def _mtp(f: _Config, family: str, entry: dict):
    """The multi-token-prediction modules a checkpoint ships beyond its decoder stack (transformers builds none of them):
    DeepSeek-V3's and GLM-4.5's num_nextn_predict_layers (model.layers.N.{embed_tokens, enorm, hnorm, eh_proj, the
    decoder layer, shared_head.norm, shared_head.head}: a MoE layer with its own embedding and head), Qwen3-Next's and
    Qwen3.5's mtp_num_hidden_layers (mtp.{fc, pre_fc_norm_embedding, pre_fc_norm_hidden, layers, norm}: the model's
    embedding and head shared, unless mtp_use_dedicated_embeddings)."""
    if family in ("deepseek_v3", "glm4_moe"):
        n = f.int("num_nextn_predict_layers", 0, minimum=0, field="mtp.layers")
        if n:
            entry["mtp"] = {"layers": n, "mlp": "moe", "embedding": True, "head": True,
                            "source": "vLLM, vllm/model_executor/models/deepseek_mtp.py and glm4_moe_mtp.py (the checkpoint's model.layers.N tensors)"}
    elif family == "qwen3_next":
        n = f.int("mtp_num_hidden_layers", 0, minimum=0, field="mtp.layers")
        if n:
            entry["mtp"] = {"layers": n, "mlp": "moe" if "moe" in entry else "dense", "embedding": f.bool("mtp_use_dedicated_embeddings", False),
                            "source": "vLLM, vllm/model_executor/models/qwen3_next_mtp.py (the checkpoint's mtp.* tensors)"}


def _experts(f: _Config, count_key: str, size_key: str) -> dict:
    experts = f.need(count_key, "moe.num_experts")
    per_token = f.need("num_experts_per_tok", "moe.experts_per_token")
    if per_token > experts:
        f.fail("num_experts_per_tok", f"{per_token} is more than {count_key} {experts}")
    return {"num_experts": experts, "experts_per_token": per_token, "expert_intermediate_size": f.need(size_key, "moe.expert_intermediate_size")}


def _window_layers(f: jsondoc.Fields, family, L) -> int:
    types = f.list("layer_types")
    if types:
        if len(types) != L:
            f.fail("layer_types", f"lists {len(types)} layers, but num_hidden_layers is {L}")
        for t in types:
            if not isinstance(t, str):
                f.fail("layer_types", f"must list layer kinds as strings, got {jsondoc.describe(t)}")
        return sum(1 for t in types if t == "sliding_attention")
    if family == "gemma2":
        return L // 2                       # every other layer (Gemma2DecoderLayer: layer_idx % 2 == 0)
    if family in ("gemma3", "gemma3_text"):
        pattern = f.int("sliding_window_pattern", 6)
        return L - L // pattern            # 5 local : 1 global
    if family == "mistral":
        return L
    if family in ("qwen2", "qwen3", "qwen2_moe", "qwen3_moe"):
        start = f.int("max_window_layers", 0, minimum=0)
        return max(0, L - start) if f.bool("use_sliding_window", False) else 0
    if family == "phi3":
        return L
    return 0
