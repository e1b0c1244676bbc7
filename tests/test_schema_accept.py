"""The fast acceptor (schema_accept.py) must never accept what jsonschema rejects; and it must
accept the built-in data, or it saves nothing. Checked on the real files, on hand-made edge
cases where the two could differ, and on random mutations of the real data (hypothesis)."""
import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vramrules.reading import schema as S
from vramrules.reading.catalog import FILES, RULES_DIR
from vramrules.reading.datadir import builtin_data
from vramrules.reading.loader import load_file
from vramrules.reading.schema_accept import accepts

DOCS = [(name, load_file(builtin_data() / f).data) for f, (name, _) in FILES.items()]
DOCS += [("rules", load_file(p).data) for p in sorted((builtin_data() / RULES_DIR).glob("*.yaml"))]


def jsonschema_errors(name, data) -> list:
    return list(S._validator_class()(S.load_schema(name)).iter_errors(data))


@pytest.mark.parametrize("name,data", DOCS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(DOCS)])
def test_builtin_files_are_accepted_and_valid(name, data):
    assert jsonschema_errors(name, data) == []
    assert accepts(S.load_schema(name), data)


def _gpu(**over):
    gpus = copy.deepcopy(dict(DOCS)["gpus"])
    g = gpus["gpus"]["h100-sxm-80gb"]
    g.update(over)
    return gpus


@pytest.mark.parametrize("over", [
    {"memory": "80 GB/s"},          # wrong dimension (x-dimension)
    {"memory": "80 parsecs"},       # unknown unit
    {"memory": 80},                 # a bare number where a quantity is asked
    {"memory": True},               # a boolean is no number
    {"vendor": "nvidia "},          # enum: exact string
    {"source": "ab"},               # minLength
    {"colour": "green"},            # unknown field (additionalProperties: false)
    {"name": None},                 # type
])
def test_edge_cases_both_reject(over):
    data = _gpu(**over)
    assert jsonschema_errors("gpus", data), over
    assert not accepts(S.load_schema("gpus"), data)


def test_integer_written_as_float_is_left_to_jsonschema():
    models = copy.deepcopy(dict(DOCS)["models"])
    models["models"]["llama3-70b"]["num_layers"] = 80.0
    assert not accepts(S.load_schema("models"), models)  # jsonschema decides (it takes 80.0 as an integer)
    assert jsonschema_errors("models", models) == []


def test_unknown_keyword_is_left_to_jsonschema():
    assert not accepts({"type": "string", "maxLength": 3}, "abcd")
    assert not accepts({"type": "string", "maxLength": 9}, "abcd")  # even when it would pass


POOL = [None, True, False, 0, -1, 1, 2.5, 3.0, 10**30, "", "x", "ab", "abc", "80 GiB", "80 GB/s", "3 parsecs",
        "1e9 param", "nvidia", "2026-01-01", [], [1], [1, 1.0], ["a", "a"], {}, {"x": 1}]


def _paths(v, here=()):
    yield here
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _paths(x, here + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _paths(x, here + (i,))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(DOCS) - 1), st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(["set", "delete", "add"]),
                                                         st.integers(0, len(POOL) - 1)), min_size=1, max_size=3))
def test_mutations_accepted_only_when_jsonschema_finds_nothing(doc_index, edits):
    name, original = DOCS[doc_index]
    data = copy.deepcopy(original)
    for pick, op, value in edits:
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = paths[pick % len(paths)]
        parent = data
        for k in path[:-1]:
            parent = parent[k]
        new = copy.deepcopy(POOL[value])
        if op == "set":
            parent[path[-1]] = new
        elif op == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == "add" and isinstance(parent, dict):
            parent[f"extra{value}"] = new
    if accepts(S.load_schema(name), data):
        assert jsonschema_errors(name, data) == [], json.dumps(edits)
