"""The README is run, not trusted: every command of its sh/bash/console blocks runs in a fresh
folder (holding the files the README's own text creates, and stand-ins for the user's files it
names), exits as documented, and prints the figures written beside it; every output block
shows numbers the program prints; the Python API block runs.

Conventions the README follows, so that this test can read it:
  - a comment starting `# exit N:` states the exit code (otherwise 0);
  - a figure in a comment (`28.00 GB`, `1,875,000,000 B`, `158,377 tokens`, `3 sequences`) is
    printed by the command;
  - a ```yaml block whose lines include `# org-data/NAME` is a file the reader creates;
  - an unlabelled block is either an output block listed in OUTPUT_OF or listed in NOT_OUTPUT.
Commands that cannot run here are in SKIP, each with the reason."""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tiny_gguf

from vramrules.errors import CODES

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
HF = Path(__file__).resolve().parent / "cases" / "hf"

# Commands that do not run in a test, and why. The set-up commands of the first two blocks are
# run by .ci/run in a fresh virtual environment.
SKIP = {
    "pip install '.[test]' && python -m pytest -q": "the test suite itself (.ci/run runs it)",
    "vramrules eval --model hf:Qwen/Qwen3-8B --gpu rtx-4090": "needs the Hugging Face Hub (tests/test_hub.py serves a fake one)",
    "vramrules eval --model hf:bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M --gpu l4": "needs the Hugging Face Hub (tests/test_hub.py serves a fake one)",
    "vramrules eval --model ollama:llama3.1:8b --gpu rtx-4090": "needs an Ollama install (tests/test_hub.py builds one in tmp_path)",
    "vramrules ingest vllm-startup.log --gpu h100-sxm-80gb --into org-data/measurements.yaml --dry-run":
        "needs the reader's log (tests/test_engine_logs.py ingests the 40 logs of tests/cases/engine-logs/)",
    "vramrules serve --port 8000": "a server that runs until stopped (tests/test_service_http.py starts one on a free loopback port)",
    "curl -s localhost:8000/v1/eval -H 'Content-Type: application/json' -d '{\"model\": \"llama3.1-8b\", \"gpu\": \"rtx-4090\", \"seq_len\": \"32k\"}'":
        "needs that server (tests/test_service_http.py sends the same request)",
    "vramrules record --into org-data/measurements.yaml --model llama3.1-8b --mode train-lora -b 4 -- train.py --lr 1e-4":
        "needs torch (the optional extra vramrules[torch]), a CUDA GPU and the reader's train.py",
}
# What a command needs that a test cannot give it as written: (old, new, why).
REWRITE = [
    ("pip install . && ", "", "the install is .ci/run's job; the test runs the installed checkout"),
    (" && chromium --headless --no-sandbox --disable-gpu --window-size=1200,2400 --screenshot=/tmp/review.png file:///tmp/review.html",
     "", "a browser (tests/test_report_browser.py loads the report in headless Chromium)"),
    ("--out /tmp/review.html", "--out review.html", "a file of the test's own folder, not one shared with other runs"),
]
# Outcomes besides the documented one that are also right: the shipped review dates age, and
# after 180 days `--stale 180` exiting 4 is the documented answer.
ALSO = {"--stale 180": {4}}
# Unlabelled blocks: the first line of an output block -> the README command that prints it.
OUTPUT_OF = {
    "llama3-70b · train-lora · rules: default": "vramrules eval --model llama3-70b --mode train-lora --gpu h100-sxm-80gb",
    "GPUs: rtx-4090+rtx-3090 (2 GPUs, tp 2 x pp 1 x dp 1)": "vramrules eval --model llama3.1-8b --gpu rtx-4090+rtx-3090",
    "largest seq-len that fits on 1 x rtx-4090: 53,921": "vramrules fit --model llama3.1-8b --gpu rtx-4090 --max seq-len",
    "vLLM 0.15.1 launch command:": "vramrules eval --model llama3.1-8b --gpu a100-40gb --engine vllm@0.15.1",
}
NOT_OUTPUT = {
    "data/gpus.yaml:": "validate's errors for broken copies of the data: test_error_block_is_real_output",
    "errors contract valuekinds writefile version": "the module map: test_module_map_names_real_modules",
}
# Figures of the prose beside a command, printed by it (the calibration paragraph).
PROSE = {
    "vramrules calibrate --fit allocator_fragmentation,cuda_context --out calibrated/": [
        ("allocator_fragmentation` moves from 0.05 to 0.08964", "0.08964"),
        ("falls from 1.8% to 0.3%", "1.8%"), ("falls from 1.8% to 0.3%", "0.3%")],
}
FIGURE = re.compile(r"(?<![\w.,])(\d[\d,]*(?:\.\d+)?) ?(GiB|GB|MiB|MB|KiB|TiB|TB|B|tokens|sequences)\b")
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


@dataclass
class Block:
    lang: str
    line: int  # of the opening fence
    heading: str
    text: str
    lines: list = field(default_factory=list)  # (line number, text)


def readme_blocks() -> list:
    out, heading, block = [], "", None
    for n, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        if block is None:
            m = re.match(r"^```(\S*)\s*$", line)
            if m:
                block = Block(m.group(1), n, heading, "")
            elif line.startswith("#"):
                heading = line.lstrip("#").strip()
        elif line.rstrip() == "```":
            block.text = "".join(t + "\n" for _, t in block.lines)
            out.append(block)
            block = None
        else:
            block.lines.append((n, line))
    assert block is None, f"README.md:{block.line}: a fence that is never closed"
    return out


def split_comment(line: str):
    """`cmd   # comment` -> (cmd, comment); a # inside quotes or a word is not a comment."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


@dataclass
class Command:
    line: int
    text: str  # as written (continuations joined, comment removed)
    comment: str
    run: str  # what the test runs


def shell_commands(block: Block) -> list:
    out, pending, start = [], "", 0
    for n, raw in block.lines:
        if block.lang == "console":
            if not raw.startswith("$ "):
                continue  # output
            raw = raw[2:]
        if not pending:
            start = n
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1].rstrip() + " "
            continue
        text, comment = split_comment(pending + raw.strip())
        pending = ""
        if not text:
            continue
        run = text
        for old, new, _ in REWRITE:
            run = run.replace(old, new)
        out.append(Command(start, " ".join(text.split()), comment, run))
    return out


BLOCKS = readme_blocks()
SHELL = [b for b in BLOCKS if b.lang in ("sh", "bash", "console", "shell")]


def all_commands() -> list:
    return [c for b in SHELL for c in shell_commands(b)]


def org_files(heading: str = "") -> dict:
    """The files the README's yaml blocks say the reader creates (`# org-data/NAME` lines): those
    of the section `heading` where it has some (the policy section's overlay is not the DPO
    example's), else all of them."""
    files: dict = {}
    for b in BLOCKS:
        if b.lang != "yaml":
            continue
        current = None
        for _, line in b.lines:
            m = re.match(r"^# (org-data/\S+)\s*$", line)
            if m:
                current = m.group(1)
                assert current not in files, f"the README defines {current} twice"
                files[current] = (b.heading, "")
            elif current:
                files[current] = (b.heading, files[current][1] + line + "\n")
    own = {rel: text for rel, (where, text) in files.items() if where == heading}
    return own or {rel: text for rel, (_, text) in files.items()}


def _fake_tool(folder: Path, name: str, output: str):
    script = folder / name
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({output!r})\n")
    script.chmod(0o755)


def _safetensors(path: Path, tensors: dict):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in tensors.items():
        n = 2  # BF16
        for d in shape:
            n *= d
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))


TINY = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 256, "tie_word_embeddings": False}


def _model_folder(folder: Path):
    """A config.json and a safetensors shard that holds exactly its tensors."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(TINY))
    tensors = {"model.embed_tokens.weight": (100, 64), "lm_head.weight": (100, 64), "model.norm.weight": (64,)}
    for i in range(2):
        for name, shape in (("self_attn.q_proj", (64, 64)), ("self_attn.k_proj", (32, 64)), ("self_attn.v_proj", (32, 64)),
                            ("self_attn.o_proj", (64, 64)), ("mlp.gate_proj", (128, 64)), ("mlp.up_proj", (128, 64)),
                            ("mlp.down_proj", (64, 128)), ("input_layernorm", (64,)), ("post_attention_layernorm", (64,))):
            tensors[f"model.layers.{i}.{name}.weight"] = shape
    _safetensors(folder / "model-00001-of-00001.safetensors", tensors)


def _gguf(path: Path) -> bool:
    try:
        import gguf  # noqa: F401
    except ImportError:
        return False
    tiny_gguf.write(path)
    return True


def _git(folder: Path, *args):
    subprocess.run(["git", "-c", "user.name=readme-test", "-c", "user.email=readme@test", "-c", "init.defaultBranch=main", *args],
                   cwd=folder, check=True, capture_output=True)


@pytest.fixture
def reader(tmp_path, request):
    """A reader's folder: the README's own files, stand-ins for the files it says are the
    reader's (a config.json, a model folder, a GGUF file, nvidia-smi), and a git checkout with
    org-data/ committed on main and edited in the working copy (the policy section's setting).
    `vramrules` on PATH is this interpreter's, so the commands test this checkout."""
    block = getattr(request, "param", None)
    home = tmp_path / "reader"
    home.mkdir()
    for rel, text in org_files(block.heading if block else "").items():
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text(text, encoding="utf-8")
    (home / "path" / "to").mkdir(parents=True)
    shutil.copy(HF / "llama3.1-8b.json", home / "path" / "to" / "config.json")
    _model_folder(home / "path" / "to" / "model-folder")
    has_gguf = _gguf(home / "model.Q4_K_M.gguf")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "vramrules"
    exe.write_text(f"#!{sys.executable}\nimport sys\nfrom vramrules.cli import main\nsys.exit(main())\n")
    exe.chmod(0o755)
    _fake_tool(bin_dir, "nvidia-smi", "NVIDIA GeForce RTX 4090, 24564, 512\n")
    if shutil.which("git"):
        _git(home, "init", "-q")
        _git(home, "symbolic-ref", "HEAD", "refs/heads/main")
        _git(home, "add", "org-data")
        _git(home, "commit", "-q", "-m", "org-data as reviewed")
        assumptions = home / "org-data" / "assumptions.yaml"
        if assumptions.is_file():  # the proposed change
            text = assumptions.read_text(encoding="utf-8")
            assert "value: 600 MiB" in text
            assumptions.write_text(text.replace("value: 600 MiB", "value: 800 MiB"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("VRAMRULES_DATA", "VRAMRULES_NO_CACHE", "VRAMRULES_DEBUG")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return {"home": home, "env": env, "gguf": has_gguf}


def bash(reader, script: str, timeout: float = 300):
    return subprocess.run(["bash", "-c", script], cwd=reader["home"], env=reader["env"], capture_output=True, text=True,
                          timeout=timeout)


def expected_codes(cmd: Command) -> set:
    m = re.match(r"exit (\d+):", cmd.comment)
    codes = {int(m.group(1))} if m else {0}
    for needle, more in ALSO.items():
        if needle in cmd.text:
            codes |= more
    return codes


def number_tokens(text: str) -> set:
    return set(NUMBER.findall(text))


def check(reader, cmd: Command) -> list:
    """Run one README command; the list of what is wrong with it."""
    if cmd.text in SKIP:
        return []
    if cmd.run.startswith("pip ") or cmd.run.startswith("python "):
        return [f"README.md:{cmd.line}: a set-up command not in SKIP: {cmd.text}"]
    if "model.Q4_K_M.gguf" in cmd.run and not reader["gguf"]:
        return []  # the optional extra vramrules[gguf] is not installed
    script = cmd.run
    if script.startswith('eval "$(_VRAMRULES_COMPLETE='):
        script += "\ncomplete -p vramrules"  # the completion function is registered
    elif not script.startswith("vramrules "):
        return [f"README.md:{cmd.line}: not a vramrules command; make it one or add it to SKIP with the reason: {cmd.text}"]
    r = bash(reader, script)
    out = r.stdout + r.stderr
    problems = []
    where = f"README.md:{cmd.line}: {cmd.text}"
    if r.returncode not in expected_codes(cmd):
        problems.append(f"{where}\n  exit {r.returncode}, documented {sorted(expected_codes(cmd))}\n{out[-2000:]}")
    if "Traceback" in out or "internal error" in out:
        problems.append(f"{where}\n  a traceback\n{out[-2000:]}")
    for number, unit in FIGURE.findall(cmd.comment):
        if unit in ("tokens", "sequences"):
            if number not in number_tokens(out):
                problems.append(f"{where}\n  the README says {number} {unit}; the output does not have {number}")
        elif f"{number} {unit}" not in out:
            problems.append(f"{where}\n  the README says {number} {unit}; the output does not\n{out[-3000:]}")
    for prose, figure in PROSE.get(cmd.text, []):
        assert prose in README.read_text(encoding="utf-8"), f"PROSE names a sentence the README no longer has: {prose!r}"
        if figure not in out:
            problems.append(f"{where}\n  the README's prose says {figure} ({prose!r}); the output does not\n{out[-3000:]}")
    for block in BLOCKS:
        first = block.lines[0][1].strip() if block.lines else ""
        if block.lang == "" and OUTPUT_OF.get(first) == cmd.run:
            missing = number_tokens(block.text) - number_tokens(out)
            if missing:
                problems.append(f"{where}\n  the output block at README.md:{block.line} shows {sorted(missing)}, "
                                f"which the command does not print\n{out[-3000:]}")
    return problems


@pytest.mark.parametrize("block,reader", [(b, b) for b in SHELL], indirect=["reader"], ids=[f"L{b.line}-{re.sub(r'[^A-Za-z0-9]+', '-', b.heading)[:40].strip('-')}" for b in SHELL])
def test_every_command_of_the_readme_runs_as_documented(block, reader):
    if any("git:" in c.run for c in shell_commands(block)) and not shutil.which("git"):
        pytest.skip("git is not installed")
    problems = []
    for cmd in shell_commands(block):  # in order, in one folder: a command may use what the one before made
        problems += check(reader, cmd)
    assert not problems, "\n\n".join(problems)


def test_the_lists_of_this_test_name_what_the_readme_has():
    texts = {c.text for c in all_commands()} | {c.run for c in all_commands()}
    assert set(SKIP) <= texts, set(SKIP) - texts
    assert set(OUTPUT_OF.values()) <= texts, set(OUTPUT_OF.values()) - texts
    for _, _, why in REWRITE:
        assert why
    # every unlabelled block is an output block of a command, or a known other kind
    for b in BLOCKS:
        if b.lang == "":
            first = b.lines[0][1].strip()
            assert first in OUTPUT_OF or any(first.startswith(k) for k in NOT_OUTPUT), \
                f"README.md:{b.line}: an unlabelled block that is neither an output listed in OUTPUT_OF nor in NOT_OUTPUT: {first!r}"
        else:
            assert b.lang in ("sh", "bash", "console", "shell", "yaml", "python"), f"README.md:{b.line}: a ```{b.lang} block"


def test_no_command_is_a_shell_pipe_or_a_usage_synopsis():
    """Pasted into a shell, `list models|gpus` is a pipe and `[--format json]` two odd arguments."""
    for c in all_commands():
        if c.text in SKIP:
            continue
        assert not re.search(r"\|(?!\|)", c.run) and "[" not in c.run, f"README.md:{c.line}: not runnable as written: {c.text}"


def test_the_python_api_block_runs(reader):
    code = next(b.text for b in BLOCKS if b.lang == "python" and "import vramrules" in b.text)
    code += "\nassert callable(fit.min_gpus) and callable(fit.max_value)\nassert isinstance(r.to_json(), dict)\n"
    r = subprocess.run([sys.executable, "-c", code], cwd=reader["home"], env=reader["env"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"### {title}")
    end = text.find("\n#", start + 4)
    return text[start:end if end > 0 else None]


def test_the_json_section_names_every_key_the_program_writes(reader):
    r = bash(reader, "vramrules eval --model llama3-70b --mode train-full --gpu h100-sxm-80gb --dp 8 --zero 3 --offload optimizer "
                     "--set assume.cuda_context='1 GiB' --explain --format json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    section = _section("JSON output (`--format json`)")
    keys = set(doc) | {f"model.{k}" for k in doc["model"]} | {f"fit.{k}" for k in doc["fit"]} \
        | {f"fit.devices.{k}" for k in doc["fit"]["devices"][0]} | {f"layout.{k}" for k in doc["layout"]} \
        | {f"host.{k}" for k in doc["host"]} | {f"host.components.{k}" for k in doc["host"]["components"][0]} \
        | {f"components.{k}" for k in doc["components"][0]} | {f"derivation.{k}" for k in doc["derivation"][0]} \
        | {f"derivation.inputs.{k}" for k in doc["derivation"][0]["inputs"][0]} \
        | {f"overrides.{k}" for k in doc["overrides"]["assume.cuda_context"]} | {f"total.{k}" for k in doc["total"]}
    missing = sorted(k for k in keys if f"`{k.rsplit('.', 1)[-1]}`" not in section and f'"{k.rsplit(".", 1)[-1]}"' not in section)
    assert not missing, f"keys the JSON has and the README's JSON section does not name: {missing}"
    # the example quantity is llama3-70b's bf16 weights, as the program writes it
    shown = json.loads(re.search(r"Every memory quantity is `(\{.*?\})`", section, re.S).group(1))
    r = bash(reader, "vramrules eval --model llama3-70b --mode train-lora --format json")
    weights = next(c for c in json.loads(r.stdout)["components"] if c["name"] == "weights")
    assert weights["memory"] == shown, (weights["memory"], shown)


def test_error_codes_are_the_ones_the_program_has():
    text = README.read_text(encoding="utf-8")
    m = re.search(r"name the stage that found the problem:(.*?)\(`vramrules\.errors\.CODES`", text, re.S)
    assert m, "the README's list of error codes"
    assert set(re.findall(r"`(\w+)`", m.group(1))) == set(CODES)


def _validate_copy(reader, edits: list) -> str:
    """validate of a copy of the built-in data with each (file, rule or None, pattern, replacement)
    applied once: within the rule's block when a rule is named, so a formula may be reworded."""
    from vramrules.reading.datadir import builtin_data

    data = reader["home"] / "data"
    if data.exists():
        shutil.rmtree(data)
    shutil.copytree(builtin_data(), data)
    for rel, rule, pattern, new in edits:
        p = data / rel
        text = p.read_text(encoding="utf-8")
        start = text.index(f"\n  {rule}:\n") if rule else 0
        tail, n = re.subn(pattern, new, text[start:], count=1)
        assert n == 1, (rel, rule, pattern)
        p.write_text(text[:start] + tail, encoding="utf-8")
    r = bash(reader, "vramrules validate --data data --only")
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    return r.stdout + r.stderr


def test_error_block_is_real_output(reader):
    """"Real output for a copy of the data with a mistyped unit, then with a misspelled field and a
    cycle in the rules": both runs print the README's lines, file, column and message exactly.
    The line numbers move with every edit of the data above them, so they are compared as the
    line of the edited text in the shipped file, not as written."""
    block = next(b for b in BLOCKS if b.lang == "" and b.lines[0][1].startswith("data/gpus.yaml:"))
    shown = [line for _, line in block.lines]
    unit = _validate_copy(reader, [("gpus.yaml", None, r"memory: 80 GiB\n", "memory: 80 GiBB\n")])
    rules = _validate_copy(reader, [  # kv_bytes_per_token's first name misspelled; group_kv_tokens made to read kv_cache
        ("rules/default.yaml", "kv_bytes_per_token", r"formula: [\w.]+", "formula: model.num_layer"),
        ("rules/default.yaml", "group_kv_tokens", r"(else context_tokens\))(\"?)\n", r"\1 + kv_cache / B\2\n")])
    def lineless(text):
        return re.sub(r"^(\S+?\.yaml):\d+:", r"\1:LINE:", text)

    printed = [lineless(line) for line in (unit + rules).splitlines()]
    for line in shown:
        assert lineless(line) in printed, f"the README shows\n  {line}\nthe program prints\n  " + "\n  ".join(printed)


def test_module_map_names_real_modules():
    block = next(b for b in BLOCKS if b.lang == "" and b.lines[0][1].startswith("errors contract"))
    for _, line in block.lines:
        names = line.split("  ")[0].split() if line.startswith("errors") else [line.split()[0]]
        for name in names:
            path = ROOT / "engine" / name.rstrip("/")
            assert path.is_dir() if name.endswith("/") else path.with_suffix(".py").is_file() or path.is_file(), name


def test_the_data_table_counts_what_ships(catalog):
    text = README.read_text(encoding="utf-8")
    counts = {"architectures": len(catalog.kind("model")), "accelerators": len(catalog.kind("gpu")),
              "storage formats": len(catalog.kind("precision")), "optimizers as state bytes": len(catalog.kind("optimizer")),
              "published measured runs": len(catalog.kind("measurement"))}
    for words, n in counts.items():
        m = re.search(rf"\| (\d+) {words}", text)
        assert m and int(m.group(1)) == n, f"the README's data table says {m and m.group(1)} {words}; the data has {n}"
