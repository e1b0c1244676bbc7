"""The rules against what transformers allocates: for every config the harness measured
(tests/cases/measured/transformers.json, made by harness/transformers_alloc.py; its entries name
the library versions), the imported model's parameter count, KV bytes per token and recurrent
state per sequence equal the measured ones. transformers' conventions are set as assumptions,
as a user modelling it would: it keeps a recurrent layer's whole convolution window and Jamba's
SSM state in float32. No torch needed."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import vramrules

CASES = Path(__file__).parent / "cases"
# the published configs (tests/cases/hf) and transformers' own default configs of the hybrid
# families (tests/cases/hf-defaults: the published files were not found)
MEASURED = {f"{kind}/{name}": entry
            for kind, file in (("hf", "transformers.json"), ("hf-defaults", "transformers-defaults.json"))
            for name, entry in json.loads((CASES / "measured" / file).read_text(encoding="utf-8"))["entries"].items()}
# measured, but with a layer kind vramrules does not import yet
NOT_YET = {"hf-defaults/nemotron_h.json": "Nemotron 3's MoE blocks (issue 14)"}
TRANSFORMERS = ("assume.conv_state_trim=0", "assume.recurrent_state_bits=4 B")
# where a count of ours is the checkpoint's and transformers' differs, with why
PARAMS_DIFFER = {
    # DeepseekV3TopkRouter registers e_score_correction_bias as a buffer, not a parameter; the
    # checkpoint stores it: 58 MoE layers x 256 experts
    "hf/deepseek-v3.json": 58 * 256,
}


def _evaluate(name, tmp_path):
    if name in NOT_YET:
        pytest.skip(NOT_YET[name])
    entry = MEASURED[name]
    folder = tmp_path / Path(name).stem
    folder.mkdir()
    shutil.copy(CASES.parent.parent / entry["config"], folder / "config.json")
    return entry, vramrules.evaluate(mode="inference", model_config=str(folder), sets=TRANSFORMERS, batch=1, seq_len=16)


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_parameters_equal_what_transformers_builds(name, tmp_path):
    entry, r = _evaluate(name, tmp_path)
    assert r.values["params_total"] - entry["params"]["total"] == PARAMS_DIFFER.get(name, 0), entry["source"]


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_kv_bytes_per_token_equal_transformers_cache(name, tmp_path):
    entry, r = _evaluate(name, tmp_path)
    assert r.values["kv_bytes_per_token"] == entry["cache"]["kv_bytes_per_token"], entry["source"]


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_recurrent_state_equals_transformers_cache(name, tmp_path):
    entry, r = _evaluate(name, tmp_path)
    assert r.values["recurrent_state"] == entry["cache"]["state_bytes_per_sequence"], entry["source"]


def test_every_measured_config_is_compared():
    """The comparison covers the harness's every entry (those it cannot import yet say why)."""
    assert len(MEASURED) >= 16
    assert set(NOT_YET) <= set(MEASURED)
    kinds = {k for e in MEASURED.values() for k in e["cache"]["kinds"]}
    assert {"full_attention", "sliding_attention", "linear_attention", "hybrid"} <= kinds
