"""Invariants over the catalog (hypothesis), and a bounded fuzz of loader + schema + rule
compiler: any input is either accepted or refused with the engine's own located error."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vramrules
from vramrules.errors import DataError, UsageError
from vramrules.language import dimensions, syntax
from vramrules.reading.loader import load_text

pytestmark = pytest.mark.usefixtures("runner")  # every test runs under both evaluators (conftest.runner)

CAT = vramrules.load_catalog()
MODELS = sorted(CAT.kind("model"))
TRAIN = ["train-full", "train-lora", "train-qlora"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def total(model, mode, **kw):
    return vramrules.evaluate(model, mode, catalog=CAT, needed=False, **kw).total.bytes


@SETTINGS
@given(st.sampled_from(MODELS), st.sampled_from(["inference"] + TRAIN), st.integers(1, 64), st.integers(1, 64))
def test_more_batch_never_needs_less(model, mode, b, extra):
    assert total(model, mode, batch=b + extra) >= total(model, mode, batch=b)


@SETTINGS
@given(st.sampled_from(MODELS), st.sampled_from(["inference"] + TRAIN), st.integers(1, 200_000), st.integers(1, 100_000))
def test_more_context_never_needs_less(model, mode, s, extra):
    assert total(model, mode, seq_len=s + extra) >= total(model, mode, seq_len=s)


@SETTINGS
@given(st.floats(1e6, 1e12), st.floats(1.0, 10.0), st.sampled_from(["inference", "train-full"]))
def test_more_parameters_never_need_less(params, factor, mode):
    a = vramrules.evaluate(params=params, mode=mode, catalog=CAT, needed=False).total.bytes
    b = vramrules.evaluate(params=params * factor, mode=mode, catalog=CAT, needed=False).total.bytes
    assert b >= a


BITS_ORDER = ["int4", "int8", "fp8", "bf16", "fp32"]


@SETTINGS
@given(st.sampled_from(MODELS))
def test_more_precision_bits_never_need_less(model):
    totals = [total(model, "inference", precision=p) for p in BITS_ORDER]
    assert totals == sorted(totals)


@SETTINGS
@given(st.sampled_from(MODELS), st.sampled_from(["h100-sxm-80gb", "a100-40gb", "rtx-4090", "l4"]))
def test_fits_on_n_tp_ranks_fits_on_2n(model, gpu):
    heads = CAT.kind("model")[model].facts["num_attention_heads"]
    for n in (1, 2, 4):
        if heads % (2 * n):
            break
        try:
            a = vramrules.evaluate(model, "inference", gpu=gpu, tp=n, catalog=CAT, needed=False)
            b = vramrules.evaluate(model, "inference", gpu=gpu, tp=2 * n, catalog=CAT, needed=False)
        except UsageError:
            break  # a layout the model does not allow
        if a.fit.fits:
            assert b.fit.fits
        assert b.fit.needed_per_gpu.bytes <= a.fit.needed_per_gpu.bytes


@SETTINGS
@given(st.sampled_from(MODELS), st.sampled_from(TRAIN), st.sampled_from([1, 2, 4, 8, 16]))
def test_zero3_fits_on_n_fits_on_2n(model, mode, n):
    a = vramrules.evaluate(model, mode, gpu="h100-sxm-80gb", dp=n, zero=3, catalog=CAT, needed=False)
    b = vramrules.evaluate(model, mode, gpu="h100-sxm-80gb", dp=2 * n, zero=3, catalog=CAT, needed=False)
    assert b.fit.needed_per_gpu.bytes <= a.fit.needed_per_gpu.bytes
    if a.fit.fits:
        assert b.fit.fits


@SETTINGS
@given(st.sampled_from(MODELS), st.sampled_from(["inference"] + TRAIN))
def test_gib_and_gb_agree_and_json_round_trips(model, mode):
    r = vramrules.evaluate(model, mode, gpu="a100-80gb", catalog=CAT, needed=False)
    gib, gb = r.to_json("GiB"), r.to_json("GB")
    assert gib["total"]["bytes"] == gb["total"]["bytes"]
    assert gb["total"]["value"] == pytest.approx(gib["total"]["value"] * 2**30 / 1e9, rel=1e-6)
    assert json.loads(json.dumps(gib)) == gib


# ---------------------------------------------------------------- fuzz: loader, schema, rule compiler

YAML_ALPHABET = st.sampled_from(list("abc:-[]{},&*!%@'\"#|>\n\t 0123456789.eE") + ["\n  ", ": ", "- ", "gpus:", "memory: ", "GiB", "!!python/object", "<<: ", ".inf", "1e400"])


@settings(max_examples=300, deadline=2000)
@given(st.lists(YAML_ALPHABET, max_size=60).map("".join))
def test_fuzz_loader_only_ever_raises_data_error(text):
    try:
        load_text(text, "fuzz.yaml")
    except DataError as exc:
        assert all(str(p).startswith("fuzz.yaml") for p in exc.problems)


ENTRY_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False, allow_infinity=False)
                            | st.text(max_size=12) | st.sampled_from(["80 GiB", "-1 GiB", "1e400 B", "3 tokens", "GiB", "0 B"]),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
FIELDS = st.dictionaries(st.sampled_from(["name", "vendor", "class", "memory", "memory_reported", "usable_fraction", "source", "bandwidth", "x"]),
                         ENTRY_VALUES, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(FIELDS)
def test_fuzz_schema_accepts_or_locates(tmp_path_factory, fields):
    import yaml

    d = tmp_path_factory.mktemp("fuzz")
    (d / "gpus.yaml").write_text(yaml.safe_dump({"gpus": {"fuzz-gpu": fields}}), encoding="utf-8")
    try:
        vramrules.load_catalog((str(d),), full=True)
    except DataError as exc:
        assert exc.problems and all(p.location.file for p in exc.problems)


FORMULA_TOKENS = st.sampled_from(["model.hidden_size", "precision.bits", "weights", "B", "GiB", "input.batch", "(", ")", "+", "-", "*", "/", "**",
                                  "2", "0", "1e30", "if", "else", "and", "not", ">", "==", "'gated'", "model.mlp", "min(", ",", "ceil(", "__import__",
                                  ".", "lambda", "x", "[", "]"])


@settings(max_examples=300, deadline=2000)
@given(st.lists(FORMULA_TOKENS, min_size=1, max_size=14).map(" ".join))
def test_fuzz_rule_compiler(text):
    """Parse, then check names and dimensions against the real catalog: FormulaError or a type."""
    from vramrules.language.rules import mode_rules, resolver

    rs = CAT.rulesets["default"]
    rules = mode_rules(rs, rs.modes["inference"])
    try:
        f = syntax.parse(text)
        dimensions.check(f, resolver(CAT, rules, {"weights": (dimensions.NUM, __import__("vramrules.reading.units").reading.units.parse_dim("[information]"))}))
    except (syntax.FormulaError, syntax.Poisoned):
        pass
