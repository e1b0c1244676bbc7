"""What the catalog commands, the error messages and the JSON output print, whatever the data
or the arguments hold: no raw control character reaches the terminal (escape sequences are shown
as \\x1b), and a stream that is not UTF-8 (PYTHONIOENCODING=latin-1, cp1252) never makes a
command fail with exit 70."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from vramrules.cli import main
from vramrules.commands.output import json_text

HF = Path(__file__).resolve().parent.parent / "cases" / "hf"
# ESC (CSI clear screen), BEL, RLO, C1 CSI, the line and paragraph separators, and a newline
HOSTILE = "A\x1b[2J\x07\u202e\x9b31m\u2028\u2029\nfake line"
CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _yaml(text: str) -> str:
    """A YAML double-quoted scalar holding text."""
    return '"' + "".join(ch if ch.isprintable() and ch not in '"\\' else f"\\u{ord(ch):04x}" for ch in text) + '"'


def hostile_overlay(tmp_path, text=HOSTILE):
    """gpus.yaml: a new GPU whose name and source are `text`, and h100-sxm-80gb's source too."""
    (tmp_path / "gpus.yaml").write_text(
        "gpus:\n"
        "  my-gpu:\n"
        f"    name: {_yaml(text)}\n"
        "    vendor: nvidia\n"
        "    class: datacenter\n"
        "    memory: 24 GiB\n"
        f"    source: {_yaml(text)}\n"
        "  h100-sxm-80gb:\n"
        f"    source: {_yaml(text)}\n", encoding="utf-8")
    return tmp_path


def cli(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kw)


def fresh(*args, encoding="utf-8"):
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    return subprocess.run([sys.executable, "-m", "vramrules.cli", *map(str, args)], capture_output=True, env=env, timeout=120,
                          check=False)


# ---------------------------------------------------------------- list and show

@pytest.mark.parametrize("args", [["list", "gpus"], ["show", "gpu", "my-gpu"], ["show", "gpu", "h100-sxm-80gb"]],
                         ids=["list", "show-new", "show-overridden"])
def test_list_and_show_print_data_provided_text_inert(tmp_path, args):
    r = cli(*args, "--data", hostile_overlay(tmp_path))
    assert r.exit_code == 0, r.output
    assert not CONTROLS.search(r.output), repr(r.output)
    assert "\\x1b[2J\\x07\\u202e\\x9b31m\\u2028\\u2029\\nfake line" in r.output
    assert "\nfake line" not in r.output  # the name's newline did not start a line of its own


def test_assumptions_print_data_provided_text_inert(tmp_path):
    (tmp_path / "assumptions.yaml").write_text(f"assumptions:\n  cuda_context:\n    value: 500 MiB\n    source: {_yaml(HOSTILE)}\n"
                                               f"    owner: {_yaml(HOSTILE)}\n", encoding="utf-8")
    r = cli("assumptions", "--data", tmp_path)
    assert r.exit_code == 0, r.output
    assert not CONTROLS.search(r.output), repr(r.output)


# ---------------------------------------------------------------- streams that are not UTF-8

@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
@pytest.mark.parametrize("args", [["list", "gpus"], ["show", "gpu", "h100-sxm-80gb"], ["show", "gpu", "my-gpu"], ["assumptions"],
                                  ["list", "gpus", "--format", "json"], ["show", "gpu", "my-gpu", "--format", "json"],
                                  ["list", "assumptions", "--format", "json"]])
def test_catalog_commands_on_a_stream_that_is_not_utf8(tmp_path, args, encoding):
    """The overlay's name holds characters latin-1 and cp1252 lack (Ω, U+202E); the built-in
    assumptions hold some too (≈, →)."""
    r = fresh(*args, "--data", hostile_overlay(tmp_path, "Ω \u202e — GPU"), encoding=encoding)
    assert r.returncode == 0, r.stderr.decode(encoding, "replace")
    out = r.stdout.decode(encoding)
    if "json" in args:
        assert out.isascii()
        doc = json.loads(out)
        if args[0] == "list" and args[1] == "gpus":
            assert {g["id"]: g["name"] for g in doc}["my-gpu"] == "Ω \u202e — GPU"  # escaped, not lost
    else:
        assert "\\u202e" in out or args == ["assumptions"]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_any_output_on_a_stream_that_is_not_utf8_is_printed_not_exit_70(tmp_path, encoding):
    """import prints YAML with the folder's name in it, not through a renderer: the streams
    themselves write what their encoding lacks as an escape."""
    folder = tmp_path / "Ω-model"
    folder.mkdir()
    (folder / "config.json").write_text((HF / "llama3.1-8b.json").read_text())
    r = fresh("import", folder, encoding=encoding)
    assert r.returncode == 0, r.stderr.decode(encoding, "replace")
    assert "\\u03a9-model/config.json (imported by vramrules)" in r.stdout.decode(encoding)


# ---------------------------------------------------------------- error messages

def test_an_unknown_model_carrying_escape_sequences_is_shown_inert():
    r = fresh("eval", "--model", "\x1b]0;pwned\x07\x1b[2J")
    assert r.returncode == 2
    err = r.stderr.decode()
    assert "unknown model '\\x1b]0;pwned\\x07\\x1b[2J'" in err, err
    assert "\x1b" not in err and "\x07" not in err


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_an_error_message_on_a_stream_that_is_not_utf8(encoding):
    r = fresh("eval", "--model", "Ω\u202e\x1b[2J", encoding=encoding)
    assert r.returncode == 2, r.stderr
    err = r.stderr.decode(encoding)
    assert "internal error" not in err and "\x1b" not in err
    assert "unknown model '\\u03a9\\u202e\\x1b[2J'" in err, err


def test_a_located_error_echoing_the_data_is_shown_inert(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "x\x1b[2J\u202e\nfake: line"}))
    r = cli("eval", "--model-config", tmp_path)
    assert r.exit_code == 2, r.output
    assert not CONTROLS.search(r.output), repr(r.output)
    assert "model_type 'x\\x1b[2J\\u202e\\nfake: line' is not one vramrules can import" in r.output


@pytest.mark.parametrize("args", [["list", "\x1b[2J"], ["\x1b[2Jeval"], ["eval", "--\x1b[2J"]], ids=["choice", "command", "option"])
def test_clicks_own_errors_quote_arguments_inert(args):
    """click quotes an argument with repr(): a guard that it stays so."""
    r = cli(*args)
    assert r.exit_code == 2, r.output
    assert "\x1b" not in r.output and "\\x1b[2J" in r.output, repr(r.output)


# ---------------------------------------------------------------- JSON

def test_json_output_escapes_c1_controls_and_line_separators(tmp_path):
    r = cli("list", "gpus", "--format", "json", "--data", hostile_overlay(tmp_path))
    assert r.exit_code == 0, r.output
    assert not CONTROLS.search(r.output.replace("\n", "")), repr(r.output)
    assert "\\u009b31m\\u2028\\u2029" in r.output
    assert {g["id"]: g["name"] for g in json.loads(r.output)}["my-gpu"] == HOSTILE


@pytest.mark.parametrize("args", [
    ["eval", "--model", "llama3.1-8b", "--gpu", "my-gpu", "--format", "json", "--explain"],
    ["fit", "--model", "llama3.1-8b", "--gpu", "my-gpu", "--format", "json"],
    ["sweep", "--model", "llama3.1-8b", "--mode", "inference", "--gpu", "my-gpu", "--format", "json"],
], ids=["eval", "fit", "sweep"])
def test_eval_fit_and_sweep_json_escape_what_the_data_holds(tmp_path, args):
    r = cli(*args, "--data", hostile_overlay(tmp_path))
    assert r.exit_code == 0, r.output
    assert not CONTROLS.search(r.output.replace("\n", "")), repr(r.output)  # the newlines between JSON lines are the only controls
    json.loads(r.output)


def test_json_error_objects_escape_what_the_arguments_hold():
    r = cli("eval", "--model", "\x9b2J\u2028x", "--format", "json")
    assert r.exit_code == 2
    assert not CONTROLS.search(r.output.replace("\n", "")), repr(r.output)
    assert "\x9b2J\u2028x" in json.loads(r.output)[0]["message"]


@pytest.mark.parametrize("value", ["plain", "é · ▓ 中", "\x7f", "\x85\x9b", "\u2028\u2029\u202e", "\U000e0001 tag", "\udcff lone",
                                   {"k\x9b": ["\u2066", 1, None]}])
def test_json_text_is_printable_and_reads_back(value):
    class Latin1:
        encoding = "latin-1"

    for stream in (None, Latin1()):
        text = json_text(value, stream, indent=1)
        assert all(ch.isprintable() or ch in " \n" for ch in text), repr(text)
        assert json.loads(text) == value
    assert json_text("é 中", Latin1()) == '"\\u00e9 \\u4e2d"'  # ASCII where the stream lacks a character
    assert json_text("é ·", Latin1()) == '"é ·"'  # ... and as it is where the stream has them all
