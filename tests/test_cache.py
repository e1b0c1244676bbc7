"""The catalog cache (JSON, keyed by a hash of every input): a hit gives the same answers, a
changed data file is never served stale, --no-cache bypasses it, a broken entry is rebuilt."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import vramrules
from vramrules import api
from vramrules.evaluation import catalog_cache, load
from vramrules.reading import cache


def fresh(*args, env=None):
    """A new process: no in-memory catalog, only the disk cache."""
    e = {**os.environ, **(env or {})}
    r = subprocess.run([sys.executable, "-m", "vramrules.cli", *args], capture_output=True, text=True, env=e)
    return r


def test_cached_catalog_gives_identical_results(tmp_path):
    env = {"VRAMRULES_CACHE_DIR": str(tmp_path)}
    first = fresh("eval", "--model", "llama3-70b", "--mode", "train-lora", "--format", "json", "--explain", env=env)
    assert first.returncode == 0, first.stderr
    assert any(p.name.startswith("catalog-") for p in tmp_path.iterdir())
    second = fresh("eval", "--model", "llama3-70b", "--mode", "train-lora", "--format", "json", "--explain", env=env)
    assert json.loads(second.stdout) == json.loads(first.stdout)


def test_warm_run_imports_no_pint_jsonschema_or_yaml(tmp_path):
    """A warm run reads JSON only: no Pint, no jsonschema, not even PyYAML or our YAML loader."""
    env = {"VRAMRULES_CACHE_DIR": str(tmp_path)}
    fresh("eval", "--model", "llama3.1-8b", env=env)
    heavy = ["pint", "jsonschema", "yaml", "vramrules.reading.loader", "vramrules.reading.schema", "dataclasses"]
    code = ("import sys; from vramrules.cli import main; sys.argv=['vramrules','eval','--model','llama3.1-8b'];\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', [m for m in {heavy!r} if m in sys.modules], file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env})
    assert "LOADED []" in r.stderr, r.stderr


def test_changed_data_file_invalidates_the_cache(tmp_path):
    org = tmp_path / "org"
    org.mkdir()
    a = org / "assumptions.yaml"
    a.write_text("assumptions:\n  cuda_context:\n    value: 500 MiB\n    source: test\n", encoding="utf-8")
    env = {"VRAMRULES_CACHE_DIR": str(tmp_path / "cache")}
    before = json.loads(fresh("eval", "--model", "llama3.1-8b", "--data", str(org), "--format", "json", env=env).stdout)
    a.write_text("assumptions:\n  cuda_context:\n    value: 1 GiB\n    source: test\n", encoding="utf-8")
    after = json.loads(fresh("eval", "--model", "llama3.1-8b", "--data", str(org), "--format", "json", env=env).stdout)
    assert after["total"]["bytes"] - before["total"]["bytes"] == pytest.approx(2**30 - 500 * 2**20)
    # in one process too: the memo keys on each file's size and modification time
    r1 = vramrules.evaluate("llama3.1-8b", data=(str(org),))
    time.sleep(0.01)
    a.write_text("assumptions:\n  cuda_context:\n    value: 300 MiB\n    source: test\n", encoding="utf-8")
    r2 = vramrules.evaluate("llama3.1-8b", data=(str(org),))
    assert r1.total.bytes - r2.total.bytes == pytest.approx(2**30 - 300 * 2**20)


def _org(tmp_path, value="500 MiB"):
    org = tmp_path / "org"
    org.mkdir(exist_ok=True)
    a = org / "assumptions.yaml"
    a.write_text(f"assumptions:\n  cuda_context:\n    value: {value}\n    source: test\n", encoding="utf-8")
    return a, api.data_dirs((str(org),))


def test_stat_memo_spares_hashing_but_never_hides_an_edit(tmp_path, monkeypatch):
    monkeypatch.setenv("VRAMRULES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(catalog_cache, "SETTLE_NS", -10**15)  # treat every file as long settled
    a, dirs = _org(tmp_path)
    k = catalog_cache.key(dirs, (), ())
    assert k == catalog_cache.content_key(dirs, (), ())
    memo = cache.read_json(catalog_cache.MEMO)
    assert list(memo.values()) == [k]
    # a warm run trusts the memo: plant a value and it comes back without hashing
    cache.write_json(catalog_cache.MEMO, {sig: "catalog-planted" for sig in memo}, prune=False)
    assert catalog_cache.key(dirs, (), ()) == "catalog-planted"
    # same size, modification time put back: the change time and inode still tell
    st = a.stat()
    a.write_text(a.read_text(encoding="utf-8").replace("500 MiB", "600 MiB"), encoding="utf-8")
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert a.stat().st_size == st.st_size and a.stat().st_mtime_ns == st.st_mtime_ns
    k2 = catalog_cache.key(dirs, (), ())
    assert k2 != "catalog-planted" and k2 != k and k2 == catalog_cache.content_key(dirs, (), ())
    # --set overrides are part of the signature
    assert catalog_cache.key(dirs, ("assume.cuda_context=1 GiB",), ()) != k2


def test_stat_memo_skips_files_edited_within_the_clock_tick(tmp_path, monkeypatch):
    monkeypatch.setenv("VRAMRULES_CACHE_DIR", str(tmp_path / "cache"))
    a, dirs = _org(tmp_path)  # written just now: a same-tick rewrite could keep its size and mtime
    catalog_cache.key(dirs, (), ())
    assert cache.read_json(catalog_cache.MEMO) is None
    monkeypatch.setattr(catalog_cache, "MEMO_KEEP", 2)
    monkeypatch.setattr(catalog_cache, "SETTLE_NS", -10**15)
    for sets in [(), ("assume.cuda_context=1 GiB",), ("assume.cuda_context=2 GiB",)]:
        catalog_cache.key(dirs, sets, ())
    assert len(cache.read_json(catalog_cache.MEMO)) == 2  # bounded


def test_locations_are_right_from_any_folder_sharing_one_cache(tmp_path):
    """The cache is built once; each run shows file paths that resolve: the built-in data's
    relative to the data folder (built-in:models.yaml:12:5, the same from every folder), an
    overlay's from the run's own folder."""
    import re

    from vramrules.reading.datadir import builtin_data

    env = {"VRAMRULES_CACHE_DIR": str(tmp_path / "cache")}
    data = builtin_data().resolve()
    org = tmp_path / "org"
    org.mkdir()
    (org / "assumptions.yaml").write_text("assumptions:\n  cuda_context:\n    value: 1 GiB\n    source: test\n", encoding="utf-8")
    for cwd in [data.parent, data.parent.parent, tmp_path, data.parent]:  # inside, above, elsewhere
        r = subprocess.run([sys.executable, "-m", "vramrules.cli", "eval", "--model", "llama3.1-8b", "--explain", "--data", str(org)],
                           capture_output=True, text=True, env={**os.environ, **env, "COLUMNS": "300"}, cwd=cwd)
        paths = set(re.findall(r"(\S+\.yaml):\d+:\d+", r.stdout))
        builtin = {p for p in paths if p.startswith("built-in:")}
        assert builtin and all((data / p[len("built-in:"):]).is_file() for p in builtin), (cwd, sorted(builtin)[:3])
        assert paths - builtin and all((cwd / p).is_file() for p in paths - builtin), (cwd, sorted(paths - builtin)[:3])


def test_no_cache_flag_and_env(tmp_path):
    env = {"VRAMRULES_CACHE_DIR": str(tmp_path)}
    r = fresh("--no-cache", "eval", "--model", "llama3.1-8b", env=env)
    assert r.returncode == 0 and not list(tmp_path.iterdir())
    r = fresh("eval", "--model", "llama3.1-8b", env={**env, "VRAMRULES_NO_CACHE": "1"})
    assert r.returncode == 0 and not list(tmp_path.iterdir())


def _catalog_file(d):
    (p,) = d.glob("catalog-*.jsonl")
    return p


@pytest.mark.parametrize("damage", [
    lambda b: b'{"format": 1, "entries": 17}\n',          # another format
    lambda b: b[:len(b) // 2],                             # cut short
    lambda b: b"\xff" + b[1:],                             # header unreadable
    lambda b: b + b'{"extra": true}\n',                   # grown by hand
])
def test_damaged_cache_file_is_rebuilt(tmp_path, damage):
    env = {"VRAMRULES_CACHE_DIR": str(tmp_path)}
    good = fresh("eval", "--model", "llama3.1-8b", "--format", "json", env=env)
    p = _catalog_file(tmp_path)
    p.write_bytes(damage(p.read_bytes()))
    r = fresh("eval", "--model", "llama3.1-8b", "--format", "json", env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert json.loads(r.stdout) == json.loads(good.stdout)


def test_a_run_reads_only_the_lines_it_uses(tmp_path):
    """A warm run reads the header and the lines of what it evaluates, not the file: the line of
    a model it does not evaluate is never read (here made unreadable, and the run is unaffected),
    so a 10,000-model catalog costs a run its header, not its size."""
    env = {"VRAMRULES_CACHE_DIR": str(tmp_path)}
    good = fresh("eval", "--model", "llama3.1-8b", "--format", "json", env=env)
    p = _catalog_file(tmp_path)
    data = p.read_bytes()
    header = json.loads(data[:data.index(b"\n")])
    start, end = header["index"]["entries"]["model"]["llama3-70b"][:2]
    base = data.index(b"\n") + 1
    p.write_bytes(data[:base + start] + b"{" * (end - start - 1) + b"\n" + data[base + end:])
    r = fresh("eval", "--model", "llama3.1-8b", "--format", "json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout) == json.loads(good.stdout)
    assert p.exists()  # served from the cache: its damaged line was never read
    r = fresh("eval", "--model", "llama3-70b", "--format", "json", env=env)
    assert r.returncode == 1 and json.loads(r.stdout)[0]["code"] == "cache_error"


def test_damaged_record_is_a_located_error_and_removed(tmp_path):
    """A line edited by hand (same length, so the header still matches) is found when it is
    parsed: a clear error naming the file, the file removed, and the next run is right."""
    env = {"VRAMRULES_CACHE_DIR": str(tmp_path)}
    good = fresh("eval", "--model", "llama3.1-8b", "--format", "json", env=env)
    p = _catalog_file(tmp_path)
    data = p.read_bytes()
    header = json.loads(data[:data.index(b"\n")])
    start, end = header["index"]["entries"]["model"]["llama3.1-8b"][:2]
    base = data.index(b"\n") + 1
    p.write_bytes(data[:base + start] + b"{" * (end - start - 1) + b"\n" + data[base + end:])
    r = fresh("eval", "--model", "llama3.1-8b", "--format", "json", env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr  # 1: a data error
    err = json.loads(r.stdout)[0]  # --format json: the error as an object
    assert err["code"] == "cache_error" and err["file"] == str(p)
    assert "catalog cache file is damaged" in err["message"] and "run the command again" in err["hint"]
    assert not p.exists()
    again = fresh("eval", "--model", "llama3.1-8b", "--format", "json", env=env)
    assert json.loads(again.stdout) == json.loads(good.stdout)


def test_cache_is_json_not_pickle(tmp_path):
    env = {"VRAMRULES_CACHE_DIR": str(tmp_path)}
    fresh("eval", "--model", "llama3.1-8b", env=env)
    for p in tmp_path.glob("*.json"):
        json.loads(p.read_text(encoding="utf-8"))
    lines = _catalog_file(tmp_path).read_text(encoding="utf-8").splitlines()
    assert len(lines) > 100 and all(isinstance(json.loads(line), (dict, list)) for line in lines)  # JSON Lines
    assert not [p for p in tmp_path.iterdir() if p.suffix not in (".json", ".jsonl")]




def test_the_in_process_memo_is_bounded(tmp_path):
    """Each --model-config import is a catalog of its own; a process that evaluates many keeps
    at most MEMO_CATALOGS of them (40 imports grew the heap by 144 MB when it was unbounded)."""
    cfg = json.loads((Path(__file__).parent / "cases" / "hf" / "llama3.1-8b.json").read_text(encoding="utf-8"))
    totals = set()
    for i in range(api.MEMO_CATALOGS + 4):
        cfg["num_hidden_layers"] = 8 + i
        p = tmp_path / f"c{i}" / "config.json"
        p.parent.mkdir()
        p.write_text(json.dumps(cfg), encoding="utf-8")
        totals.add(api.evaluate(mode="inference", model_config=str(p)).total.bytes)
        assert len(load._CATALOGS) <= api.MEMO_CATALOGS
    assert len(totals) == api.MEMO_CATALOGS + 4  # each import evaluated as itself
    compiled = api.compiled_mode(api.load_catalog(), "default", "inference", False)
    interpreted = api.compiled_mode(api.load_catalog(), "default", "inference", False, once=True)
    assert compiled.fn is not interpreted.fn and compiled.first_line > 0 and interpreted.first_line == 0  # generated code vs interpreter


def test_a_flipped_digit_in_the_cache_is_never_served(tmp_path):
    """One changed digit that keeps the JSON valid used to be served as a wrong total with exit 0.
    Every line carries a checksum: a damaged entry line is a located error (the file removed),
    a damaged header is rebuilt; neither gives a number."""
    env = {"VRAMRULES_CACHE_DIR": str(tmp_path)}
    good = fresh("eval", "--model", "llama3.1-8b", "--format", "json", env=env)
    p = _catalog_file(tmp_path)
    data = p.read_bytes()
    nl = data.index(b"\n")
    header = json.loads(data[:nl])
    start, end = header["index"]["entries"]["model"]["llama3.1-8b"][:2]
    line = data[nl + 1 + start:nl + 1 + end]
    assert b'"hidden_size":4096,' in line
    p.write_bytes(data[:nl + 1 + start] + line.replace(b'"hidden_size":4096,', b'"hidden_size":4097,') + data[nl + 1 + end:])
    r = fresh("eval", "--model", "llama3.1-8b", "--format", "json", env=env)
    assert r.returncode == 1 and json.loads(r.stdout)[0]["code"] == "cache_error" and "checksum" in r.stdout
    fresh("eval", "--model", "llama3.1-8b", "--format", "json", env=env)  # rebuilt
    data = _catalog_file(tmp_path).read_bytes()
    nl = data.index(b"\n")
    cut = data.index(b'"cuda_context":[', 0, nl)
    digit = data.index(b"524288000", cut, nl)  # 500 MiB in bytes
    _catalog_file(tmp_path).write_bytes(data[:digit] + b"624288000" + data[digit + 9:])
    again = fresh("eval", "--model", "llama3.1-8b", "--format", "json", env=env)
    assert again.returncode == 0 and json.loads(again.stdout) == json.loads(good.stdout)


def _state(x):
    """A value as plain data, cached objects by their FIELDS, formulas by text, names and tree."""
    from vramrules.errors import Location
    from vramrules.language.ir import to_ir
    from vramrules.language.syntax import Formula

    if type(x) in catalog_cache.CODECS:
        return (type(x).__name__, tuple(_state(getattr(x, f)) for f in type(x).FIELDS))
    if isinstance(x, Formula):
        return ("Formula", x.text, tuple(x.names), json.dumps(x.ir if x.ir is not None else to_ir(x)))
    if isinstance(x, Location):
        return ("Location", x.file, x.line, x.col)
    if isinstance(x, dict):
        return {k: _state(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_state(v) for v in x]
    return x


def test_cached_classes_round_trip_from_their_field_lists():
    """Every cached class is written and read from one declaration, its FIELDS: each object of the
    built-in catalog survives the JSON round trip unchanged, and FIELDS names every attribute the
    class keeps (a field added to a class but not to FIELDS would be lost by the cache)."""
    cat = api.load_catalog(full=True)  # built from the files, not read from the cache
    objs = [e for bucket in cat.entries.values() for e in bucket.values()]
    objs += [t for fields in cat.types.values() for t in fields.values()] + list(cat.assumptions.values())
    for rs in cat.rulesets.values():
        objs += [rs, *rs.rules.values(), *rs.modes.values()]
        objs += [r for m in rs.modes.values() for r in m.rules.values()]
    seen = {type(o) for o in objs}
    assert seen == set(catalog_cache.CODECS), "every cached class is exercised"
    assert len(objs) > 300
    for o in objs:
        attrs = set(vars(o)) if hasattr(o, "__dict__") else set(type(o).__slots__)
        assert attrs == set(type(o).FIELDS), f"{type(o).__name__}: attributes {sorted(attrs ^ set(type(o).FIELDS))} not in FIELDS"
        again = catalog_cache.load(type(o), json.loads(json.dumps(catalog_cache.dump(o))))
        assert _state(again) == _state(o), f"{type(o).__name__} {getattr(o, 'name', getattr(o, 'id', ''))} changed in the round trip"
