"""Running the CLI from a test: the exit code and output of `vramrules ARGS` (through Click's
CliRunner, exceptions caught as the command line would show them), its JSON document, and a data
overlay of one extra rule for the tests that check what a rule may read when it loads."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vramrules.cli import main


def run(*args) -> tuple[int, str]:
    """(exit code, output) of the CLI; each argument is passed as str() (a Path, a number)."""
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.output


def doc(*args) -> dict:
    """The JSON document the CLI prints with --format json; the command must succeed."""
    code, out = run(*args, "--format", "json")
    assert code == 0, out
    return json.loads(out)


def one_rule_overlay(tmp_path: Path, formula: str, summary: str = "a test") -> Path:
    """A data folder (TMP/org) whose rules/default.yaml adds the rule `extra_check: FORMULA` (in
    bytes) to the inference mode's report."""
    d = tmp_path / "org" / "rules"
    d.mkdir(parents=True)
    (d / "default.yaml").write_text(f"""modes:
  inference:
    rules:
      extra_check: {{formula: "{formula}", unit: B, doc: {summary}}}
    report: [extra_check]
""", encoding="utf-8")
    return tmp_path / "org"


VLLM_HEAD = """engines:
  vllm:
    name: vLLM
    rules: default
    mode: serve
    releases: {first: '0.6.0', last: '0.27.1'}
    source: test
"""


def vllm_overlay(tmp_path: Path, rest: str) -> Path:
    """A data folder (TMP itself) whose engines.yaml holds a vllm profile: its fixed head (lines
    1-7: name, rules, mode, releases 0.6.0 to 0.27.1, source) then `rest` from line 8 on."""
    (tmp_path / "engines.yaml").write_text(VLLM_HEAD + rest, encoding="utf-8")
    return tmp_path
