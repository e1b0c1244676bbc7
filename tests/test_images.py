"""--images N: a vision tower's tokens join each sequence's context (the KV cache, the prefill) and its
encoder runs over the images' patches (issue 14: "the tokens an image contributes (fixed per image, or
by resolution, e.g. Qwen2.5-VL's patches), entering the KV cache and activations")."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import vramrules
from vramrules.cli import main

CASES = Path(__file__).parent / "cases"


def _eval(model, **kw):
    return vramrules.evaluate(model, "inference", batch=1, seq_len=8192, **kw)


@pytest.mark.parametrize("model,image_size,tokens", [
    # Qwen3-VL: patch 16, 2 x 2 patches a token (spatial_merge_size 2): (1024 / 32)^2
    ("qwen3-vl-8b", 1024, 32 * 32),
    # Qwen2-VL's smart_resize rounds each side to a multiple of patch x merge: 1000 px -> 31 tokens a side
    ("qwen3-vl-8b", 1000, 31 * 31),
    # Pixtral: patch 14, merge 2, 1540 px (its processor's longest edge) -> 55 rows of 55 tokens and a break each
    ("mistral-small-3.1-24b", 1540, 55 * 55 + 55),
    # Llama 4: one 336-pixel tile, 576 patches of 14, pixel shuffle 0.5 -> 144 tokens
    ("llama4-scout-17b-16e", 336, 144),
])
def test_an_image_becomes_its_towers_tokens(model, image_size, tokens):
    r = _eval(model, images=3, image_size=image_size)
    assert r.values["image_tokens_per_image"] == tokens
    assert r.values["image_tokens"] == 3 * tokens


def test_image_tokens_enter_the_kv_cache():
    """Every attention layer caches the images' tokens beside the text's: the KV cache grows by exactly
    images x tokens x KV bytes per token."""
    text = _eval("qwen3-vl-8b")
    images = _eval("qwen3-vl-8b", images=2, image_size=1024)
    per_token = text.values["kv_bytes_per_token"]
    assert images.component("kv_cache").memory.bytes - text.component("kv_cache").memory.bytes == 2 * 1024 * per_token
    assert images.total.bytes > text.total.bytes


def test_no_images_change_nothing():
    for model in ("qwen3-vl-8b", "llama3.1-8b", "jamba-v0.1"):
        assert _eval(model, images=0).total.bytes == _eval(model).total.bytes


def test_the_vision_encoder_peak_with_eager_attention():
    """Qwen3-VL's encoder over 4,096 patches an image (64 x 64 at 1024 px): eager attention keeps 16 heads' scores
    over one image's patches, the largest tensor of its layer; with flash/SDPA the MLP's is the peak."""
    patches, hidden, inner, heads = 64 * 64, 1152, 4304, 16
    eager = _eval("qwen3-vl-8b", images=2, image_size=1024, attention="eager")
    assert eager.values["vision_encoder_peak"] == 2 * patches * 2 * (6 * hidden + heads * patches)
    flash = _eval("qwen3-vl-8b", images=2, image_size=1024)
    assert flash.values["vision_encoder_peak"] == 2 * patches * 2 * max(6 * hidden, 2 * hidden + 2 * inner)
    # the encoder comes first; the decoder's prefill then holds the image embeddings
    assert flash.values["image_embeddings"] == 2 * 1024 * 4096 * 2


def test_the_header_says_how_many_tokens_the_images_are():
    r = CliRunner().invoke(main, ["eval", "--model", "qwen3-vl-8b", "--images", "2", "--image-size", "1024"])
    assert r.exit_code == 0, r.output
    assert "2 images x 1,024 tokens" in r.output.splitlines()[1]


def test_images_on_a_text_model_are_a_warning():
    r = _eval("llama3.1-8b", images=2)
    assert r.values["image_tokens"] == 0
    assert any("no vision tower" in w for w in r.warnings)


def test_images_past_the_context_are_a_warning():
    r = vramrules.evaluate("qwen3-vl-8b", "inference", batch=1, seq_len=256000, images=8, image_size=1024)
    assert any("images of 1,024 tokens exceed" in w or "images of 1024 tokens exceed" in w for w in r.warnings)


@pytest.mark.parametrize("name,merge,fixed", [
    ("hf-defaults/qwen2_5_vl.json", 2, 0),     # spatial_merge_size 2
    ("hf-defaults/qwen3_5.json", 2, 0),
    ("hf-defaults/llama4.json", 2, 0),         # pixel_shuffle_ratio 0.5
    ("hf-defaults/gemma3.json", 1, 256),       # mm_tokens_per_image: 256 whatever the resolution
])
def test_the_importer_reads_how_an_image_becomes_tokens(name, merge, fixed, tmp_path):
    (tmp_path / "config.json").write_bytes((CASES / name).read_bytes())
    r = vramrules.evaluate(mode="inference", model_config=str(tmp_path), batch=1, seq_len=1024, images=1, image_size=448)
    vision = json.loads((CASES / name).read_text())["vision_config"]
    patch = vision.get("patch_size", 14)
    assert r.values["image_tokens_per_image"] == (fixed or round(448 / (patch * merge)) ** 2)


def test_a_serving_engine_admits_the_images_tokens():
    """vLLM counts an image's tokens in max_model_len: the launch command asks for the text and the images, and a
    request of that length is what the pool's concurrency is counted in."""
    r = CliRunner().invoke(main, ["eval", "--model", "qwen3-vl-8b", "--mode", "serve", "--gpu", "h100-sxm-80gb", "--seq-len", "8192",
                                  "--images", "4", "--image-size", "1024"])
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.split())
    assert "--max-model-len 12288" in flat and "Maximum concurrency for 12,288 tokens per request" in flat
    text = vramrules.evaluate("qwen3-vl-8b", "serve", gpu="h100-sxm-80gb", batch=1, seq_len=8192)
    assert "--max-model-len 8192" in " ".join(CliRunner().invoke(main, ["eval", "--model", "qwen3-vl-8b", "--mode", "serve", "--gpu",
                                                                         "h100-sxm-80gb", "--seq-len", "8192"]).output.split())
    images = vramrules.evaluate("qwen3-vl-8b", "serve", gpu="h100-sxm-80gb", batch=1, seq_len=8192, images=4, image_size=1024)
    assert images.values["max_concurrent_sequences"] < text.values["max_concurrent_sequences"]


def test_a_vision_language_fine_tune_trains_on_the_images_tokens():
    """Training forwards the images' tokens with the text: the decoder's activations are counted over both."""
    text = vramrules.evaluate("qwen3-vl-8b", "train-lora", batch=1, seq_len=2048)
    images = vramrules.evaluate("qwen3-vl-8b", "train-lora", batch=1, seq_len=2048, images=2, image_size=1024)
    assert text.values["act_tokens"] == 2048 and images.values["act_tokens"] == 2048 + 2 * 1024
    assert images.component("activations_training").memory.bytes > text.component("activations_training").memory.bytes
