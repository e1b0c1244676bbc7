"""Issue 19: hostile data that used to be misread, hang, crash (exit 70) or reach the terminal
raw. Each test drives the CLI (`--data DIR` overlays written here) and asserts the exit code and
the message."""
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from vramrules.cli import main

pytestmark = pytest.mark.usefixtures("runner")  # every test runs under both evaluators (conftest.runner)

GPU = """gpus:
  my-gpu:
    name: Mine
    vendor: nvidia
    class: datacenter
    memory: {memory}
    source: test
"""


def cli(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kw)


def overlay(tmp_path, files: dict):
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        (p.write_bytes if isinstance(text, bytes) else p.write_text)(text)
    return tmp_path


# ---------------------------------------------------------------- 1. YAML 1.1 surprises

@pytest.mark.parametrize("line,where,message", [
    ("    memory_reported: 0100000\n", r"gpus\.yaml:8:22", "'0100000' is ambiguous: YAML 1.1 reads it as octal 32768, YAML 1.2 as 100000"),
    ("    note: 2:00\n", r"gpus\.yaml:8:11", "'2:00' is ambiguous: YAML 1.1 reads it as the base-60 number 120, YAML 1.2 as text"),
    ("    note: yes\n", r"gpus\.yaml:8:11", "'yes' is ambiguous: YAML 1.1 reads it as the boolean true"),
    ("    note: 1_000\n", r"gpus\.yaml:8:11", "'1_000' is ambiguous: YAML 1.1 reads it as the number 1000"),
    ("    note: !!int 0100\n", r"gpus\.yaml:8:11", "'0100' is ambiguous: YAML 1.1 reads it as octal 64"),
])
def test_yaml11_readings_are_refused_with_a_hint(tmp_path, line, where, message):
    overlay(tmp_path, {"gpus.yaml": GPU.format(memory="24 GiB") + line})
    r = cli("validate", "--data", tmp_path)
    assert r.exit_code == 1, r.output
    assert message in r.output and "(hint: " in r.output
    assert re.search(where, r.output), r.output


def test_quoted_yaml11_spellings_are_text(tmp_path):
    overlay(tmp_path, {"gpus.yaml": GPU.format(memory="24 GiB") + "    note: '2:00 yes 0100000'\n"})
    r = cli("validate", "--data", tmp_path)
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("key", ['"h100-sxm-80gb\\n"', '"h100-sxm-80gb "', '"h100-sxm-80gb\\x1b"', '"h100-sxm-80gb\\u200b"'])
def test_an_id_with_whitespace_or_control_characters_is_not_a_second_id(tmp_path, key):
    overlay(tmp_path, {"gpus.yaml": GPU.format(memory="80 GiB").replace("my-gpu", key)})
    for args in (["validate"], ["eval", "--model", "llama3.1-8b", "--gpu", "h100-sxm-80gb"]):
        r = cli(*args, "--data", tmp_path)
        assert r.exit_code == 1, r.output
        assert re.search(r"gpus\.yaml:2:3: /gpus: key 'h100-sxm-80gb.*' has (leading or trailing whitespace|a control or invisible character)", r.output), r.output
        assert "\x1b" not in r.output


@pytest.mark.parametrize("memory,message", [
    ("1e999 GiB", "'1e999 GiB' is not a finite number"),
    ("1e300 TiB", "'1e300 TiB' is absurdly large"),
    ("1e40 GiB", "'1e40 GiB' is absurdly large"),
])
def test_a_non_finite_or_absurd_quantity_is_refused_where_it_is_written(tmp_path, memory, message):
    overlay(tmp_path, {"gpus.yaml": GPU.format(memory=memory)})
    for args in (["validate"], ["eval", "--model", "llama3.1-8b", "--gpu", "my-gpu"]):
        r = cli(*args, "--data", tmp_path)
        assert r.exit_code == 1, r.output
        assert re.search(r"gpus\.yaml:6:13: /gpus/my-gpu/memory: ", r.output), r.output
        assert message in r.output
        assert "fit.yaml" not in r.output and "internal error" not in r.output


# ---------------------------------------------------------------- 2. hangs and crashes in rules

RULES_HEAD = ("kind: ruleset\nsummary: hostile\nuses: [fit, architecture]\n"
              "defaults: {precision: bf16, kv_precision: bf16, compute_precision: bf16, adapter_precision: bf16, optimizer: adamw,"
              " lora_targets: qv, batch: 1, seq_len: 1024, lora_rank: 8, recompute: none, master_weights: true, attention: flash, dropout: false}\n"
              "rules:\n")


def ruleset(rules: list[tuple[str, str]]) -> str:
    """rules: (name, formula); the last one is the mode's one component. Rule i is on line 6 + 2i."""
    body = "".join(f"  {name}:\n    formula: {formula}\n" for name, formula in rules)
    return RULES_HEAD + body + f"modes:\n  m:\n    summary: x\n    components: [{rules[-1][0]}]\n"


def eval_hostile(tmp_path, rules, *extra):
    overlay(tmp_path, {"rules/hostile.yaml": ruleset(rules)})
    return cli("eval", "--model", "llama3.1-8b", "--rules", "hostile", "--mode", "m", "--data", tmp_path, *extra)


def counting_calls(fn):
    """(fn(), how many functions it called, Python's and built-in ones): a count of the work done
    that does not depend on how fast or loaded the machine is (sys.setprofile sees each call this
    thread makes)."""
    calls = 0

    def profile(frame, event, arg):
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    before = sys.getprofile()
    sys.setprofile(profile)
    try:
        result = fn()
    finally:
        sys.setprofile(before)
    return result, calls


def in_subprocess(code: str, timeout=60):
    """Run Python in a child that is killed after `timeout` s: a rule set that makes Python ints
    grow spends minutes inside one C call, which nothing in-process can interrupt."""
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {timeout} s")


POWER_CHAIN = [("r0", "10 ** 8")] + [(f"r{i}", f"r{i - 1} ** 8") for i in range(1, 12)] + [("bad", "r11 * B")]
# ceil() of a product of products: Python ints would grow to millions of digits
PRODUCT_CHAIN = [("r0", "ceil(1e30)")] + [(f"r{i}", "ceil(" + " * ".join([f"r{i - 1}"] * 40) + ")") for i in range(1, 6)] + [("bad", "r5 * B")]
NEGATIVE_ROOT = [("bad", "(0 - model.num_layers) ** 0.5 * B")]


@pytest.mark.parametrize("rules,where,message", [
    (POWER_CHAIN, r"hostile\.yaml:11:14", "rule 'r2' failed: number too large"),
    (PRODUCT_CHAIN, r"hostile\.yaml:9:14", "rule 'r1' failed: number too large"),
    (NEGATIVE_ROOT, r"hostile\.yaml:7:14", "rule 'bad' failed: fractional power (0.5) of a negative number (-32)"),
], ids=["power-chain", "product-chain", "negative-base-fractional-power"])
@pytest.mark.parametrize("path", ["interpreted", "compiled"])
def test_rules_that_explode_are_located_errors_not_hangs(tmp_path, rules, where, message, path):
    """eval interprets the checked trees; sweeps and fit run generated code: both fail the same way."""
    overlay(tmp_path, {"rules/hostile.yaml": ruleset(rules)})
    if path == "interpreted":
        code = ("import sys; from vramrules.cli import main; sys.argv = ['vramrules', 'eval', '--model', 'llama3.1-8b', '--rules', 'hostile', "
                f"'--mode', 'm', '--data', {str(tmp_path)!r}]; main()")
    else:
        code = ("import sys, vramrules\nfrom vramrules.errors import VramrulesError\n"
                f"cat = vramrules.load_catalog(({str(tmp_path)!r},), full=True)\n"
                "try:\n    vramrules.evaluate('llama3.1-8b', 'm', rules='hostile', catalog=cat, once=False)\n"
                "except VramrulesError as exc:\n    print(exc, file=sys.stderr); sys.exit(exc.exit_code)\n")
    r = in_subprocess(code)
    assert r.returncode == 1, r.stdout + r.stderr
    assert message in r.stderr
    assert re.search(where, r.stderr), r.stderr


def test_rules_compute_on_floats_so_work_is_bounded():
    from vramrules.language import operators

    lists = {**operators.REDUCTIONS, **operators.SCANS}  # functions of a list: the reductions and the prefix scans
    assert all(type(fn(*[2.5] * lo)) is float for name, (lo, _hi, fn, _dims) in operators.FUNCTIONS.items() if name not in lists)
    assert all(type(fn([2.5, 1.0])) is float and type(fn([])) is float for _axis, fn in lists.values())
    assert type(operators._pow(10, 8)) is float
    with pytest.raises(OverflowError):
        operators._pow(1e64, 8)


def chain(n: int) -> list[tuple[str, str]]:
    """r0 = 1, r1 = r0 + 1, ..., r(n-1) = r(n-2) + 1, and the component bad = r(n-1) * B."""
    return [("r0", "1")] + [(f"r{i}", f"r{i - 1} + 1") for i in range(1, n)] + [("bad", f"r{n - 1} * B")]


def test_a_twelve_thousand_rule_chain_is_not_an_internal_error(tmp_path):
    """A chain deeper than any recursion limit is checked and evaluated (it was a RecursionError,
    exit 70), in work linear in its length: the calls per rule from 10 to 3,000 rules and
    from 3,000 to 12,000 are the same within 20%, where an order, a check or an evaluation that
    revisits the chain for each rule (quadratic) makes the second about five times the first."""
    eval_hostile(tmp_path / "warm-up", chain(10))  # what every run reads once (the built-in data) is read here, not counted
    sizes = (10, 3000, 12000)
    calls = []
    for n in sizes:
        r, count = counting_calls(lambda n=n: eval_hostile(tmp_path / str(n), chain(n)))
        assert r.exit_code in (0, 1), r.output
        assert "internal error" not in r.output
        if r.exit_code == 1:
            assert re.search(r"hostile\.yaml:\d+:\d+", r.output), r.output
        calls.append(count)
    first = (calls[1] - calls[0]) / (sizes[1] - sizes[0])
    beyond = (calls[2] - calls[1]) / (sizes[2] - sizes[1])
    assert beyond <= 1.2 * first, f"calls per added rule: {first:.1f} up to 3,000 rules, {beyond:.1f} beyond ({calls})"


# ---------------------------------------------------------------- 3. --set values

@pytest.mark.parametrize("value,message", [
    ("1" * 400, "number is too large"),
    ("!!timestamp 2020-01-01", "date is not a value an assumption takes"),
    ("2020-01-01", "date is not a value an assumption takes"),
    ("!!binary aGVsbG8=", "YAML tags (!!binary) are not allowed here"),
    ("!!python/object:os.system x", "YAML tags (!!python/object:os.system) are not allowed here"),
    ("!!float 1", "YAML tags (!!float) are not allowed here"),
    ("!!set {a}", "a YAML mapping is not a value"),
    ("[1, 2]", "a YAML list is not a value"),
    ("1 GiB: 2", "a YAML mapping is not a value"),
    ("~", "null is not a value an assumption takes"),
    ("", "no value"),
    ("0100", "'0100' is ambiguous: YAML 1.1 reads it as octal 64, YAML 1.2 as 100"),
    ("2:00", "'2:00' is ambiguous"),
    ("yes", "'yes' is ambiguous"),
])
def test_set_values_of_other_types_are_usage_errors(value, message):
    r = cli("eval", "--model", "llama3.1-8b", "--set", f"assume.cuda_context={value}")
    assert r.exit_code == 2, r.output
    assert "error: --set 'assume.cuda_context=" in r.output and message in r.output
    assert "internal error" not in r.output


def test_set_never_echoes_an_escape_sequence():
    r = cli("eval", "--model", "llama3.1-8b", "--set", "assume.cuda_context=1 GiB\x1b]0;owned\x07")
    assert r.exit_code == 1, r.output
    assert "\x1b" not in r.output and "\x07" not in r.output
    assert "--set assume.cuda_context=1 GiB\\x1b]0;owned\\x07: /assumptions/cuda_context/value: " in r.output


# ---------------------------------------------------------------- 4. nvidia-smi output

def fake_tool(folder, name: str, output: bytes, code: int = 0):
    script = folder / name
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.buffer.write({output!r})\nsys.stdout.flush()\nsys.exit({code})\n")
    script.chmod(0o755)


def test_nvidia_smi_output_that_is_not_utf8_is_read_tolerantly(tmp_path):
    fake_tool(tmp_path, "nvidia-smi", b"NVIDIA GeForce RTX 4090 \xff\xfe, 24564, 512\n")
    r = cli("eval", "--model", "llama3.1-8b", "--gpu", "auto", env={"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"})
    assert r.exit_code == 0, r.output
    assert "GPU: 1 x local-gpu (NVIDIA GeForce RTX 4090 \ufffd\ufffd, 24564 MiB)" in r.output


def test_a_failing_nvidia_smi_with_binary_stderr_is_a_usage_error(tmp_path):
    fake_tool(tmp_path, "nvidia-smi", b"\xff\x1b]0;title\x07 NVML failed\n", code=9)
    r = cli("eval", "--model", "llama3.1-8b", "--gpu", "auto", env={"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"})
    assert r.exit_code == 2, r.output
    assert "exited 9: \ufffd\\x1b]0;title\\x07 NVML failed" in r.output
    assert "\x1b" not in r.output


# ---------------------------------------------------------------- 5. terminal safety

HOSTILE_TEXT = "x\x1b]0;owned\x07\x1b[2J\x9b31m\u202e\nverdict FITS"  # OSC title, CSI clear, C1 CSI, RLO, a fake line
SHOWN = "x\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u202e\\nverdict FITS"
CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def hostile_gpu(tmp_path):
    text = HOSTILE_TEXT.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\x1b", "\\e").replace("\x07", "\\a") \
        .replace("\x9b", "\\x9b").replace("\u202e", "\\u202e")
    gpu = GPU.format(memory="24 GiB").replace("name: Mine", f'name: "{text}"').replace("source: test", f'source: "{text}"')
    rules = ruleset([("bad", "params_total * precision.bits")]).replace("    formula: params_total", f'    label: "{text}"\n    formula: params_total')
    return overlay(tmp_path, {"gpus.yaml": gpu, "rules/hostile.yaml": rules})


@pytest.mark.parametrize("args", [
    ["eval", "--model", "llama3.1-8b", "--gpu", "my-gpu", "--explain"],
    ["eval", "--model", "llama3.1-8b", "--gpu", "my-gpu", "--rules", "hostile", "--mode", "m", "--explain"],
    ["fit", "--model", "llama3.1-8b", "--gpu", "my-gpu"],
], ids=["eval", "eval-rule-label", "fit"])
def test_escape_sequences_in_data_are_shown_not_obeyed(tmp_path, args):
    data = hostile_gpu(tmp_path)
    r = cli(*args, "--data", data)
    assert r.exit_code == 0, r.output
    assert not CONTROLS.search(r.output), repr(r.output)
    assert "\nverdict FITS" not in r.output  # the name's newline did not start a line of its own
    if args[0] == "eval":
        assert SHOWN in r.output


def test_escape_sequences_from_nvidia_smi_are_shown_not_obeyed(tmp_path):
    fake_tool(tmp_path, "nvidia-smi", b"NVIDIA \x1b]0;owned\x07 RTX 4090, 24564, 512\n")
    r = cli("eval", "--model", "llama3.1-8b", "--gpu", "auto", env={"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"})
    assert r.exit_code == 0, r.output
    assert "(NVIDIA \\x1b]0;owned\\x07 RTX 4090, 24564 MiB)" in r.output
    assert not CONTROLS.search(r.output)


def test_renderers_escape_controls_but_keep_their_own_characters():
    from vramrules.render import terminal

    assert terminal.inert("a\x1b[31mb\x07\u2028c") == "a\\x1b[31mb\\x07\\u2028c"
    assert terminal.inert("NVIDIA H100 · 80 GiB ▓") == "NVIDIA H100 · 80 GiB ▓"
    assert terminal.inert_lines("one\ntwo\x1b") == "one\ntwo\\x1b"


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "ascii"])
def test_text_output_on_a_terminal_that_is_not_utf8(encoding):
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    r = subprocess.run([sys.executable, "-m", "vramrules.cli", "eval", "--model", "llama3.1-8b", "--gpu", "rtx-4090", "--explain"],
                       capture_output=True, env=env, timeout=120, check=False)
    assert r.returncode == 0, r.stderr.decode(encoding, "replace")
    out = r.stdout.decode(encoding)
    assert "internal error" not in out
    assert "verdict          FITS on 1 x rtx-4090" in out
    assert re.search(r"\[@+X", out) and "@ weights  X KV cache" in out  # the bar, in ASCII stand-ins


# ---------------------------------------------------------------- 6. writing a report where it cannot be written

REPORT = ["report", "--models", "llama3.1-8b", "--modes", "inference", "--gpus", "rtx-4090"]


def test_a_report_under_proc_is_a_clear_error():
    r = cli(*REPORT, "--out", "/proc/vramrules-report.html")
    assert r.exit_code in (1, 2), r.output
    assert "/proc/vramrules-report.html" in r.output and "internal error" not in r.output


def test_a_report_into_a_read_only_folder_is_a_clear_error(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root writes anyway: make the folder refuse the temporary file as it would
        import tempfile

        def refuse(*a, **kw):
            raise PermissionError(13, "Permission denied", str(folder))

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    try:
        r = cli(*REPORT, "--out", folder / "review.html")
    finally:
        folder.chmod(0o755)
    assert r.exit_code in (1, 2), r.output
    assert "review.html" in r.output and "Permission denied" in r.output and "internal error" not in r.output
    assert not (folder / "review.html").exists()
