"""Issue 19: hostile data that used to be misread, hang, crash (exit 70) or reach the terminal
raw. Each test drives the CLI (`--data DIR` overlays written here) and asserts the exit code and
the message."""
import re

import pytest
from click.testing import CliRunner

from vramrules.cli import main

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
