"""Tiny GGUF models that real llama.cpp loads, for harness/llamacpp_buffers.py and
tests/test_measured_llamacpp.py: several architectures (llama with GQA, gemma3 with sliding
windows, qwen3moe with experts, mamba2 with a recurrent state, jamba: Mamba and attention layers) and tensor types (f16, q8_0,
q4_0), each with a real SentencePiece-style tokenizer table (control, byte and normal tokens)
so llama.cpp's vocabulary loader accepts it.

A model is fully given by its spec (a dict: `SPECS[name]`): `tensors(spec)` lists every tensor
as (name, ggml type, ne) in llama.cpp's dimension order (ne[0] is the row length), `nbytes`
gives the bytes ggml stores for one, and `write(spec, path)` writes the file with the gguf
package (weights are zeros: memory does not depend on the values). The tensor table is the same
whatever the gguf package's version; the file's sha256 may not be, so the harness records both.

Block layouts (ggml's type traits, ggml/src/ggml.c `type_traits`, and the gguf package's
GGML_QUANT_SIZES): f32 4 B per element, f16 2 B, q8_0 34 B per 32 elements (an f16 scale + 32
int8), q4_0 18 B per 32 elements (an f16 scale + 16 bytes of nibbles)."""
from __future__ import annotations

from pathlib import Path

# type name -> (elements per block, bytes per block); the ggml type ids are the gguf package's
# GGMLQuantizationType values (F32 0, F16 1, Q4_0 2, Q8_0 8)
BLOCKS = {"f32": (1, 4), "f16": (1, 2), "q8_0": (32, 34), "q4_0": (32, 18)}
GGML_TYPE_IDS = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 8}
# llama_ftype (include/llama.h): LLAMA_FTYPE_MOSTLY_F16 1, _Q4_0 2, _Q8_0 7
FILE_TYPES = {"f16": 1, "q4_0": 2, "q8_0": 7}

VOCAB = 8192   # 3 control + 256 byte tokens + normal tokens; large enough that the logits buffer shows in MiB


def _llama(quant: str, **over) -> dict:
    spec = {"arch": "llama", "quant": quant, "n_layer": 4, "n_embd": 256, "n_head": 4, "n_head_kv": 2, "head_dim": 64,
            "n_ff": 512, "n_vocab": VOCAB, "n_ctx_train": 4096, "tied_embeddings": False}
    spec.update(over)
    return spec


SPECS: dict[str, dict] = {
    "llama-gqa-f16": _llama("f16"),
    "llama-gqa-q8_0": _llama("q8_0"),
    "llama-gqa-q4_0": _llama("q4_0"),
    # gemma3: 6 layers, the 6th full attention and the other 5 sliding (llama.cpp's default
    # pattern for gemma3, load_swa_pattern(ml, 6) in src/models/gemma3.cpp); tied embeddings
    "gemma3-swa-f16": {"arch": "gemma3", "quant": "f16", "n_layer": 6, "n_embd": 256, "n_head": 4, "n_head_kv": 1, "head_dim": 64,
                       "n_ff": 512, "n_vocab": VOCAB, "n_ctx_train": 8192, "sliding_window": 128, "tied_embeddings": True},
    "qwen3moe-q8_0": {"arch": "qwen3moe", "quant": "q8_0", "n_layer": 2, "n_embd": 256, "n_head": 4, "n_head_kv": 2, "head_dim": 64,
                      "n_ff": 512, "n_vocab": VOCAB, "n_ctx_train": 4096, "n_expert": 8, "n_expert_used": 2, "n_ff_exp": 128,
                      "tied_embeddings": False},
    # mamba2: d_inner = 2 n_embd, 8 heads (ssm_dt_rank) of 64, one group, state 16, conv 4
    # jamba: a hybrid, Mamba-1 layers (head_count_kv 0) and one attention layer (index 2);
    # d_inner = 2 n_embd (asserted by src/models/jamba.cpp), dense FFN
    "jamba-f16": {"arch": "jamba", "quant": "f16", "n_layer": 4, "n_embd": 256, "n_head": 4, "n_head_kv": [0, 0, 2, 0], "head_dim": 64,
                  "n_ff": 512, "n_vocab": VOCAB, "n_ctx_train": 4096, "ssm_d_conv": 4, "ssm_d_inner": 512, "ssm_d_state": 16,
                  "ssm_dt_rank": 16, "tied_embeddings": False},
    "mamba2-f16": {"arch": "mamba2", "quant": "f16", "n_layer": 2, "n_embd": 256, "n_vocab": VOCAB, "n_ctx_train": 1 << 20,
                   "ssm_d_conv": 4, "ssm_d_inner": 512, "ssm_d_state": 16, "ssm_dt_rank": 8, "ssm_n_group": 1, "tied_embeddings": False},
}


def nbytes(ggml_type: str, ne: tuple[int, ...]) -> int:
    """Bytes ggml stores for a tensor (ggml_nbytes of a contiguous tensor): rows of ne[0]
    elements in whole blocks."""
    per_block, block_bytes = BLOCKS[ggml_type]
    assert ne[0] % per_block == 0, (ggml_type, ne)
    rows = 1
    for n in ne[1:]:
        rows *= n
    return ne[0] // per_block * block_bytes * rows


def tensors(spec: dict) -> list[tuple[str, str, tuple[int, ...]]]:
    """Every tensor of the model as (name, ggml type, ne), in file order."""
    q = spec["quant"]
    embd_type = q
    out_type = "q8_0" if q == "q4_0" else q   # as llama-quantize keeps the output layer at a higher type
    e, v = spec["n_embd"], spec["n_vocab"]
    out: list[tuple[str, str, tuple[int, ...]]] = [("token_embd.weight", embd_type, (e, v))]
    arch = spec["arch"]
    for i in range(spec["n_layer"]):
        b = f"blk.{i}."
        if arch == "mamba2":
            d_inner, d_state, n_group, dt_rank, d_conv = (spec[k] for k in ("ssm_d_inner", "ssm_d_state", "ssm_n_group", "ssm_dt_rank", "ssm_d_conv"))
            conv_dim = d_inner + 2 * n_group * d_state
            d_in_proj = d_inner + conv_dim + dt_rank
            out += [(b + "attn_norm.weight", "f32", (e,)),
                    (b + "ssm_in.weight", q, (e, d_in_proj)),
                    (b + "ssm_conv1d.weight", "f32", (d_conv, conv_dim)),
                    (b + "ssm_conv1d.bias", "f32", (conv_dim,)),
                    (b + "ssm_dt.bias", "f32", (dt_rank,)),
                    (b + "ssm_a", "f32", (1, dt_rank)),
                    (b + "ssm_d", "f32", (1, dt_rank)),
                    (b + "ssm_norm.weight", "f32", (d_inner // n_group, n_group)),
                    (b + "ssm_out.weight", q, (d_inner, e))]
            continue
        if arch == "jamba" and spec["n_head_kv"][i] == 0:
            d_inner, d_state, dt_rank, d_conv = (spec[k] for k in ("ssm_d_inner", "ssm_d_state", "ssm_dt_rank", "ssm_d_conv"))
            out += [(b + "attn_norm.weight", "f32", (e,)),
                    (b + "ssm_in.weight", q, (e, 2 * d_inner)),
                    (b + "ssm_conv1d.weight", "f32", (d_conv, d_inner)),
                    (b + "ssm_conv1d.bias", "f32", (d_inner,)),
                    (b + "ssm_x.weight", q, (d_inner, dt_rank + 2 * d_state)),
                    (b + "ssm_dt_norm.weight", "f32", (dt_rank,)),
                    (b + "ssm_dt.weight", "f32", (dt_rank, d_inner)),
                    (b + "ssm_dt.bias", "f32", (d_inner,)),
                    (b + "ssm_b_norm.weight", "f32", (d_state,)),
                    (b + "ssm_c_norm.weight", "f32", (d_state,)),
                    (b + "ssm_a", "f32", (d_state, d_inner)),
                    (b + "ssm_d", "f32", (d_inner,)),
                    (b + "ssm_out.weight", q, (d_inner, e)),
                    (b + "ffn_norm.weight", "f32", (e,)),
                    (b + "ffn_gate.weight", q, (e, spec["n_ff"])), (b + "ffn_up.weight", q, (e, spec["n_ff"])),
                    (b + "ffn_down.weight", q, (spec["n_ff"], e))]
            continue
        hd, nh = spec["head_dim"], spec["n_head"]
        nkv = spec["n_head_kv"][i] if isinstance(spec["n_head_kv"], list) else spec["n_head_kv"]
        out += [(b + "attn_norm.weight", "f32", (e,)),
                (b + "attn_q.weight", q, (e, hd * nh)),
                (b + "attn_k.weight", q, (e, hd * nkv)),
                (b + "attn_v.weight", q, (e, hd * nkv)),
                (b + "attn_output.weight", q, (hd * nh, e))]
        if arch in ("gemma3", "qwen3moe"):
            out += [(b + "attn_q_norm.weight", "f32", (hd,)), (b + "attn_k_norm.weight", "f32", (hd,))]
        if arch == "gemma3":
            out += [(b + "post_attention_norm.weight", "f32", (e,))]
        out += [(b + "ffn_norm.weight", "f32", (e,))]
        if arch == "qwen3moe":
            ne, nf = spec["n_expert"], spec["n_ff_exp"]
            out += [(b + "ffn_gate_inp.weight", "f32", (e, ne)),
                    (b + "ffn_gate_exps.weight", q, (e, nf, ne)),
                    (b + "ffn_down_exps.weight", q, (nf, e, ne)),
                    (b + "ffn_up_exps.weight", q, (e, nf, ne))]
        else:
            f = spec["n_ff"]
            out += [(b + "ffn_gate.weight", q, (e, f)), (b + "ffn_up.weight", q, (e, f)), (b + "ffn_down.weight", q, (f, e))]
        if arch == "gemma3":
            out += [(b + "post_ffw_norm.weight", "f32", (e,))]
    out.append(("output_norm.weight", "f32", (e,)))
    if not spec["tied_embeddings"]:
        out.append(("output.weight", out_type, (e, v)))
    return out


def _vocab(n: int):
    """A SentencePiece ('llama') token table: <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF>,
    then normal pieces. Token types (llama_token_type): 1 normal, 2 unknown, 3 control, 6 byte."""
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    types = [2, 3, 3] + [6] * 256
    letters = "abcdefghijklmnopqrstuvwxyz"
    k = 0
    while len(toks) < n:
        word, j = "", k
        while True:
            word += letters[j % 26]
            j = j // 26 - 1
            if j < 0:
                break
        toks.append("\u2581" + word)   # bijective base 26: a..z, aa.., every piece distinct
        types.append(1)
        k += 1
    scores = [0.0] * 259 + [-float(i) for i in range(n - 259)]
    return toks, scores, types


def write(spec: dict, path: Path) -> Path:
    """Write the model `spec` to `path` (gguf and numpy must be importable)."""
    import gguf
    import numpy as np

    arch = spec["arch"]
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(path.stem)
    w.add_file_type(FILE_TYPES[spec["quant"]])
    w.add_block_count(spec["n_layer"])
    w.add_embedding_length(spec["n_embd"])
    w.add_context_length(spec["n_ctx_train"])
    w.add_layer_norm_rms_eps(1e-6)
    if arch == "mamba2":
        w.add_head_count(0)
        w.add_feed_forward_length(0)
        w.add_ssm_conv_kernel(spec["ssm_d_conv"])
        w.add_ssm_inner_size(spec["ssm_d_inner"])
        w.add_ssm_state_size(spec["ssm_d_state"])
        w.add_ssm_time_step_rank(spec["ssm_dt_rank"])
        w.add_ssm_group_count(spec["ssm_n_group"])
    else:
        w.add_head_count(spec["n_head"])
        w.add_head_count_kv(spec["n_head_kv"])
        w.add_key_length(spec["head_dim"])
        w.add_value_length(spec["head_dim"])
        w.add_rope_dimension_count(spec["head_dim"])
        w.add_rope_freq_base(10000.0)
        w.add_feed_forward_length(spec["n_ff"])
    if arch == "jamba":
        w.add_ssm_conv_kernel(spec["ssm_d_conv"])
        w.add_ssm_inner_size(spec["ssm_d_inner"])
        w.add_ssm_state_size(spec["ssm_d_state"])
        w.add_ssm_time_step_rank(spec["ssm_dt_rank"])
    if arch == "gemma3":
        w.add_sliding_window(spec["sliding_window"])
    if arch == "qwen3moe":
        w.add_expert_count(spec["n_expert"])
        w.add_expert_used_count(spec["n_expert_used"])
        w.add_expert_feed_forward_length(spec["n_ff_exp"])
    toks, scores, types = _vocab(spec["n_vocab"])
    w.add_tokenizer_model("llama")
    w.add_token_list(toks)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    for name, t, ne in tensors(spec):
        shape = tuple(reversed(ne))   # numpy order: the row (ne[0]) last
        if t == "f32":
            w.add_tensor(name, np.zeros(shape, dtype=np.float32))
        elif t == "f16":
            w.add_tensor(name, np.zeros(shape, dtype=np.float16))
        else:
            per_block, block_bytes = BLOCKS[t]
            raw = np.zeros(shape[:-1] + (shape[-1] // per_block * block_bytes,), dtype=np.uint8)
            w.add_tensor(name, raw, raw_dtype=gguf.GGMLQuantizationType(GGML_TYPE_IDS[t]))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
