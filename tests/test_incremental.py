"""A run after an edit reads and checks only what changed (issues 13 and 21): a data file is cut
into its entries (reading/chunks.py), each entry whose text is unchanged since the catalog built
last is taken from that catalog unparsed, and everything else is built as before. The answers,
the file:line of every fact and every error must be exactly those of a build from nothing."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vramrules import api
from vramrules.errors import DataError
from vramrules.evaluation import load
from vramrules.reading import chunks, loader
from vramrules.reading.catalog import FILES
from vramrules.reading.datadir import builtin_data_dir

DATA = Path(builtin_data_dir())


def fresh(*args, env):
    return subprocess.run([sys.executable, "-m", "vramrules.cli", *args], capture_output=True, text=True, env={**os.environ, **env})


def overlay(n: int) -> str:
    """n renamed copies of built-in models (the way bench/org_scale.py makes a 10,000-model one)."""
    models = yaml.safe_load((DATA / "models.yaml").read_text(encoding="utf-8"))["models"]
    ids = list(models)
    out = ["# an organization's models", "models:"]
    for i in range(n):
        e = dict(models[ids[i % len(ids)]])
        e.pop("hub", None)
        e["name"] = f"{e.get('name')} copy {i}"
        body = json.dumps({f"org-{i}": e})  # JSON is YAML: one flow line per entry would not be cut; re-dump as block
        out += ["  " + line for line in yaml.safe_dump(json.loads(body), sort_keys=False, width=10**6).splitlines()]
        out.append("  # end of entry")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- the cut reads as the whole

@pytest.mark.parametrize("name", sorted(FILES))
def test_every_builtin_file_reads_in_parts_as_it_reads_whole(name):
    text = (DATA / name).read_text(encoding="utf-8")
    parts = chunks.split(text, set(FILES[name][1]))
    whole = loader.load_text(text, name)
    assert parts is not None, "the built-in files are in the plain layout"
    doc = loader._from_parts(parts, name, "built-in", "", None, authoritative=False)
    assert doc is not None and doc.data == whole.data
    assert doc.positions == whole.positions  # every value's line and column


def test_a_generated_overlay_reads_in_parts_as_whole():
    text = overlay(30)
    whole = loader.load_text(text, "m.yaml")
    doc = loader._from_parts(chunks.split(text, {"models"}), "m.yaml", "x", "", None, authoritative=False)
    assert doc.data == whole.data and doc.positions == whole.positions
    assert [k for _s, k in doc.parts] == [f"org-{i}" for i in range(30)]
    assert doc.parts[("models", "org-1")][1] == text.split("\n").index("  org-1:")  # the 0-based line of its key


@pytest.mark.parametrize("text", [
    "models:\n  a:\n    name: x\n---\n",                          # a second document
    "%YAML 1.2\n---\nmodels:\n  a:\n    name: x\n",              # a directive
    "models:\n\ta:\n",                                          # a tab
    "models:\r\n  a:\r\n    name: x\r\n",                         # CRLF: parsed whole
    "models:\n  - a\n  - b\n",                                  # a list
    "models:\n  'a': {}\n  b: {}\n",                            # a quoted key
    "models: {a: {}, b: {}}\n",                                 # a flow section
    "models:\n    a: {}\n  b: {}\n",                            # a line indented less than the entries
    "models:\n",                                                # an empty section is null
])
def test_layouts_that_are_not_cut(text):
    parts = chunks.split(text, {"models"})
    assert parts is None or all(p.key is None for p in parts)  # parsed whole (a flow section is one part)


@pytest.mark.parametrize("text", [
    'models:\n  a:\n    source: "one\n  b: two"\n',               # a quoted value running over an entry boundary
    "models:\n  a:\n    layers: [1,\n  b: 2]\n",                  # a flow value running over it
    "models:\n  a:\n    name: x\n  a:\n    name: y\n",             # a duplicate id: the whole parse says so
    "models:\n  a:\n    name: *x\n",                               # an alias
])
def test_a_cut_that_would_change_the_meaning_falls_back_to_the_whole(text, tmp_path):
    parts = chunks.split(text, {"models"})
    assert parts is not None
    assert loader._from_parts(parts, "m.yaml", "x", "", None, authoritative=False) is None
    p = tmp_path / "m.yaml"
    p.write_text(text, encoding="utf-8")

    def outcome(read):
        try:
            doc = read()
        except DataError as exc:
            return [(str(q.location), q.message) for q in exc.problems]
        return doc.data, doc.positions

    # what load_file then does: the whole parse, its data or its located error
    assert outcome(lambda: loader.load_file(p, str(p), sections=("models",), reuse=lambda *a: False)) == outcome(lambda: loader.load_text(text, str(p)))


def test_a_file_too_large_to_parse_whole_is_read_in_parts(tmp_path, monkeypatch):
    """No size ceiling for a catalog in the plain layout (the 16 MiB limit is per entry); one that
    cannot be cut is refused with what to do, and an entry's error is reported at its own line."""
    text = overlay(4)
    monkeypatch.setattr(loader, "MAX_FILE_BYTES", 1500)
    p = tmp_path / "models.yaml"
    p.write_text(text, encoding="utf-8")
    doc = loader.load_file(p, sections=("models",))
    assert list(doc.data["models"]) == ["org-0", "org-1", "org-2", "org-3"]
    p.write_text("models: {" + ", ".join(f"m{i}: {{name: {'x' * 40}}}" for i in range(40)) + "}\n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        loader.load_file(p, sections=("models",))
    assert "entry by entry" in exc.value.problems[0].hint
    broken = text.replace("    num_layers: 40\n", "    num_layers: [40\n", 1)
    assert broken != text
    p.write_text(broken, encoding="utf-8")
    with pytest.raises(DataError) as exc:
        loader.load_file(p, sections=("models",))
    whole_line = next(i for i, line in enumerate(broken.split("\n")) if line == "    num_layers: [40")
    assert exc.value.problems[0].location.line > whole_line  # past the broken value, as a whole parse reports it


# ---------------------------------------------------------------- a run after an edit

@pytest.fixture()
def org(tmp_path):
    d = tmp_path / "org"
    d.mkdir()
    (d / "models.yaml").write_text(overlay(40), encoding="utf-8")
    return d, {"VRAMRULES_CACHE_DIR": str(tmp_path / "cache")}


def _edit(d: Path, old: str, new: str) -> None:
    p = d / "models.yaml"
    text = p.read_text(encoding="utf-8")
    assert old in text
    p.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_after_an_edit_answers_and_locations_equal_a_build_from_nothing(org):
    d, env = org
    args = ["eval", "--data", str(d), "--format", "json", "--explain"]
    assert fresh(*args, "--model", "org-30", env=env).returncode == 0  # the catalog built once
    # two lines more in org-1: every entry after it moves down two lines
    _edit(d, "  org-1:\n", "  org-1:\n    # reviewed\n    # twice\n")
    _edit(d, "copy 5\n", "copy 5 (edited)\n")
    for model in ("org-30", "org-5", "llama3.1-8b"):
        now = fresh(*args, "--model", model, env=env)
        scratch = fresh(*args, "--model", model, env={**env, "VRAMRULES_NO_CACHE": "1"})
        assert now.returncode == 0 and scratch.returncode == 0, now.stderr + scratch.stderr
        assert json.loads(now.stdout) == json.loads(scratch.stdout)  # values, and the file:line of every fact
    # and the catalog written after the edit serves the same again
    again = fresh(*args, "--model", "org-30", env=env)
    assert json.loads(again.stdout) == json.loads(fresh(*args, "--model", "org-30", env={**env, "VRAMRULES_NO_CACHE": "1"}).stdout)
    assert "(edited)" in fresh("show", "model", "org-5", "--data", str(d), env=env).stdout


def test_only_the_edited_entry_is_parsed(org, monkeypatch):
    d, env = org
    monkeypatch.setenv("VRAMRULES_CACHE_DIR", env["VRAMRULES_CACHE_DIR"])
    api.load_catalog((str(d),))
    _edit(d, "copy 7\n", "copy 7 (edited)\n")
    parsed = []
    real = loader.load_text

    def counting(text, path, layer="built-in"):
        if path.endswith(os.path.join("org", "models.yaml")):
            parsed.append(text.split("\n", 1)[0])
        return real(text, path, layer)

    monkeypatch.setattr(loader, "load_text", counting)
    cat = api.load_catalog((str(d),))
    assert parsed == ["  org-7:"]
    assert cat.kind("model")["org-7"].name.endswith("(edited)")
    assert len(cat.kind("model")) == 40 + len(yaml.safe_load((DATA / "models.yaml").read_text(encoding="utf-8"))["models"])
    assert list(cat.kind("model"))[-40:] == [f"org-{i}" for i in range(40)]  # the layers' order


def test_an_error_in_the_edited_entry_is_located_as_from_nothing(org):
    d, env = org
    assert fresh("eval", "--data", str(d), "--model", "org-3", env=env).returncode == 0
    _edit(d, "  org-9:\n    name:", "  org-9:\n    hidden_size: -5\n    name:")
    now = fresh("validate", "--data", str(d), "--format", "json", env=env)
    scratch = fresh("validate", "--data", str(d), "--format", "json", env={**env, "VRAMRULES_NO_CACHE": "1"})
    assert now.returncode == 1 and json.loads(now.stdout) == json.loads(scratch.stdout)
    r = fresh("eval", "--data", str(d), "--model", "org-3", "--format", "json", env=env)
    assert r.returncode == 1 and json.loads(r.stdout) == json.loads(scratch.stdout)[:len(json.loads(r.stdout))]


def test_an_entry_a_second_layer_redefines_is_merged_not_reused(org, tmp_path):
    d, env = org
    assert fresh("eval", "--data", str(d), "--model", "org-2", env=env).returncode == 0
    second = tmp_path / "second"
    second.mkdir()
    (second / "models.yaml").write_text("models:\n  org-2:\n    max_context: 1024\n", encoding="utf-8")
    args = ["show", "model", "org-2", "--data", str(d), "--data", str(second), "--format", "json"]
    now = fresh("eval", "--data", str(d), "--data", str(second), "--model", "org-2", "--format", "json", "--explain", env=env)
    scratch = fresh("eval", "--data", str(d), "--data", str(second), "--model", "org-2", "--format", "json", "--explain",
                    env={**env, "VRAMRULES_NO_CACHE": "1"})
    assert json.loads(now.stdout) == json.loads(scratch.stdout)
    rows = json.loads(fresh(*args, env=env).stdout)
    assert next(r for r in rows if r["field"] == "max_context")["value"] in (1024, "1024", "1,024")


def test_a_damaged_previous_catalog_is_not_reused(org):
    d, env = org
    assert fresh("eval", "--data", str(d), "--model", "org-2", env=env).returncode == 0
    cache_dir = Path(env["VRAMRULES_CACHE_DIR"])
    (p,) = [p for p in cache_dir.glob("catalog-*.jsonl")]
    data = bytearray(p.read_bytes())
    at = data.index(b"copy 11")
    data[at:at + 7] = b"copy 99"  # same length: the header still matches, the line's checksum does not
    p.write_bytes(bytes(data))
    _edit(d, "copy 3\n", "copy 3 (edited)\n")
    now = fresh("show", "model", "org-11", "--data", str(d), "--format", "json", env=env)
    r = fresh("eval", "--data", str(d), "--model", "org-11", "--format", "json", env=env)
    assert r.returncode == 0, r.stderr
    assert "copy 11" in now.stdout and "copy 99" not in now.stdout
    listed = fresh("list", "models", "--data", str(d), "--format", "json", env=env)
    assert "copy 99" not in listed.stdout


# ---------------------------------------------------------------- a large kind's index, validate's memo

def test_a_large_kind_is_indexed_in_buckets_and_found_by_every_word(org, monkeypatch):
    """Over BUCKET_SIZE entries the header holds no per-entry spans: a warm run parses one bucket
    line to find an id, the names line to find a name or Hub id, and builds only what it uses."""
    from vramrules.evaluation import catalog_cache
    from vramrules.reading.names import find

    d, env = org
    monkeypatch.setenv("VRAMRULES_CACHE_DIR", env["VRAMRULES_CACHE_DIR"])
    monkeypatch.setattr(catalog_cache, "BUCKET_SIZE", 16)
    monkeypatch.setattr(load, "_CATALOGS", {})
    built = api.load_catalog((str(d),))
    (path,) = Path(env["VRAMRULES_CACHE_DIR"]).glob("catalog-*.jsonl")
    header = json.loads(path.read_bytes().split(b"\n", 1)[0])
    index = header["index"]["entries"]["model"]
    assert set(index) == {"n", "order", "names", "buckets"} and index["n"] == len(built.kind("model")) and len(index["buckets"]) > 1
    cat = catalog_cache.read(path.name[:-len(".jsonl")])
    models = cat.kind("model")
    assert list(models) == list(built.kind("model")) and len(models) == len(built.kind("model"))
    assert "org-33" in models and "org-999" not in models
    assert find("model", "meta-llama/Llama-3.1-8B-Instruct", models).id == "llama3.1-8b"  # a Hub id, through the names line
    assert find("model", "Llama-2-7b copy 0", models).id == "org-0"                         # a display name
    assert set(models._done) == {"llama3.1-8b", "org-0"}                                   # nothing else built
    for eid in ("org-33", "llama3.1-8b", "qwen3-8b"):
        assert models[eid].facts == built.kind("model")[eid].facts and models[eid].fact_where == built.kind("model")[eid].fact_where
    # an edit after a bucketed catalog: the next build reuses through the buckets
    _edit(d, "copy 12\n", "copy 12 (edited)\n")
    again = api.load_catalog((str(d),))
    assert again.kind("model")["org-12"].name.endswith("(edited)") and again.kind("model")["org-13"].facts == built.kind("model")["org-13"].facts


def test_validate_after_an_edit_evaluates_only_the_edited_model(org, monkeypatch):
    from vramrules.evaluation import evaluate
    from vramrules.questions.validate import param_checks

    d, env = org
    monkeypatch.setenv("VRAMRULES_CACHE_DIR", env["VRAMRULES_CACHE_DIR"])
    first = param_checks(api.load_catalog((str(d),)))
    _edit(d, "  org-4:\n", "  org-4:\n    # a comment: the same model\n")
    _edit(d, "copy 6\n", "copy 6 (edited)\n")
    asked = []
    real = evaluate.evaluate_in
    monkeypatch.setattr(evaluate, "evaluate_in", lambda cat, mid, *a, **k: asked.append(mid) or real(cat, mid, *a, **k))
    second = param_checks(api.load_catalog((str(d),)))
    assert sorted(asked) == ["org-4", "org-6"]  # the two entries whose text changed
    assert [(c.model, c.derived, c.published) for c in second] == [(c.model, c.derived, c.published) for c in first]
    assert next(c for c in second if c.model == "llama3.1-8b").derived == 8030261248  # transformers' count (tests/cases/parameter_counts.yaml)


# ---------------------------------------------------------------- diff follows the change

def _copy(d: Path, to: Path) -> Path:
    to.mkdir()
    (to / "models.yaml").write_bytes((d / "models.yaml").read_bytes())
    return to


def test_diff_evaluates_only_the_scenarios_a_change_reaches(org, tmp_path, monkeypatch):
    """One model edited: only its scenarios are evaluated again, and the moves and flips are those
    of evaluating every scenario on both sides (--every). An assumption change reaches them all."""
    from vramrules.questions import diff as D

    d, env = org
    monkeypatch.setenv("VRAMRULES_CACHE_DIR", env["VRAMRULES_CACHE_DIR"])
    new = _copy(d, tmp_path / "new")
    text = (new / "models.yaml").read_text(encoding="utf-8")
    start = text.index("  org-6:\n")
    end = text.index("  org-7:\n")
    entry = text[start:end]
    assert "    num_layers: " in entry and "layers:" not in entry.replace("num_layers:", "")
    (new / "models.yaml").write_text(text[:start] + entry.replace("    num_layers: ", "    num_layers: 1", 1) + text[end:], encoding="utf-8")
    models = ["org-6", "org-7", "llama3.1-8b"]
    fast = D.impact(str(d), str(new), models=models)
    full = D.impact(str(d), str(new), models=models, every=True)
    assert [(c.entry, c.field) for c in fast.changes] == [("models/org-6", "num_layers")]
    n_modes = len(api.load_catalog((str(d),)).rulesets["default"].modes)
    assert fast.scenarios == full.scenarios == 3 * n_modes * 4 and full.unaffected == 0
    assert fast.unaffected == 2 * n_modes * 4  # org-7 and llama3.1-8b: the same text on both sides
    assert [(m.label, m.old, m.new) for m in fast.moves] == [(m.label, m.old, m.new) for m in full.moves] and fast.moves
    assert all(m.label.startswith("org-6 ") for m in fast.moves)
    assert [f.label for f in fast.flips] == [f.label for f in full.flips]
    # an assumption: every scenario
    (new / "assumptions.yaml").write_text("assumptions:\n  cuda_context:\n    value: 600 MiB\n    source: our measurement\n"
                                          "    bounds: [270 MiB, 2 GiB]\n", encoding="utf-8")
    wide = D.impact(str(d), str(new), models=models)
    assert wide.unaffected == 0 and {m.label.split(" ")[0] for m in wide.moves} - {"org-6"}  # models the edit did not touch move too


def test_rule_sets_are_checked_again_only_when_what_they_read_changed(org, monkeypatch):
    """An entry edit keeps the rule sets and mode checks of the catalog built before; an edit of a
    rule file (or the vocabulary, or an assumption's dimension) checks them again."""
    from vramrules.language import rules

    d, env = org
    monkeypatch.setenv("VRAMRULES_CACHE_DIR", env["VRAMRULES_CACHE_DIR"])
    api.load_catalog((str(d),))
    calls = []
    real = rules.build_rulesets
    monkeypatch.setattr(rules, "build_rulesets", lambda cat, merged, **kw: calls.append(1) or real(cat, merged, **kw))
    _edit(d, "copy 8\n", "copy 8 (edited)\n")
    cat = api.load_catalog((str(d),))
    assert calls == [] and cat.rulesets["default"].modes["inference"].components  # kept, and whole
    before = api.evaluate("org-8", "inference", gpu="rtx-4090", data=(str(d),)).total.bytes
    (d / "assumptions.yaml").write_text("assumptions:\n  cuda_context:\n    value: 0.5 GiB\n    source: ours\n    bounds: [270 MiB, 2 GiB]\n",
                                        encoding="utf-8")
    api.load_catalog((str(d),))
    assert calls == []  # a value, not a dimension: the checks stand
    assert api.evaluate("org-8", "inference", gpu="rtx-4090", data=(str(d),)).total.bytes != before  # and the value is used
    (d / "rules").mkdir()
    (d / "rules" / "default.yaml").write_text("kind: ruleset\nsummary: ours\nrules:\n  headroom_note:\n    formula: 1\n", encoding="utf-8")
    try:
        api.load_catalog((str(d),))
    except DataError:
        pass  # whatever the overlay says, it is checked
    assert calls == [1]


def test_a_run_checks_the_modes_it_uses_and_keeps_the_checks(tmp_path, monkeypatch):
    """Modes are checked when first used, not all 15 at load (the first run after install checked
    every mode: 60-80 ms of its 600 ms budget). A check is kept for later runs, also across an
    entry edit; a broken mode no run uses is still found by validate, at its file:line, and by
    the run that uses it."""
    from vramrules.language import rules

    monkeypatch.setenv("VRAMRULES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(load, "_CATALOGS", {})
    checked = []
    real = rules.check_mode
    monkeypatch.setattr(rules, "check_mode", lambda cat, rs, mode, **kw: checked.append((rs.name, mode.name)) or real(cat, rs, mode, **kw))
    api.evaluate("llama3.1-8b", "train-lora", gpu="rtx-4090")
    assert checked == [("default", "train-lora")]  # one check gives the views with and without a GPU
    api.evaluate("llama3.1-8b", "train-lora")
    monkeypatch.setattr(load, "_CATALOGS", {})  # a new process: the catalog and the check come from the cache
    api.evaluate("llama3.1-8b", "train-lora", gpu="h100-sxm-80gb")
    assert checked == [("default", "train-lora")]

    d = tmp_path / "org"
    (d / "rules").mkdir(parents=True)
    (d / "rules" / "default.yaml").write_text(
        "kind: ruleset\nsummary: ours\nmodes:\n  broken:\n    summary: a mode with a typo\n    components: [oops]\n"
        "    rules:\n      oops:\n        formula: model.num_layer * B\n        doc: a typo\n        source: ours\n", encoding="utf-8")
    ok = api.evaluate("llama3.1-8b", "inference", data=(str(d),))  # the broken mode is not this run's
    assert ok.total.bytes == api.evaluate("llama3.1-8b", "inference").total.bytes
    for run in (lambda: api.evaluate("llama3.1-8b", "broken", data=(str(d),)),
                lambda: validate_problems(d)):
        with pytest.raises(DataError) as err:
            run()
        p = err.value.problems[0]
        assert (Path(p.location.file).name, p.location.line) == ("default.yaml", 9) and "model.num_layer" in p.message


def validate_problems(d):
    from vramrules.questions.validate import problems

    found = problems(api.load_catalog((str(d),)), 0.005)
    if found:
        raise DataError(found)


def test_the_sweep_loop_gives_diff_the_rows_one_evaluation_each_gives():
    """sweep.matrix_rows (what diff reads: no components) runs the compiled sweep loop: every
    row's total, needed per GPU, capacity, verdict and error equal the evaluation of that scenario."""
    from vramrules.questions import matrix, sweep

    cat = api.load_catalog()
    modes = list(cat.rulesets["default"].modes)
    items = [matrix.Scenario(m, mode, g) for m in ("llama3.1-8b", "qwen3-30b-a3b", "gemma3-27b", "jamba-v0.1", "deepseek-v3", "nonexistent-model")
             for mode in modes for g in ("h100-sxm-80gb", "rtx-4090", "l4", "rtx-4090+rtx-3090")]
    items.append(matrix.Scenario("llama3.1-8b", "inference", "l4", (("seq_len", 32768),)))
    slow = matrix.evaluate(cat, items)
    fast: dict = {}
    fast.update(matrix.evaluate(cat, sweep.matrix_rows(cat, items, "default", fast)))
    assert set(fast) == set(slow) == {sc.key for sc in items}
    for key, a in slow.items():
        b = fast[key]
        assert (b.error, b.total, b.per_gpu, b.capacity, b.fits) == (a.error, a.total, a.per_gpu, a.capacity, a.fits), key
    assert sum(1 for r in slow.values() if r.error) >= len(modes) * 4  # the unknown model's rows, at least: errors compared too
    assert any(r.fits for r in slow.values()) and any(r.fits is False for r in slow.values())


def test_the_same_entries_in_another_folder_are_taken_from_the_catalog_built_before(org, tmp_path, monkeypatch):
    """An entry's stored line does not name its folder, so a copy of the overlay elsewhere (a git
    revision exported for diff, a CI checkout) reuses what was built: only edited entries are
    parsed, and every location names the new folder, as a build from nothing does."""
    d, env = org
    monkeypatch.setenv("VRAMRULES_CACHE_DIR", env["VRAMRULES_CACHE_DIR"])
    api.load_catalog((str(d),))
    other = _copy(d, tmp_path / "elsewhere")
    _edit(other, "copy 5\n", "copy 5 (edited)\n")
    parsed = []
    real = loader.load_text

    def counting(text, path, layer="built-in"):
        if path.endswith(os.path.join("elsewhere", "models.yaml")):
            parsed.append(text.split("\n", 1)[0])
        return real(text, path, layer)

    monkeypatch.setattr(loader, "load_text", counting)
    cat = api.load_catalog((str(other),))
    assert parsed == ["  org-5:"]
    e = cat.kind("model")["org-9"]
    assert e.location.file == str(other / "models.yaml") and e.layer == f"--data {other}"
    assert e.fact_where["hidden_size"].file == str(other / "models.yaml")
    args = ["eval", "--data", str(other), "--model", "org-9", "--format", "json", "--explain"]
    now = fresh(*args, env=env)
    scratch = fresh(*args, env={**env, "VRAMRULES_NO_CACHE": "1"})
    assert now.returncode == 0 and json.loads(now.stdout) == json.loads(scratch.stdout)
