"""A tiny llama GGUF written by the gguf package, for the tests that read GGUF files: 64 wide,
4 heads and 2 KV heads, Q8_0 projections, f16 embeddings, f32 norms."""
from __future__ import annotations

from pathlib import Path


def write(path: Path, *, layers: int = 2, vocab: int = 100, name: str | None = None, extra_kv: int = 0) -> Path:
    """Write the file at `path` (gguf and numpy must be importable). `extra_kv`: a metadata array
    of that many tokens, so the header spans several reads."""
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    if name is not None:
        w.add_name(name)
    w.add_block_count(layers)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_context_length(256)
    w.add_feed_forward_length(128)
    if extra_kv:
        w.add_array("tokenizer.ggml.tokens", [f"token-{i:06d}" for i in range(extra_kv)])
    w.add_tensor("token_embd.weight", np.zeros((vocab, 64), dtype=np.float16))
    for i in range(layers):
        for t, rows in (("attn_q", 64), ("attn_k", 32), ("attn_v", 32), ("attn_output", 64), ("ffn_gate", 128), ("ffn_up", 128)):
            w.add_tensor(f"blk.{i}.{t}.weight", np.zeros((rows, 64 // 32 * 34), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        w.add_tensor(f"blk.{i}.ffn_down.weight", np.zeros((64, 128 // 32 * 34), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.zeros(64, dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.zeros(64, dtype=np.float32))
    w.add_tensor("output_norm.weight", np.zeros(64, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
