"""Serving-engine start-up logs (tests/cases/engine-logs, each cited in SOURCES.yaml): every
one is recognized and its figures equal the hand-checked values there; truncated and foreign
logs are refused with FILE:LINE; `vramrules ingest --into` appends entries check-measurements
accepts, once."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from vramrules.cli import main
from vramrules.errors import DataError
from vramrules.importers import engine_log as E

HERE = Path(__file__).parent / "cases" / "engine-logs"
SOURCES = yaml.safe_load((HERE / "SOURCES.yaml").read_text(encoding="utf-8"))["logs"]
LOGS = sorted(p.name for p in HERE.glob("*.log"))


def test_corpus_size_and_every_log_cited():
    assert len(LOGS) >= 40
    assert set(LOGS) == set(SOURCES)
    engines = {SOURCES[n]["engine"].split()[0] for n in LOGS}
    assert {"vllm", "sglang", "llama.cpp", "trtllm", "nvidia-smi"} <= engines
    for n in LOGS:
        assert SOURCES[n]["source"].startswith("https://github.com/"), n


@pytest.mark.parametrize("name", LOGS)
def test_log_recognized_with_expected_figures(name):
    src = SOURCES[name]
    rec = E.parse_file(HERE / name)
    assert rec.engine == src["engine"].split()[0]
    for fig, (value, unit, line) in src["expect"].items():
        got = [f for f in rec.all(fig) if f.line == line]
        assert got, f"{name}: no {fig} on line {line}; read {[(f.name, f.line) for f in rec.figures]}"
        assert got[0].value == pytest.approx(value) and got[0].unit == unit, (name, fig, got[0])
        assert str(value).rstrip("0").rstrip(".") in got[0].text.replace(",", "") or value == 0 or unit == "B", (name, fig)
    for key, value in (src.get("settings") or {}).items():
        assert rec.setting(key) == value, (name, key, rec.setting(key))


def test_units_resolved_per_engine():
    v0 = E.parse_file(HERE / "001-vllm-llama3.1-8b.log").figure("weights")
    assert (v0.unit, v0.means, v0.quantity) == ("GB", "GiB", "14.9888 GiB")
    sg = E.parse_file(HERE / "006-sglang-qwen3-235b-a22b-fp8.log").figure("kv_k")
    assert (sg.unit, sg.means) == ("GB", "GiB")
    lc = E.parse_file(HERE / "040-llamacpp-llama2-7b-q4km.log")
    assert lc.gpu_total("model_buffer") == pytest.approx(3820.94)
    assert lc.figure("model_buffer", "CPU").value == pytest.approx(70.31)


def test_foreign_text_is_refused_naming_the_file(tmp_path):
    p = tmp_path / "notes.log"
    p.write_text("hello\nthe model ran fine\n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        E.parse_file(p)
    assert "notes.log:1:" in str(exc.value) and "not a start-up log" in str(exc.value)


def test_truncated_figure_line_is_refused_with_its_line(tmp_path):
    text = (HERE / "007-vllm-qwen3-14b.log").read_text(encoding="utf-8").splitlines()
    text[1] = text[1][: text[1].index("42,") + 3]  # "GPU KV cache size: 42," and the file ends
    p = tmp_path / "cut.log"
    p.write_text("\n".join(text[:2]), encoding="utf-8")
    with pytest.raises(DataError) as exc:
        E.parse_file(p)
    assert "cut.log:2:" in str(exc.value) and "kv_tokens" in str(exc.value)


def test_log_cut_before_any_figure_is_refused(tmp_path):
    p = tmp_path / "early.log"
    p.write_text("\n".join((HERE / "021-sglang-qwen3-moe-dp4.log").read_text().splitlines()[4:5]) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        E.parse_file(p)
    assert "early.log:1:" in str(exc.value) and "no measured figure" in str(exc.value)


def test_two_runs_mixed_are_refused(tmp_path):
    a = (HERE / "001-vllm-llama3.1-8b.log").read_text().splitlines()[0]
    p = tmp_path / "mixed.log"
    p.write_text(a + "\n" + a.replace("14.9888", "13.9476") + "\n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        E.parse_file(p)
    assert "mixed.log:2:" in str(exc.value)


def _ingest(args):
    return CliRunner().invoke(main, ["ingest", *args])


def test_ingest_appends_entries_check_measurements_accepts(tmp_path):
    data = tmp_path / "org"
    data.mkdir()
    into = data / "measurements.yaml"
    cases = [n for n in LOGS if SOURCES[n].get("ingest")]
    assert len(cases) >= 5
    for n in cases:
        opts = SOURCES[n]["ingest"]
        args = [str(HERE / n), "--into", str(into), "--source", SOURCES[n]["source"]]
        for k in ("model", "gpu", "precision", "tp"):
            if k in opts:
                args += [f"--{k}", str(opts[k])]
        r = _ingest(args)
        assert r.exit_code == 0, (n, r.output)
    doc = yaml.safe_load(into.read_text())["measurements"]
    assert len(doc) >= 8
    w = next(e for k, e in doc.items() if "llama3.1-8b-weights" in k)
    assert w["measured"] == "14.9888 GiB" and w["measures"] == "engine_weights" and "issues/10517" in w["source"]
    kv = next(e for k, e in doc.items() if "llamacpp-llama2-7b-kv" in k)
    assert kv["measured"] == "1024 MiB" and kv["scenario"]["seq_len"] == 2048 and kv["scenario"]["kv_precision"] == "fp16"
    tp8 = next(e for k, e in doc.items() if "llama3.1-405b" in k)
    assert tp8["scenario"]["tp"] == 8 and tp8["measured"] == "57.752 GiB"
    r = CliRunner().invoke(main, ["check-measurements", "--data", str(data), "--format", "json"])
    assert r.exit_code in (0, 4), r.output
    import json

    ids = {m["id"] for m in json.loads(r.output)["measurements"]}
    assert set(doc) <= ids
    before = into.read_text()
    again = _ingest([str(HERE / "001-vllm-llama3.1-8b.log"), "--into", str(into), "--model", "llama3.1-8b", "--gpu", "rtx-3090",
                     "--source", SOURCES["001-vllm-llama3.1-8b.log"]["source"]])
    assert again.exit_code == 0 and "already in" in again.output
    assert into.read_text() == before


def test_ingest_needs_the_gpu_when_the_log_does_not_name_it(tmp_path):
    r = _ingest([str(HERE / "007-vllm-qwen3-14b.log"), "--into", str(tmp_path / "m.yaml"), "--model", "qwen3-14b"])
    assert r.exit_code == 2 and "does not name the GPU" in r.output and "--gpu" in r.output
    assert not (tmp_path / "m.yaml").exists()


def test_ingest_refuses_an_unknown_model_and_reports_unheld_fields(tmp_path):
    r = _ingest([str(HERE / "013-vllm-unnamed-fp8kv.log"), "--into", str(tmp_path / "m.yaml"), "--gpu", "h100-sxm-80gb"])
    assert r.exit_code == 2 and "does not name the model" in r.output
    r = _ingest([str(HERE / "007-vllm-qwen3-14b.log"), "--into", str(tmp_path / "m.yaml"), "--gpu", "a100-80gb", "--model", "qwen3-14b"])
    assert r.exit_code == 0 and "not recorded: context = 32768 (line 3)" in r.output


def test_ingest_a_foreign_file_is_a_located_error_not_a_traceback(tmp_path):
    p = tmp_path / "x.log"
    p.write_text("nothing here\n")
    r = _ingest([str(p), "--into", str(tmp_path / "m.yaml"), "--gpu", "a100-80gb", "--model", "qwen3-14b"])
    assert r.exit_code == 1 and "x.log:1:" in r.output and "Traceback" not in r.output


# the start-up lines of vLLM 0.15.1 serving Llama-3.1-8B-Instruct on an A100 40GB, as
# https://github.com/ilseokoh/vllm-gce/blob/main/README.md shows them (a log a user pastes)
PASTED_V1 = """\
INFO 01-10 10:00:00 [core.py:93] Initializing a V1 LLM engine (v0.15.1) with config: model='meta-llama/Llama-3.1-8B-Instruct', tensor_parallel_size=1, kv_cache_dtype=auto
INFO 01-10 10:00:30 [gpu_model_runner.py:2000] Model loading took 14.99 GiB and 25.1 seconds
INFO 01-10 10:00:40 [gpu_worker.py:300] Available KV cache memory: 19.28 GiB
INFO 01-10 10:00:40 [kv_cache_utils.py:1000] GPU KV cache size: 157,936 tokens
INFO 01-10 10:00:40 [kv_cache_utils.py:1004] Maximum concurrency for 4,096 tokens per request: 38.56x
"""


def test_ingest_records_the_pool_a_pasted_log_sized(tmp_path):
    """A pasted vLLM 0.15.1 log names its release: ingest appends the pool as engine_kv_pool in
    the launch's scenario (serve, the GPU, vllm@0.15.1, 4,096 tokens), and check-measurements
    gives it the rules' 19.28 GiB (the V1 profile_overhead is calibrated on this log)."""
    log = tmp_path / "vllm.log"
    log.write_text(PASTED_V1)
    into = tmp_path / "org" / "measurements.yaml"
    into.parent.mkdir()
    r = _ingest([str(log), "--into", str(into), "--model", "llama3.1-8b", "--gpu", "a100-40gb",
                 "--source", "https://github.com/ilseokoh/vllm-gce/blob/main/README.md"])
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load(into.read_text())["measurements"]
    pool = next(e for k, e in doc.items() if "-pool-" in k)
    assert pool["measures"] == "engine_kv_pool" and pool["measured"] == "19.28 GiB"
    assert pool["scenario"] == {"model": "llama3.1-8b", "mode": "serve", "gpu": "a100-40gb", "engine": "vllm@0.15.1", "seq_len": 4096}
    assert "line 3" in pool["source"] and "Available KV cache memory: 19.28 GiB" in pool["quote"]
    r = CliRunner().invoke(main, ["check-measurements", "--data", str(into.parent), "--format", "json"])
    import json

    m = {x["id"]: x for x in json.loads(r.output)["measurements"]}
    pid = next(k for k in doc if "-pool-" in k)
    assert abs(m[pid]["error"]) < 0.005, m[pid]
    before = into.read_text()
    again = _ingest([str(log), "--into", str(into), "--model", "llama3.1-8b", "--gpu", "a100-40gb",
                     "--source", "https://github.com/ilseokoh/vllm-gce/blob/main/README.md"])
    assert again.exit_code == 0 and "already in" in again.output and into.read_text() == before


def test_ingest_pool_needs_a_release_the_profile_covers(tmp_path):
    """The V0 log of vllm#10517 prints no release: its pool is not recorded unless --engine says
    which (then 3.81 GiB at --max-model-len 20000 and gpu_memory_utilization 0.90, as printed); a
    release outside the profile leaves the pool out, with the profile's range, and keeps the rest;
    an --engine of another engine than the log's is a usage error."""
    log = str(HERE / "001-vllm-llama3.1-8b.log")
    base = ["--model", "llama3.1-8b", "--gpu", "rtx-3090", "--dry-run", "--into", str(tmp_path / "m.yaml")]
    r = _ingest([log, *base])
    assert r.exit_code == 0 and "engine_kv_pool" not in r.output.split("not recorded")[0]
    assert "not recorded: engine_kv_pool: the log does not state the vLLM release" in r.output and "--engine vllm@VERSION" in r.output
    r = _ingest([log, *base, "--engine", "vllm@0.6.3"])
    assert r.exit_code == 0, r.output
    planned = yaml.safe_load(r.stdout)
    pool = next(e for k, e in planned.items() if "-pool-" in k)
    assert pool["measured"] == "3.81 GiB" and pool["scenario"]["seq_len"] == 20000 and pool["scenario"]["memory_fraction"] == 0.9
    assert "context = 20000" not in r.output  # recorded in the pool's scenario now
    r = _ingest([log, *base, "--engine", "vllm@0.5.0"])
    assert r.exit_code == 0 and "not recorded: engine_kv_pool: unknown vLLM version '0.5.0'" in r.output and "engine_weights" in r.output
    r = _ingest([log, *base, "--engine", "sglang@0.4.3"])
    assert r.exit_code == 2 and "the log is vllm's, --engine says sglang@0.4.3" in r.output
    assert not (tmp_path / "m.yaml").exists()
