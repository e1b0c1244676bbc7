"""Activations as transformers really saves them (issue 16), against the rules: what autograd saves
for backward per decoder layer per token (tests/cases/measured/activations.json, made by
harness/activations.py; its entries name the library versions) and vramrules' per-layer estimate
(act_dense_layer_per_token / act_moe_layer_per_token; eager attention's s x s part as
act_scores_per_token / seq_len). The ratios are pinned as they are today, so that the test fails
when either side changes: the table (pytest -s) is the evidence; the rules are not changed here.
No torch needed."""
from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import pytest

import vramrules

ROOT = Path(__file__).resolve().parent.parent
DOC = json.loads((ROOT / "tests" / "cases" / "measured" / "activations.json").read_text(encoding="utf-8"))
ENTRIES = DOC["entries"]
SEQ = 64   # the estimate's per-token part does not depend on it; the s x s part is divided by it

# (entry, regime, layer) -> vramrules / measured, per token (rounded to 3 places), as measured on
# the date in the entry's source. Filled from the table below; a change on either side fails.
PINNED: dict[tuple[str, str, str], float] = {
    ('gpt2', 'full/eager', '0'): 0.533,
    ('gpt2', 'full/eager', '1'): 0.533,
    ('gpt2', 'full/sdpa', '0'): 0.486,
    ('gpt2', 'full/sdpa', '1'): 0.486,
    ('gpt2', 'lora-fp32/sdpa', '0'): 0.409,
    ('gpt2', 'lora-fp32/sdpa', '1'): 0.399,
    ('llama3.1-8b', 'full/eager', '0'): 0.788,
    ('llama3.1-8b', 'full/eager', '1'): 0.788,
    ('llama3.1-8b', 'full/sdpa', '0'): 0.837,
    ('llama3.1-8b', 'full/sdpa', '1'): 0.837,
    ('llama3.1-8b', 'full/sdpa/checkpointing', '0'): 1.0,
    ('llama3.1-8b', 'full/sdpa/checkpointing', '1'): 1.0,
    ('llama3.1-8b', 'lora-bf16-dropout/sdpa', '0'): 0.661,
    ('llama3.1-8b', 'lora-bf16-dropout/sdpa', '1'): 0.569,
    ('llama3.1-8b', 'lora-bf16/sdpa', '0'): 0.999,
    ('llama3.1-8b', 'lora-bf16/sdpa', '1'): 0.91,
    ('llama3.1-8b', 'lora-fp32-dropout/sdpa', '0'): 0.436,
    ('llama3.1-8b', 'lora-fp32-dropout/sdpa', '1'): 0.373,
    ('llama3.1-8b', 'lora-fp32/eager', '0'): 0.593,
    ('llama3.1-8b', 'lora-fp32/eager', '1'): 0.561,
    ('llama3.1-8b', 'lora-fp32/sdpa', '0'): 0.602,
    ('llama3.1-8b', 'lora-fp32/sdpa', '1'): 0.569,
    ('llama3.1-8b', 'lora-fp32/sdpa/checkpointing', '0'): 1.0,
    ('llama3.1-8b', 'lora-fp32/sdpa/checkpointing', '1'): 1.0,
    ('qwen2.5-7b', 'full/eager', '0'): 0.828,
    ('qwen2.5-7b', 'full/eager', '1'): 0.828,
    ('qwen2.5-7b', 'full/sdpa', '0'): 0.873,
    ('qwen2.5-7b', 'full/sdpa', '1'): 0.873,
    ('qwen2.5-7b', 'lora-fp32/sdpa', '0'): 0.641,
    ('qwen2.5-7b', 'lora-fp32/sdpa', '1'): 0.613,
}
PINNED_SCORES: dict[tuple[str, str, str], float] = {
    ('gpt2', 'full/eager', '0'): 0.333,
    ('gpt2', 'full/eager', '1'): 0.333,
    ('gpt2', 'full/sdpa', '0'): 0.0,
    ('gpt2', 'full/sdpa', '1'): 0.0,
    ('gpt2', 'lora-fp32/sdpa', '0'): 0.0,
    ('gpt2', 'lora-fp32/sdpa', '1'): 0.0,
    ('llama3.1-8b', 'full/eager', '0'): 0.333,
    ('llama3.1-8b', 'full/eager', '1'): 0.333,
    ('llama3.1-8b', 'lora-fp32/eager', '0'): 0.333,
    ('llama3.1-8b', 'lora-fp32/eager', '1'): 0.333,
    ('qwen2.5-7b', 'full/eager', '0'): 0.333,
    ('qwen2.5-7b', 'full/eager', '1'): 0.333,
}


def _walk(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, value


def test_file_is_well_formed():
    assert DOC["schema"] == "vramrules-measured-activations/1"
    assert len(ENTRIES) >= 1
    for name, entry in ENTRIES.items():
        v = entry["versions"]
        for lib in ("transformers", "torch", "peft"):
            assert v[lib] and f"{lib} {v[lib]}" in entry["source"], (name, lib)
        assert entry["source"].startswith("measured by harness/activations.py") and entry["date"] in entry["source"]
        config = ROOT / entry["config"]
        assert config.is_file(), name
        assert hashlib.sha256(config.read_bytes()).hexdigest() == entry["config_sha256"], \
            f"{entry['config']} changed since it was measured: re-run harness/activations.py --only {name}"
        assert entry["regimes"], name
        for regime, r in entry["regimes"].items():
            assert r["regime"]["name"] == regime
            assert set(r["layers"]) == {str(i) for i in range(entry["reduced_model"]["num_hidden_layers"])}, (name, regime)
        for path, value in _walk(entry):
            last = path.rsplit(".", 1)[-1]
            if "bytes" in last or ".bytes_at." in path:
                assert isinstance(value, int) and not isinstance(value, bool), f"{name}{path} = {value!r}"


def _import_config(entry: dict) -> dict:
    config = json.loads((ROOT / entry["config"]).read_text(encoding="utf-8"))
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    for key, (old, new) in entry["reduced_model"]["changes"].items():
        if old is None and text.get(key, None) is None and key != "use_cache":
            text[key] = new   # a default config's null (DeepseekV2Config's experts per token), as the harness ran it
    return config


@cache
def _estimate(name: str, attention: str, recompute: str, tmp: str) -> dict:
    folder = Path(tmp) / f"{name}-config"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(_import_config(ENTRIES[name])), encoding="utf-8")
    r = vramrules.evaluate(mode="train-full", model_config=str(folder), batch=1, seq_len=SEQ, recompute=recompute,
                           attention=attention, needed=False)
    values = dict(r.values)
    values["num_layers"] = r.scenario.model.raw["num_layers"]
    return values


def _rows(tmp: str):
    for name, entry in sorted(ENTRIES.items()):
        for regime, r in sorted(entry["regimes"].items()):
            rg = r["regime"]
            attention = "eager" if rg["attn_implementation"] == "eager" else "flash"
            ckpt = rg["gradient_checkpointing"] is not None
            v = _estimate(name, attention, "full" if ckpt else "none", tmp)
            for layer, m in sorted(r["layers"].items()):
                info = entry["reduced_model"]["layers"][int(layer)]
                if ckpt:   # a checkpointed layer keeps its input: activations_layers less the one re-materialized layer
                    est = (v["activations_layers"] - v["activations_per_layer"]) / v["act_tokens"] / v["num_layers"]
                    scores = 0.0
                else:
                    est = v["act_moe_layer_per_token"] if info["mlp"] == "moe" else v["act_dense_layer_per_token"]
                    est -= v["act_scores_kept_per_token"]
                    scores = v["act_scores_kept_per_token"] / SEQ
                yield (name, regime, layer, info["mlp"], info["cache_kind"], est, m["bytes_per_token"], scores,
                       m["bytes_per_token_per_context_token"])


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("act"))
    rows = list(_rows(tmp))
    print("\narchitecture        regime                         layer mlp   kind              "
          "vramrules B/tok  measured B/tok  ratio   scores: vramrules B/tok/ctx  measured  ratio")
    for name, regime, layer, mlp, kind, est, meas, s_est, s_meas in rows:
        ratio = est / meas if meas else float("nan")
        sr = f"{s_est / s_meas:6.3f}" if s_meas else "     -"
        print(f"{name:19s} {regime:30s} {layer:>5s} {mlp:5s} {kind or '-':17s} {est:15,.0f} {meas:15,d} {ratio:6.3f}"
              f"   {s_est:26,.0f} {s_meas:9,d} {sr}")
    return rows


def test_per_layer_ratios_are_pinned(table):
    got = {(n, rg, ly): round(est / meas, 3) for n, rg, ly, _, _, est, meas, _, _ in table if meas}
    assert got == PINNED, "a side changed: update PINNED from the printed table (pytest -s) and say why"


def test_eager_score_ratios_are_pinned(table):
    got = {(n, rg, ly): round(s_est / s_meas, 3) for n, rg, ly, _, _, _, _, s_est, s_meas in table if s_meas}
    assert got == PINNED_SCORES
