"""tests/cases/measured/transformers.json, what harness/transformers_alloc.py measured transformers
allocating, is well-formed without torch: every entry names its source with the library versions,
counts are positive integers, bytes are whole numbers, the config it was measured from exists and
is still the file that was measured (its sha256), and the per-kind numbers add up to the totals."""
import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MEASURED = ROOT / "tests" / "cases" / "measured" / "transformers.json"
HF = ROOT / "tests" / "cases" / "hf"
SOURCE = re.compile(r"^measured by harness/transformers_alloc\.py with transformers (\d+\.\d+\.\d+\S*), "
                    r"torch (\d+\.\d+\.\d+\S*) on CPU, (\d{4}-\d{2}-\d{2})$")


def _doc():
    return json.loads(MEASURED.read_text(encoding="utf-8"))


def _entries():
    return sorted(_doc()["entries"].items())


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _walk_bytes(node, path=""):
    """Every (path, value) whose key names bytes, anywhere in the entry."""
    if isinstance(node, dict):
        for k, v in node.items():
            here = f"{path}/{k}"
            if "bytes" in k and not isinstance(v, (dict, list)):
                yield here, v
            yield from _walk_bytes(v, here)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_bytes(v, f"{path}/{i}")


def test_document_is_stable_and_has_entries():
    text = MEASURED.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["schema"] == "vramrules-measured-transformers/1"
    assert "bytes" in doc["units"]
    assert doc["entries"], "no measured entry"
    # written sorted with indent 2, so a re-run diffs only where a number changed
    assert text == json.dumps(doc, indent=2, sort_keys=True) + "\n"
    for name, reason in doc.get("skipped", {}).items():
        assert (HF / name).is_file() and isinstance(reason, str) and reason


@pytest.mark.parametrize("name,entry", _entries(), ids=[n for n, _ in _entries()])
def test_entry_is_sourced_with_versions(name, entry):
    m = SOURCE.match(entry["source"])
    assert m, entry["source"]
    assert m.group(1) == entry["versions"]["transformers"] and m.group(2) == entry["versions"]["torch"]
    assert m.group(3) == entry["date"]
    assert entry["versions"]["transformers"] and entry["versions"]["torch"]


@pytest.mark.parametrize("name,entry", _entries(), ids=[n for n, _ in _entries()])
def test_entry_names_an_existing_config_it_was_measured_from(name, entry):
    path = ROOT / entry["config"]
    assert path == HF / name and path.is_file(), entry["config"]
    # a changed config makes the measurement stale: re-run the harness for it
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["config_sha256"], f"{name} changed since it was measured"
    assert json.loads(path.read_text(encoding="utf-8")).get("model_type") == entry["model_type"]


@pytest.mark.parametrize("name,entry", _entries(), ids=[n for n, _ in _entries()])
def test_params_are_positive_counts(name, entry):
    p = entry["params"]
    for key in ("total", "total_counting_shared_each_time", "input_embedding", "output_embedding", "vision", "language_model"):
        assert _is_count(p[key]) and p[key] >= 0, key
    assert p["total"] > 0
    assert p["total"] <= p["total_counting_shared_each_time"]
    assert p["language_model"] + p["vision"] == p["total"] == sum(p["by_component"].values())
    assert isinstance(p["tied_embeddings"], bool)
    if p["tied_embeddings"]:
        assert p["output_embedding"] == 0 and p["total_counting_shared_each_time"] > p["total"]


@pytest.mark.parametrize("name,entry", _entries(), ids=[n for n, _ in _entries()])
def test_bytes_are_whole_numbers(name, entry):
    seen = 0
    for path, v in _walk_bytes(entry):
        assert _is_count(v) and v >= 0, f"{path} = {v!r}"
        seen += 1
    assert seen


@pytest.mark.parametrize("name,entry", _entries(), ids=[n for n, _ in _entries()])
def test_kinds_add_up_to_the_totals(name, entry):
    c = entry["cache"]
    kinds = c["kinds"]
    assert sum(k["layers_in_full_model"] for k in kinds.values()) == sum(entry["params"]["full_model_layer_kinds"].values())
    assert c["kv_bytes_per_token"] == sum(k["kv_bytes_per_token_per_layer"] * k["layers_in_full_model"] for k in kinds.values())
    assert c["state_bytes_per_sequence"] == sum(k["state_bytes_per_sequence_per_layer"] * k["layers_in_full_model"]
                                                for k in kinds.values())
    assert c["reduced_model"]["num_hidden_layers"] == len(c["reduced_model"]["layer_kinds"])
    for kind, k in kinds.items():
        assert k["layers_agree"], f"{kind}: the reduced model's layers of one kind hold different amounts"
        assert k["kv_bytes_per_token_per_layer"] == sum(t["bytes_per_token"] for t in k["tensors"].values())
        assert k["state_bytes_per_sequence_per_layer"] == sum(t["bytes_per_sequence"] for t in k["tensors"].values())
        for t in k["tensors"].values():
            assert t["dtype"] in ("bfloat16", "float16", "float32", "float64", "int64", "int32", "uint8", "int8")


def test_every_added_config_has_its_source():
    """SOURCES.yaml names, for each config it lists, the repo, where it was found and the published
    parameter count with its source; every file it lists exists."""
    sources = yaml.safe_load((HF / "SOURCES.yaml").read_text(encoding="utf-8"))
    assert sources
    for name, s in sources.items():
        assert (HF / name).is_file(), name
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", s["repo"]), name
        assert s["found_at"].startswith("https://"), name
        assert float(s["published_params"]) > 0 and s["published_params_source"], name
