"""The rule language: an ast allow-list. Known sandbox-escape payloads are rejected at parse
time with the language's own error; arithmetic, conditions and units compile and evaluate."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vramrules.backends import codegen, interpreter
from vramrules.language import dimensions, ir, operators, syntax

ESCAPES = [
    "().__class__.__bases__[0].__subclasses__()",
    "__import__('os').system('id')",
    "open('/etc/passwd').read()",
    "eval('1')",
    "exec('x=1')",
    "(lambda: 1)()",
    "[x for x in (1, 2)]",
    "{x: 1 for x in (1,)}",
    "(x for x in (1,))",
    "'{0.__class__}'.format(1)",
    "f'{model}'",
    "model.__class__",
    "model._secret",
    "getattr(model, 'x')",
    "a[0]",
    "a[1:2]",
    "x := 1",
    "9**9**9",
    "2 ** model.layers",
    "10 ** 100",
    "1e400",
    "9" * 40,
    "'a' * 10",
    "b'bytes'",
    "{1, 2}",
    "[1, 2]",
    "(1, 2)",
    "...",
    "1j",
    "a @ b",
    "a << 2",
    "a | b",
    "~a",
    "a is b",
    "a in b",
    "min(*a)",
    "max(x=1, y=2)",
    "ceil(1, 2)",
    "yield 1",
    "await x",
    "(" * 100000 + "1" + ")" * 100000,
    "1 + " * 1000 + "1",
    "",
    "   ",
]


@pytest.mark.parametrize("text", ESCAPES, ids=range(len(ESCAPES)))
def test_escape_payloads_are_rejected_with_the_languages_error(text):
    with pytest.raises(syntax.FormulaError):
        syntax.parse(text)


def test_allowed_constructs_parse_and_list_their_names():
    f = syntax.parse("max(model.hidden_size * 2, 3) if input.recompute == 'full' and not input.dropout else round_up(x / GiB, 2) * GiB")
    assert sorted(f.names) == sorted(["model.hidden_size", "input.recompute", "input.dropout", "x", "GiB"])


def _compile(text, via_ir=False, **values):
    f = syntax.parse(text)
    if via_ir:  # the catalog cache's path: the checked tree as data, back to source
        f = syntax.Formula(f.text, None, f.names, ir.to_ir(f))
    src = codegen.to_source(f, lambda n: n.replace(".", "_"), lambda n: 2.0**30 if n == "GiB" else None)
    env = {k.replace(".", "_"): v for k, v in values.items()}
    return eval(compile(src, "<test>", "eval"), {**codegen.function_globals(), **env})  # source generated from the checked tree


@pytest.mark.parametrize("via_ir", [False, True])
def test_compiled_arithmetic_matches_python(via_ir):
    assert _compile("2 * a.b + 1", via_ir, **{"a.b": 3.0}) == 7.0
    assert _compile("x if x > 2 and not (x == 5) else -x", via_ir, x=3.0) == 3.0
    assert _compile("max(x, 1, 2) ** 2 + x // 2 - x % 2", via_ir, x=3.0) == 9 + 1 - 1
    assert _compile("round_up(x, 128)", x=129.0) == 256
    assert _compile("ceil(x / GiB)", x=2.0**30 + 1) == 2
    assert _compile("a if a > b else b", a=1.0, b=5.0) == 5.0
    assert _compile("x ** 0.5", x=16.0) == 4.0


def test_division_by_zero_raises_at_run_time_not_at_parse():
    with pytest.raises(ZeroDivisionError):
        _compile("1 / x", x=0.0)


@settings(max_examples=300, deadline=500)  # bounded time: each string parses or fails in well under 0.5 s
@given(st.text(alphabet="abcxyz_.0123456789+-*/%()<>=! ,'\"[]{}:lambdaifelsenotandor", max_size=60))
def test_any_string_compiles_or_raises_the_languages_own_error(text):
    try:
        syntax.parse(text)
    except syntax.FormulaError:
        pass


def test_error_carries_a_column():
    with pytest.raises(syntax.FormulaError) as e:
        syntax.parse("1 + open('x')")
    assert e.value.col == 5


@pytest.mark.parametrize("ir", [
    ["call", "__import__", [["s", "os"]]],
    ["n", "a.__class__"],
    ["n", "x; import os"],
    ["op", "**", ["c", 9], ["op", "**", ["c", 9], ["c", 9]]],
    ["c", float("inf")],
    ["s", "x'); import os; ('"],
    ["attr", "x"],
    ["op", "@", ["c", 1], ["c", 2]],
    "1",
    [],
])
def test_tampered_cached_tree_is_refused(ir):
    """The catalog cache holds formulas as data; a tampered entry cannot become code, neither
    through code generation nor through the interpreter that `eval` uses."""
    with pytest.raises(syntax.FormulaError):
        codegen.ir_source(ir, lambda n: "v", lambda n: None)
    with pytest.raises(syntax.FormulaError):  # checked once, when the interpreter is made, by the same check
        interpreter.Interpreted(ir, lambda n: None)


def test_interpreter_refuses_a_tree_deeper_than_python_allows():
    ir = ["c", 1]
    for _ in range(5000):
        ir = ["u", "-", ir]
    with pytest.raises(syntax.FormulaError, match="malformed"):
        interpreter.Interpreted(ir, lambda n: None)


@pytest.mark.parametrize("mode", ["inference", "train-full", "train-lora", "train-qlora", "serve"])
def test_interpreter_and_compiled_function_agree(mode):
    """`eval` interprets the checked trees (one evaluation); sweeps and searches compile them."""
    import vramrules

    for model in ("llama3.1-8b", "mixtral-8x7b", "deepseek-v3", "gpt-oss-20b", "gemma2-9b"):
        a = vramrules.evaluate(model, mode, gpu="h100-sxm-80gb", once=True, needed=False)
        b = vramrules.evaluate(model, mode, gpu="h100-sxm-80gb", once=False, needed=False)
        assert a.values == b.values


def test_interpreter_locates_a_failing_rule(tmp_path):
    from click.testing import CliRunner

    from vramrules.cli import main

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "hostile.yaml").write_text(
        "kind: ruleset\nsummary: x\nuses: [fit, architecture]\n"
        "defaults: {precision: bf16, kv_precision: bf16, compute_precision: bf16, adapter_precision: bf16, optimizer: adamw,"
        " lora_targets: qv, batch: 1, seq_len: 1024, lora_rank: 8, recompute: none, master_weights: true, attention: flash, dropout: false}\n"
        "rules:\n  bad:\n    formula: B / (model.num_layers - model.num_layers)\nmodes:\n  m:\n    summary: x\n    components: [bad]\n",
        encoding="utf-8")
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--rules", "hostile", "--mode", "m", "--data", str(tmp_path)])
    assert r.exit_code == 1
    assert "hostile.yaml:7:14: rule 'bad' failed: division by zero" in r.output


@pytest.mark.parametrize("sym", sorted(operators.BINARY))
def test_each_operator_is_one_row_that_every_backend_reads(sym):
    """The operator table is the only place an operator is defined: parse, generated code and
    the interpreter give Python's own value for it."""
    expected = {"+": 9.0, "-": 5.0, "*": 14.0, "/": 3.5, "//": 3.0, "%": 1.0, "**": 49.0}[sym]
    f = syntax.parse(f"7 {sym} 2")
    assert dimensions.check(f, lambda n, node: (dimensions.NUM, None))[0] == dimensions.NUM
    src = codegen.to_source(f, lambda n: n, lambda n: None)
    assert eval(src, codegen.function_globals()) == expected  # noqa: S307  (source made from the checked tree)
    assert interpreter.Interpreted(ir.to_ir(f), lambda n: None)({}) == expected
