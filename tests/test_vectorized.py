"""The numpy backend (backends/vectorized.py) against the generated loop: every row of a sweep over
several models, modes, precisions, GPUs and a seq_len x batch x lora_rank grid is equal, exactly
(status, total, usable memory, verdict, every component, and each failing row's message), and a
rule set built to fail on chosen grid points fails on the same rows with the same messages as the
single evaluation does. Exact equality holds: numpy's + - * / // % compute as CPython's floats do,
and the helpers keep Python's min/max, sum, ceil and `**` semantics (see the module's doc)."""
import subprocess
import sys
import textwrap

import pytest

np = pytest.importorskip("numpy")

import vramrules  # noqa: E402
from vramrules import api  # noqa: E402
from vramrules.backends import vectorized as V  # noqa: E402
from vramrules.language import operators as O  # noqa: E402
from vramrules.questions import sweep as S  # noqa: E402

CAT = api.load_catalog()
# dense GQA, MoE, MLA, sliding-window + global layer groups, hybrid attention sinks
MODELS = ["llama3.1-8b", "mixtral-8x7b", "deepseek-v3", "gemma3-27b", "gpt-oss-20b", "qwen3-0.6b"]
GPUS = ["rtx-4090", "l4", "a100-40gb", "h100-sxm-80gb", "mi300x", "b200-180gb"]
GRID = {"seq_len": [1000, 4096, 32768, 131072], "batch": [1, 3, 16], "lora_rank": [8, 64]}


def rows(cat, backend, models, modes, precisions, gpus, rules="default", axes=None, options=None):
    out = []
    for b in S.blocks(cat, models, modes, precisions, gpus, rules=rules, axes=axes, backend=backend, options=options):
        out += [(b.model, b.mode, b.precision, b.fixed, r) for r in b.iter_rows()]
    return out


def test_every_operator_and_function_has_numpy_code():
    assert set(V.NUMPY_BINARY) == set(O.BINARY)
    assert set(V.NUMPY_COMPARISONS) == set(O.COMPARISONS)
    assert set(V.NUMPY_UNARY) == set(O.UNARY)
    assert set(V.NUMPY_FUNCTIONS) == set(O.FUNCTIONS)  # the reductions are rows of FUNCTIONS too


def test_rows_equal_the_generated_loop_exactly():
    modes = list(CAT.rulesets["default"].modes)
    precisions = [None, "int4", "fp8", "gguf-q4-k-m"]
    a = rows(CAT, "python", MODELS, modes, precisions, GPUS, axes=GRID)
    b = rows(CAT, "numpy", MODELS, modes, precisions, GPUS, axes=GRID)
    assert len(a) == len(MODELS) * len(modes) * len(precisions) * 4 * 3 * 2 * len(GPUS)
    assert a == b  # floats compared with ==: bit for bit but the sign of a zero
    fits = {r[4][4] for r in a}
    assert fits == {True, False}  # both verdicts occur
    assert any(r[4][1] == S.OK for r in a)


def test_layout_axes_and_broken_constraints_match():
    """tp is a resolved axis: tp 3 breaks the rules' divisibility constraint on these models."""
    axes = {"tp": [1, 2, 3], "seq_len": [4096, 65536], "batch": [1, 8]}
    a = rows(CAT, "python", ["llama3.1-8b", "mixtral-8x7b"], ["inference", "train-lora"], [None], GPUS[:3], axes=axes)
    b = rows(CAT, "numpy", ["llama3.1-8b", "mixtral-8x7b"], ["inference", "train-lora"], [None], GPUS[:3], axes=axes)
    assert a == b
    statuses = {r[4][1] for r in a}
    assert statuses == {S.OK, S.BROKEN}  # tp 3 divides neither model's 32 heads: the constraint fails on those rows only
    assert all(r[4][1] == S.BROKEN for r in a if r[3] == {"tp": 3.0}) and all(r[4][1] == S.OK for r in a if r[3] != {"tp": 3.0})


EDGY = textwrap.dedent("""\
    kind: ruleset
    summary: Rules that fail on chosen grid points
    uses: [fit, architecture]
    needs_architecture: false
    source: "tests/test_vectorized.py"
    defaults:
      precision: bf16
      kv_precision: bf16
      compute_precision: bf16
      adapter_precision: bf16
      optimizer: adamw
      lora_targets: all-linear
      batch: 1
      seq_len: 4096
      lora_rank: 8
      recompute: none
      master_weights: true
      attention: flash
      dropout: false
    constraints:
      - require: input.batch != 5
        message: "--batch 5 is refused"
    rules:
      weights:
        formula: model.params_nominal * precision.bits
        unit: B
        label: weights
        source: "a test"
      spread:
        formula: "weights / (input.batch - 3) if input.batch > 3 else weights / (input.batch + 1)"
        unit: B
        label: spread
        source: "the branch not taken divides by zero at batch 3"
      odd:
        formula: "weights * ceil(1 / (input.seq_len - 2000)) * (input.seq_len % 7) / 7 + min(weights, input.seq_len * 1000 * B) - max(input.batch, 2) * 1e6 * B"
        unit: B
        label: odd
        source: "seq_len 2000 divides by zero; small seq_len makes it negative"
      folded:
        formula: "((weights // ((input.lora_rank - 16) * MiB)) * MiB) % (1e9 * B) if (input.lora_rank > 0 and input.seq_len > 1000) or input.batch == 2 else round_up(weights, 4096 * B)"
        unit: B
        label: folded
        source: "lora_rank 16 divides by zero unless the condition short-circuits"
    modes:
      inference:
        role: inference
        summary: edge cases
        components: [weights, spread, odd, folded]
    """)


@pytest.fixture(scope="module")
def edgy(tmp_path_factory):
    d = tmp_path_factory.mktemp("edgy")
    (d / "rules").mkdir()
    (d / "rules" / "edgy.yaml").write_text(EDGY, encoding="utf-8")
    return api.load_catalog((str(d),))


def test_failing_rows_match_row_for_row_and_the_single_evaluation(edgy):
    models, gpus = ["llama3.1-8b", "qwen3-0.6b"], ["rtx-4090", "h100-sxm-80gb"]
    axes = {"batch": [1, 2, 3, 4, 5, 64], "seq_len": [1000, 2000, 4000], "lora_rank": [8, 16]}
    a = rows(edgy, "python", models, ["inference"], [None], gpus, rules="edgy", axes=axes)
    b = rows(edgy, "numpy", models, ["inference"], [None], gpus, rules="edgy", axes=axes)
    assert a == b
    kinds = {r[4][1] for r in a}
    assert kinds == {S.OK, S.BROKEN, S.FAILED}
    messages = {r[4][6].split(": ", 1)[1] for r in a if r[4][1] == S.FAILED}
    assert any("rule 'odd' failed: division by zero" in m for m in messages)
    assert any("rule 'folded' failed: division by zero" in m for m in messages)
    assert any("component 'odd' is negative" in m for m in messages)
    for model, mode, _p, _f, (key, status, total, _usable, fits, comps, error) in a:
        batch, seq_len, rank, gpu = key
        try:
            one = vramrules.evaluate(model, mode, gpu=gpu, rules="edgy", catalog=edgy, needed=False,
                                     batch=int(batch), seq_len=int(seq_len), lora_rank=int(rank))
        except vramrules.VramrulesError as exc:
            assert status in (S.FAILED, S.BROKEN), (key, exc)
            assert status == S.BROKEN or error == str(exc)
            continue
        assert status == S.OK, (key, error)
        assert total == one.total.bytes and fits == one.fit.fits
        assert comps == {c.name: c.memory.bytes for c in one.components}


@pytest.mark.parametrize("seed", range(5))
def test_group_sums_add_as_python_sum_does(seed):
    rng = np.random.default_rng(seed)
    vals = [rng.standard_normal(200) * 10.0 ** rng.integers(-8, 12) for _ in range(7)]
    got = V._add_all(vals) + 0.0
    want = [float(sum(float(v[i]) for v in vals)) for i in range(200)]
    assert got.tolist() == want


def test_min_max_keep_python_semantics():
    nan = float("nan")
    a, b = np.array([1.0, nan, 0.0, -0.0]), np.array([nan, 1.0, -0.0, 0.0])
    got_min, got_max = V._min(a, b).tolist(), V._max(a, b).tolist()
    want_min = [min(x, y) for x, y in zip(a.tolist(), b.tolist())]
    want_max = [max(x, y) for x, y in zip(a.tolist(), b.tolist())]
    assert [repr(x) for x in got_min] == [repr(x) for x in want_min]
    assert [repr(x) for x in got_max] == [repr(x) for x in want_max]
    ceil, err = V._ceil(np.array([-0.5, 2.1, float("inf")]))
    assert repr(ceil[0]) == repr(np.float64(0.0)) and ceil[1] == 3.0 and err.tolist() == [False, False, True]


def test_the_core_never_imports_numpy():
    code = ("import sys, vramrules.cli\nfrom vramrules import api\nfrom vramrules.questions import sweep as S\n"
            "cat = api.load_catalog()\nn = sum(1 for _ in S.run(cat, ['llama3.1-8b'], ['inference'], [None], ['l4'], axes={'seq_len': [1000, 2000]}))\n"
            "assert n == 2 and 'numpy' not in sys.modules, sorted(m for m in sys.modules if 'numpy' in m)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.parametrize("op", sorted(O.BINARY))
def test_each_binary_operator_computes_as_python_floats(op):
    """Each row of NUMPY_BINARY against the operator table's own function, element by element,
    on signed values, zeros and a few exponents: the same value where Python gives one (bit for
    bit), and the error mask exactly where Python raises."""
    rng = np.random.default_rng(7)
    a = np.concatenate([rng.standard_normal(300) * 1e3, [0.0, -0.0, 5.0, -5.0, 1e300, -7.5]])
    b = np.concatenate([rng.standard_normal(300) * 10, [3.0, -3.0, 0.0, -0.0, 1e10, 2.0]])
    if op == "**":  # the exponent is a constant of the formula (ir.small_exponent)
        for e in (2.0, 3.0, 0.5, -1.0, 8.0, -2.0):
            check(op, a, e)
        return
    check(op, a, b)


def check(op, a, b):
    value, err = V.NUMPY_BINARY[op]
    env = {"_np": np, "_pow": V._pow, "a": a, "b": b}
    with np.errstate(all="ignore"):
        if err == V.PAIR:
            got, mask = eval(value.format(a="a", b="b"), env)  # noqa: S307 - the table's template
        else:
            got = eval(value.format(a="a", b="b"), env)  # noqa: S307
            mask = np.broadcast_to(eval(err.format(a="a", b="b"), env), a.shape) if err else np.zeros(a.shape, bool)  # noqa: S307
    bs = np.broadcast_to(b, a.shape).tolist()
    for x, y, g, m in zip(a.tolist(), bs, np.asarray(got).tolist(), np.asarray(mask).tolist()):
        try:
            want = O.BINARY[op].fn(x, y) if op != "**" else O._pow(x, y)
        except (ArithmeticError, ValueError):
            assert m, (x, op, y)
            continue
        assert not m and repr(g) == repr(want), (x, op, y, g, want)
