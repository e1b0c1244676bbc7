"""`vramrules sweep` over grids of inputs: every row equals the single evaluation of its scenario,
rules that read no axis sit outside its loop, the grid syntax and its errors, the streamed formats
and --out, and memory that stays flat as a sweep grows tenfold."""
import csv
import io
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import vramrules
from vramrules import api
from vramrules.cli import main
from vramrules.commands.inverse import grid_values
from vramrules.questions import sweep as S

CAT = api.load_catalog()


def test_grid_rows_equal_the_single_evaluation():
    axes = {"seq_len": [1000, 32768], "batch": [1, 4], "lora_rank": [8, 64]}
    rows = list(S.run(CAT, ["llama3.1-8b", "mixtral-8x7b"], ["inference", "train-lora"], [None, "int4"], ["rtx-4090", "h100-sxm-80gb"], axes=axes))
    assert len(rows) == 2 * 2 * 2 * 8 * 2
    for r in rows:
        opts = {k: int(v) for k, v in r.inputs.items()}
        one = vramrules.evaluate(r.model, r.mode, gpu=r.gpu, catalog=CAT, needed=False, precision=r.precision, **opts)
        assert not r.error
        assert (r.total, r.usable, r.fits) == (one.total.bytes, one.fit.capacity_per_gpu.bytes, one.fit.fits)
        assert r.components == {c.name: c.memory.bytes for c in one.components}
    # the grid changes what it should: a longer context costs more KV cache, a larger rank more adapter weights
    inf = [r for r in rows if r.mode == "inference" and r.model == "llama3.1-8b" and r.precision == "bf16" and r.gpu == "rtx-4090"]
    kv = {(r.inputs["seq_len"], r.inputs["batch"]): r.components["kv_cache"] for r in inf}
    assert kv[(32768.0, 4.0)] == 4 * kv[(32768.0, 1.0)] == 4 * 32.768 * kv[(1000.0, 1.0)]
    assert kv[(1000.0, 1.0)] == 1000 * 131072  # 32 layers x 8 KV heads x 128 x 2 (K and V) x 2 B (bf16) per token


def test_rules_that_read_no_axis_are_computed_once():
    loop = S.grid_loop(CAT, "default", "inference", ["seq_len", "batch"])
    d = loop.depth
    assert d["weights"] == 0                       # reads neither seq_len, batch nor a GPU fact
    assert d["kv_cache"] == 2                      # reads seq_len and batch: inside both loops
    assert d["usable_memory_per_gpu"] == 3         # a GPU fact: the innermost loop
    counts = loop.depth_counts()
    assert counts[0] > sum(counts[1:]) and counts[3] < 10  # most rules run once per scenario, few per GPU


def test_a_row_that_fails_in_the_loop_is_located(monkeypatch):
    loop = S.grid_loop(CAT, "default", "inference", [])
    monkeypatch.setattr(loop, "fn", lambda facts, items: [(S.LOCATE,)] * len(items[-1]))
    rows = list(S.run(CAT, ["llama3.1-8b"], ["inference"], [None], ["rtx-4090", "h100-sxm-80gb"]))
    one = vramrules.evaluate("llama3.1-8b", "inference", gpu="h100-sxm-80gb", catalog=CAT)
    assert [r.gpu for r in rows] == ["rtx-4090", "h100-sxm-80gb"]
    assert rows[1].total == one.total.bytes and rows[1].fits == one.fit.fits and not rows[1].error


def test_chunks_cover_the_grid_in_order():
    axes = [list(range(3)), list(range(5)), list(range(7))]
    for limit in (1, 4, 7, 8, 36, 105, 1000):
        chunks = list(S._chunks(axes, limit))
        flat = [k for c in chunks for k in __import__("itertools").product(*c)]
        assert flat == list(__import__("itertools").product(*axes))
        assert all(len(c[0]) * len(c[1]) * len(c[2]) <= max(limit, 1) for c in chunks)


class _Spec:
    option, decl = "--seq-len", "integer"


def test_grid_syntax():
    assert grid_values("1k..8k*2", _Spec) == [1000, 2000, 4000, 8000]
    assert grid_values("1..64*2", _Spec) == [1, 2, 4, 8, 16, 32, 64]
    assert grid_values("1..10+4,32K", _Spec) == [1, 5, 9, 32768]
    assert grid_values("4096", _Spec) == [4096]
    with pytest.raises(vramrules.UsageError, match="a range goes up"):
        grid_values("8..1", _Spec)
    with pytest.raises(vramrules.UsageError, match="more than 100,000 values"):
        grid_values("1..1000000", _Spec)
    with pytest.raises(vramrules.UsageError, match="not a whole number"):
        grid_values("1e9", _Spec)


@pytest.mark.parametrize("args, message", [
    (["--seq-len", "0,4k"], "--seq-len must be a whole number >= 1, got 0"),
    (["--batch", "1..x"], "--batch: 'x' is not a whole number"),
    (["--seq-len", "9..2"], "a range goes up from LO to HI"),
    (["--recompute", "none,most"], "--recompute must be one of none, selective, full"),
])
def test_bad_grid_is_a_usage_error_not_a_traceback(args, message):
    r = CliRunner().invoke(main, ["sweep", "--model", "llama3.1-8b", "--gpu", "l4", "--mode", "serve", *args])
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, r.output


def test_cli_grid_columns_and_row_order():
    r = CliRunner().invoke(main, ["sweep", "--model", "llama3.1-8b", "--mode", "serve", "--seq-len", "1k..4k*2", "--batch", "1,8",
                                  "--kv-precision", "bf16,fp8", "--gpu", "rtx-4090,l4"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert list(rows[0])[:7] == ["model", "mode", "precision", "kv_precision", "seq_len", "batch", "gpu"]
    assert len(rows) == 2 * 3 * 2 * 2
    assert [(x["kv_precision"], x["seq_len"], x["batch"], x["gpu"]) for x in rows[:5]] == [
        ("bf16", "1000", "1", "rtx-4090"), ("bf16", "1000", "1", "l4"), ("bf16", "1000", "8", "rtx-4090"), ("bf16", "1000", "8", "l4"),
        ("bf16", "2000", "1", "rtx-4090")]
    row = next(x for x in rows if (x["kv_precision"], x["seq_len"], x["batch"], x["gpu"]) == ("fp8", "4000", "8", "l4"))
    one = vramrules.evaluate("llama3.1-8b", "serve", gpu="l4", kv_precision="fp8", seq_len=4000, batch=8)
    assert float(row["total_GiB"]) == pytest.approx(one.total.gib, abs=1e-4) and row["fits"] == ("yes" if one.fit.fits else "no")


def test_jsonl_and_json_stream_the_same_rows(tmp_path):
    base = ["sweep", "--model", "qwen2.5-7b", "--mode", "inference", "--seq-len", "1k,8k", "--batch", "1..4*2", "--gpu", "l4"]
    lines = CliRunner().invoke(main, [*base, "--format", "jsonl"]).output.splitlines()
    doc = json.loads(CliRunner().invoke(main, [*base, "--format", "json"]).output)
    assert [json.loads(x) for x in lines] == doc and len(doc) == 2 * 3
    assert doc[0]["inputs"] == {"seq_len": 1000, "batch": 1} and doc[0]["total"]["unit"] == "GiB"
    out = tmp_path / "fits.jsonl"
    assert CliRunner().invoke(main, [*base, "--format", "jsonl", "--out", str(out)]).exit_code == 0
    assert out.read_text().splitlines() == lines
    again = CliRunner().invoke(main, [*base, "--format", "jsonl", "--out", str(out)])
    assert again.exit_code == 2 and "exists; pass --force" in again.output
    assert CliRunner().invoke(main, [*base, "--format", "csv", "--out", str(out), "--force"]).exit_code == 0
    assert out.read_text().startswith("model,mode,precision,seq_len,batch,gpu,")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind


MEMORY = """
import resource, sys
from vramrules import api
from vramrules.commands.inverse import _write_rows
from vramrules.questions import sweep as S
cat = api.load_catalog()
S.VECTOR_CHUNK = 8192  # numpy's calls as large as in a sweep of millions of rows, relative to these sizes
class Null:
    def write(self, s): pass
    def flush(self): pass
def sweep(n, fmt):
    blocks = S.blocks(cat, ["llama3.1-8b", "qwen2.5-7b"], ["inference", "serve"], [None], list(cat.kind("gpu"))[:5],
                      axes={"seq_len": [1000 + i for i in range(n)], "batch": [1, 2, 4, 8, 16]}, backend=sys.argv[2])
    _write_rows(Null(), blocks, fmt, "GiB", ["seq_len", "batch"])
sweep(200, sys.argv[3])  # warm: every function compiled, the first block's worth of memory taken
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sweep(int(sys.argv[1]), sys.argv[3])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)  # KiB the peak grew by
"""


@pytest.mark.parametrize("backend, fmt", [("python", "jsonl"), ("python", "csv"), ("numpy", "csv")])
def test_memory_stays_flat_as_the_sweep_grows(backend, fmt):
    if backend == "numpy":
        pytest.importorskip("numpy")

    def growth(n):
        r = subprocess.run([sys.executable, "-c", MEMORY, str(n), backend, fmt], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        return int(r.stdout.split()[-1]) * 1024

    small, large = growth(200), growth(2000)  # 20,000 and 200,000 rows, after a warm 20,000
    # a list of the rows would hold ~1 KB a row: 200 MB more for the large sweep; the stream holds one block
    assert small < 4 * 2**20 and large < 4 * 2**20, (small, large)


# The in-process API asked again with other numbers (a page or a service, per keystroke): the
# scenario resolved once, only the rules the numbers reach evaluated again (api._fast)

def test_api_asked_again_equals_the_full_evaluation():
    cat = api.load_catalog()
    for mode in ("inference", "serve", "train-lora", "train-full"):
        for seq, batch, rank in [(1000, 1, 8), (4096, 3, 16), (131072, 8, 64), (7, 1, 1), (2048, 64, 256)]:
            r = vramrules.evaluate("mixtral-8x7b", mode, gpu="h100-sxm-80gb", catalog=cat, needed=False, seq_len=seq, batch=batch, lora_rank=rank)
            full = api.evaluate_in(cat, "mixtral-8x7b", mode, gpu="h100-sxm-80gb", seq_len=seq, batch=batch, lora_rank=rank)
            assert r.values == full.values and r.warnings == full.warnings and r.scenario.inputs == full.scenario.inputs
            assert [(c.name, c.memory.bytes) for c in r.components] == [(c.name, c.memory.bytes) for c in full.components]
            assert (r.fit.fits, r.fit.capacity_per_gpu.bytes) == (full.fit.fits, full.fit.capacity_per_gpu.bytes)
    assert any(k[1] == "mixtral-8x7b" for k in api._PREPARED)  # the later calls took the prepared path


def test_api_asked_again_names_errors_as_the_full_path_does():
    cat = api.load_catalog()
    vramrules.evaluate("llama3.1-8b", "inference", gpu="l4", catalog=cat, seq_len=1000)
    with pytest.raises(vramrules.UsageError, match="--seq-len must be a whole number >= 1, got 0"):
        vramrules.evaluate("llama3.1-8b", "inference", gpu="l4", catalog=cat, seq_len=0)
    with pytest.raises(vramrules.UsageError, match="--seq-len must be a whole number"):
        vramrules.evaluate("llama3.1-8b", "inference", gpu="l4", catalog=cat, seq_len=2.5)
    r = vramrules.evaluate("llama3.1-8b", "inference", gpu="l4", catalog=cat, seq_len=400_000)  # does not fit: the GPUs it needs
    full = vramrules.evaluate("llama3.1-8b", "inference", gpu="l4", seq_len=400_000)
    assert not r.fit.fits and r.fit.gpus_needed == full.fit.gpus_needed > 1


API_MEMORY = """
import random, sys, tracemalloc
import vramrules
from vramrules import api
cat = api.load_catalog()
models = list(cat.kind("model"))[:80]  # more scenarios than api.PREPARED_MAX keeps
rng = random.Random(1)
def calls(n):  # runs of 20 keystrokes on one scenario, then the next scenario: 80 models x 2 modes
    for i in range(n):
        s = i // 20
        vramrules.evaluate(models[s % len(models)], "inference" if s % 2 else "train-lora", gpu="h100-sxm-80gb", catalog=cat, needed=False,
                           seq_len=rng.randint(1, 200_000), batch=rng.randint(1, 64), lora_rank=rng.randint(1, 512))
calls(3200)  # warm: every scenario asked once, the modes compiled
tracemalloc.start()
calls(int(sys.argv[1]))
print(tracemalloc.get_traced_memory()[0], len(api._PREPARED))
"""


def test_api_memory_stays_bounded_over_many_calls():
    def held(n):
        r = subprocess.run([sys.executable, "-c", API_MEMORY, str(n)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        now, kept = map(int, r.stdout.split())
        assert kept == api.PREPARED_MAX
        return now

    small, large = held(1600), held(10_000)  # each replaces every kept scenario (80 and 500 scenarios asked)
    assert large < 1.2 * small and large < 4 * 2**20, (small, large)  # what the calls hold afterwards does not grow with them
