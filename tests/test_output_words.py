"""Issue 19, the user's words: output fits the terminal it is printed on; --explain reads from
the total down and names files relative to their data folder; no fractional bytes anywhere, and
integer inputs are JSON integers."""
import json
import math
import os
import re

import pytest
from click.testing import CliRunner

import vramrules
from vramrules.cli import main
from vramrules.reading.datadir import builtin_data_dir
from vramrules.render import terminal


def run(*args, columns="80", **env):
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, env={"COLUMNS": columns, **env})
    return r.exit_code, r.output


def cells(text: str) -> int:
    """Terminal columns, counted here on their own (not by the code under test)."""
    import unicodedata

    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def widest(text: str) -> int:
    return max(cells(line) for line in text.splitlines())


def overlong(text: str, width: int = 80) -> list:
    """Lines wider than `width`, but for those that are an indent and one word (a URL or a path
    longer than any line: kept whole, so it can be copied) after at most a short label."""
    return [line for line in text.splitlines()
            if cells(line) > width and cells(line) - max(cells(w) for w in line.split()) > 20]


# ---------------------------------------------------------------- A. the width of the terminal

def test_width_is_columns_then_the_terminal_then_80(monkeypatch):
    class Pipe:
        def isatty(self):
            return False

    class Tty:
        def isatty(self):
            return True

        def fileno(self):
            return 99

    monkeypatch.setenv("COLUMNS", "120")
    assert terminal.width(Pipe()) == 120 and terminal.width(Tty()) == 120  # COLUMNS first, as the user said
    monkeypatch.setenv("COLUMNS", "12")
    assert terminal.width(Pipe()) == terminal.MIN_WIDTH == 40
    for junk in ("", "wide", "-5", "0"):
        monkeypatch.setenv("COLUMNS", junk)
        assert terminal.width(Pipe()) == 80  # a pipe or a file: 80
    monkeypatch.delenv("COLUMNS")
    monkeypatch.setattr(os, "get_terminal_size", lambda fd: os.terminal_size((132, 40)))
    assert terminal.width(Tty()) == 132 and terminal.width(Pipe()) == 80


def test_wrap_never_breaks_a_number_or_parts_it_from_its_unit():
    lines = terminal.wrap("usable per GPU 79.65 GiB (driver reports 81559 MiB) needed 147.64 GiB in all", 24, "  ", "    ")
    assert all(cells(line) <= 24 for line in lines)
    text = "\n".join(lines)
    for whole in ("79.65 GiB", "81559 MiB)", "147.64 GiB"):
        assert whole in text
    assert terminal.wrap("a · bb · ccc", 8, "", "", " · ") == ["a · bb", "ccc"]
    url = "https://example.org/" + "x" * 90
    assert terminal.wrap(f"see {url} here", 40) == ["see", url, "here"]  # a URL is not cut


def test_eval_fits_80_columns():
    code, out = run("eval", "--model", "llama3-70b", "--mode", "train-lora", "--gpu", "h100-sxm-80gb")
    assert code == 0
    assert widest(out) <= 80  # was 197: the bar and its caption, the legend, the inputs line
    lines = out.splitlines()
    assert lines[1] == "  precision bf16 · optimizer adamw · LoRA r=16 on all-linear"
    assert lines[2] == "  adapters fp32 under autocast · batch 1 · seq_len 2,048 · activations hf"
    assert lines[3] == "  gradient checkpointing"
    bar = next(i for i, line in enumerate(lines) if line.startswith("  ["))
    assert lines[bar + 1] == "   147.90 GiB per GPU of 79.65 GiB usable (| marks capacity)"
    assert "    verdict          DOES NOT FIT on 1 x h100-sxm-80gb; needs 2 x h100-sxm-80gb" in lines


def test_eval_honours_a_wider_columns():
    code, out = run("eval", "--model", "llama3-70b", "--mode", "train-lora", "--gpu", "h100-sxm-80gb", columns="200")
    assert code == 0
    assert "] 147.90 GiB per GPU of 79.65 GiB usable (| marks capacity)" in out  # one line: the room is there
    assert "LoRA r=16 on all-linear · adapters fp32 under autocast · batch 1" in out


@pytest.mark.parametrize("args", [
    ("eval", "--model", "llama3.1-8b", "--mode", "serve", "--gpu", "l4", "--seq-len", "8192"),
    ("eval", "--model", "mixtral-8x7b", "--precision", "gguf-q4-k-m", "--gpu", "apple-m3-max-128gb", "--units", "B"),
    ("eval", "--model", "llama3.1-8b", "--gpu", "rtx-4090+rtx-3090"),
    ("eval", "--model", "llama3-70b", "--mode", "train-full", "--gpu", "h100-sxm-80gb", "--tp", "8", "--dp", "4", "--zero", "1",
     "--offload", "optimizer"),
    ("eval", "--model", "llama2-7b", "--seq-len", "8192", "--lora-rank", "64"),  # two warnings
])
def test_eval_variants_fit_80_columns(args):
    code, out = run(*args)
    assert code == 0, out
    assert widest(out) <= 80, [line for line in out.splitlines() if cells(line) > 80]


@pytest.mark.parametrize("what", ["models", "gpus", "precisions", "modes", "optimizers", "lora-targets", "rulesets", "assumptions"])
def test_list_fits_80_columns_and_loses_nothing(what):
    code, out = run("list", what)
    assert code == 0
    assert widest(out) <= 80
    _, wide = run("list", what, columns="400")
    assert widest(wide) > 80 or what == "lora-targets" or widest(wide) == widest(out)  # COLUMNS widens it
    words = lambda text: " ".join(text.split())  # noqa: E731
    items = json.loads(run("list", what, "--format", "json")[1])
    for item in items:
        key = item.get("id") or item["name"]
        assert re.search(rf"^{re.escape(key)}\s", out, re.M), key  # each entry's id starts its line
        last = item.get("name") if what not in ("modes", "rulesets", "assumptions") else item.get("summary")
        if last and what != "assumptions":
            assert words(last) in words(out)  # wrapped, not cut


def test_list_gpus_at_80_columns_puts_the_name_under_its_row():
    out = run("list", "gpus")[1].splitlines()
    row = next(i for i, line in enumerate(out) if line.startswith("h100-sxm-80gb "))
    assert out[row].split() == ["h100-sxm-80gb", "80", "GiB", "81559", "MiB", "79.65", "GiB", "nvidia"]
    assert out[row + 1] == "    NVIDIA H100 SXM5 80GB"


@pytest.mark.parametrize("args", [("show", "gpu", "h100-sxm-80gb"), ("show", "model", "llama3-70b"), ("show", "assumption", "cuda_context"),
                                  ("show", "rule", "kv_cache"), ("assumptions",)])
def test_show_and_assumptions_fit_80_columns(args):
    code, out = run(*args)
    assert code == 0
    assert not overlong(out), overlong(out)
    _, old_width = run(*args, columns="400")
    assert widest(old_width) > 80  # the same text, unwrapped, is wider


def test_show_names_the_file_within_its_layer():
    out = run("show", "gpu", "h100-sxm-80gb")[1]
    assert re.search(r"^ +<- gpus\.yaml:\d+:\d+ \(built-in\)$", out, re.M)
    assert builtin_data_dir() not in out


# ---------------------------------------------------------------- B. --explain, from the total down

def explain_steps(out: str) -> list:
    return re.findall(r"^  (\S+) = ", out, re.M)


def test_explain_reads_from_the_total_down():
    code, out = run("eval", "--model", "llama3-70b", "--mode", "train-lora", "--gpu", "h100-sxm-80gb", "--explain")
    assert code == 0 and "\nderivation, from the total down" in out
    body = out.split("derivation, from the total down", 1)[1]
    steps = explain_steps(body)
    assert steps[:4] == ["total", "weights", "weights_all", "params_total"]  # was: embedding_params first (evaluation order)
    assert len(steps) == len(set(steps))  # each rule once
    # each component is explained before the rules only it reads, in the order the total names them
    order = [steps.index(c) for c in ("weights", "adapter_weights", "gradients", "optimizer_states", "activations_training", "runtime_overhead")]
    assert order == sorted(order)
    assert steps.index("fits") > steps.index("runtime_overhead")


def test_explain_folds_zero_rules_and_branches_not_taken():
    out = run("eval", "--model", "llama3-70b", "--mode", "train-lora", "--explain", columns="300")[1]
    steps = explain_steps(out)
    assert "attention_params_mla" not in steps and "moe_layers" not in steps and "gradients_host" not in steps
    assert "attention_params_standard" in steps and "is_mla" in steps
    folded = out[out.index("\nfolded: "):]
    assert re.search(r"^  zero: .*\bmoe_layers\b", folded, re.M)
    assert re.search(r"^  on a branch not taken: .*\battention_params_mla\b", folded, re.M)
    assert "      attention_params_mla = 0   (branch not taken)" in out  # where attention_params_per_layer reads it
    assert "      compute_precision.bits = 2 B   (branch not taken)" in out  # weights: no params offload
    doc = json.loads(run("eval", "--model", "llama3-70b", "--mode", "train-lora", "--explain", "--format", "json")[1])
    assert "attention_params_mla" in {s["rule"] for s in doc["derivation"]}  # the JSON keeps every step


def test_explain_paths_are_relative_to_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a run from elsewhere showed /abs/.../site-packages/vramrules/data/... paths
    out = run("eval", "--model", "llama3.1-8b", "--explain")[1]
    assert builtin_data_dir() not in out and os.path.dirname(builtin_data_dir()) not in out
    assert re.search(r"^      rule at: built-in:rules/default\.yaml:\d+:\d+$", out, re.M)
    assert re.search(r"model\.hidden_size = 4,096   <- built-in:models\.yaml:\d+:\d+ \[llama3\.1-8b\]", out)
    doc = json.loads(run("eval", "--model", "llama3.1-8b", "--explain", "--format", "json")[1])
    steps = {s["rule"]: s for s in doc["derivation"]}
    assert re.fullmatch(r"built-in:rules/default\.yaml:\d+:\d+", steps["kv_cache"]["location"])
    bits = next(i for i in steps["kv_cache"]["inputs"] if i["name"] == "kv_precision.bits")
    assert re.fullmatch(r"built-in:precisions\.yaml:\d+:\d+", bits["from"])
    cuda = next(i for s in doc["derivation"] for i in s["inputs"] if i["name"] == "assume.cuda_context")
    assert re.fullmatch(r"built-in:assumptions\.yaml:\d+:\d+", cuda["from"])


def test_an_overlay_file_is_shown_from_the_folder_given(tmp_path, monkeypatch):
    org = tmp_path / "org"
    org.mkdir()
    (org / "assumptions.yaml").write_text("assumptions:\n  cuda_context:\n    value: 1 GiB\n    source: ours\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    doc = json.loads(run("eval", "--model", "llama3.1-8b", "--data", "org", "--explain", "--format", "json")[1])
    cuda = next(i for s in doc["derivation"] for i in s["inputs"] if i["name"] == "assume.cuda_context")
    assert cuda["from"] == "org/assumptions.yaml:3:12"
    out = run("show", "assumption", "cuda_context", "--data", "org")[1]
    assert "<- assumptions.yaml:3:12 (--data org)" in out and "(built-in)" in out


# ---------------------------------------------------------------- C. whole bytes, integer inputs

def all_bytes(doc):
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == "bytes":
                yield v
            else:
                yield from all_bytes(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from all_bytes(v)


def test_json_integer_inputs_are_integers():
    doc = json.loads(run("eval", "--model", "llama3-70b", "--mode", "train-lora", "--gpu", "h100-sxm-80gb", "--format", "json")[1])
    for name in ("batch", "seq_len", "lora_rank", "gpus", "tp", "pp", "dp", "ep", "zero", "shard_group"):
        assert isinstance(doc["inputs"][name], int) and not isinstance(doc["inputs"][name], bool), name
    assert doc["inputs"]["seq_len"] == 2048 and '"seq_len": 4096,' in run("eval", "--model", "llama3-70b", "--format", "json")[1]
    assert all(isinstance(doc["layout"][k], int) for k in ("gpus", "tp", "pp", "dp", "ep", "zero"))
    assert isinstance(doc["fit"]["devices"][0]["count"], int)
    doc = json.loads(run("eval", "--model", "llama3.1-8b", "--explain", "--format", "json")[1])
    batch = next(i for s in doc["derivation"] for i in s["inputs"] if i["name"] == "input.batch")
    assert batch["value"] == {"value": 1, "unit": "1"} and isinstance(batch["value"]["value"], int)


def test_json_bytes_are_whole():
    """The serve example of the issue, at vLLM 0.15.1's profile: a KV pool of 3,461,513,023.9 B."""
    code, out = run("eval", "--model", "llama3.1-8b", "--mode", "serve", "--gpu", "l4", "--seq-len", "8192", "--engine", "vllm@0.15.1",
                    "--format", "json")
    assert code == 0
    doc = json.loads(out)
    found = list(all_bytes(doc))
    assert found and all(isinstance(b, int) for b in found)
    assert not re.search(r'"bytes": -?\d+\.\d', out)  # no "." in any bytes figure
    pool = [v for v in doc["figures"].values() if isinstance(v, dict) and v.get("bytes") and 3.46e9 < v["bytes"] < 3.47e9]
    assert pool and pool[0]["bytes"] == 3461513024  # rounded up, like all that is needed


def test_rounding_up_what_is_needed_and_down_what_is_offered():
    r = vramrules.evaluate("llama3-70b", "train-lora", gpu="h100-sxm-80gb")
    assert r.total.bytes != int(r.total.bytes)  # the rules give a fraction here (1.2 x ...)
    doc = r.to_json()
    assert doc["total"]["bytes"] == math.ceil(r.total.bytes) == 158807429530
    assert doc["fit"]["needed_per_gpu"]["bytes"] == math.ceil(r.fit.needed_per_gpu.bytes)
    assert doc["fit"]["usable_per_gpu"]["bytes"] == math.floor(r.fit.capacity_per_gpu.bytes)
    assert doc["fit"]["headroom_per_gpu"]["bytes"] == math.floor(r.fit.headroom_per_gpu.bytes) == -73286619546
    assert doc["total"]["value"] == round(158807429530 / 2**30, 6)


def test_apple_usable_fraction_is_whole_bytes_rounded_down():
    doc = json.loads(run("eval", "--model", "llama3.1-8b", "--gpu", "apple-m3-max-128gb", "--format", "json")[1])
    assert all(isinstance(b, int) for b in all_bytes(doc))


def test_text_has_no_fractional_bytes():
    for args in (("eval", "--model", "llama3.1-8b", "--mode", "serve", "--gpu", "l4", "--seq-len", "8192", "--engine", "vllm@0.15.1", "--explain"),
                 ("eval", "--model", "llama3-70b", "--mode", "train-lora", "--gpu", "h100-sxm-80gb", "--units", "B", "--explain")):
        out = run(*args)[1]
        assert "3,461,513,023.9" not in out and "158,807,429,529.6" not in out
        assert not re.search(r"\d{1,3}(,\d{3})+\.\d+ B\b", out), re.search(r".*\d{1,3}(,\d{3})+\.\d+ B\b.*", out).group(0)
    out = run("eval", "--model", "llama3-70b", "--mode", "train-lora", "--gpu", "h100-sxm-80gb", "--units", "B")[1]
    assert "  total             158,807,429,530 B" in out
    assert "    headroom         -73,286,619,546 B" in out
    assert "KV cache pool: 3.22 GiB (3,461,513,024 B)" in run("eval", "--model", "llama3.1-8b", "--mode", "serve", "--gpu", "l4",
                                                             "--seq-len", "8192", "--engine", "vllm@0.15.1")[1]


def test_a_size_of_one_element_keeps_its_fraction():
    """0.5159 B per NF4 weight is not an amount of memory: rounding it would change every product."""
    doc = json.loads(run("eval", "--model", "llama3.1-8b", "--mode", "train-qlora", "--explain", "--format", "json")[1])
    bits = next(i for s in doc["derivation"] for i in s["inputs"] if i["name"] == "precision.bits")
    assert 0.5 < bits["value"]["bytes"] < 0.6 and isinstance(bits["value"]["bytes"], float)


def test_figures_follow_the_chosen_unit_family():
    """--units GB writes the key figures in GB too (they were GiB whatever the unit): ZeRO's
    Figure 1, 7.5B parameters on 64 GPUs with stage 3, 1.9 GB of model states per GPU
    (Rajbhandari et al., arXiv:1910.02054)."""
    from click.testing import CliRunner

    from vramrules.cli import main

    args = ["eval", "--params", "7.5e9", "--mode", "train-full", "--dp", "64", "--zero", "3"]
    gb = CliRunner().invoke(main, args + ["--units", "GB"]).output
    assert "model states per GPU (ZeRO's measure): 1.88 GB (1,875,000,000 B)" in gb
    gib = CliRunner().invoke(main, args).output
    assert "model states per GPU (ZeRO's measure): 1.75 GiB (1,875,000,000 B)" in gib


@pytest.mark.parametrize("args, has, lacks", [
    (("--mode", "train-grpo"), ["activations hf", "optimizer adamw"], ["LoRA r=", "adapters", "KV ", "seq_len"]),
    (("--mode", "train-grpo-lora"), ["LoRA r=16 on all-linear", "adapters fp32 under autocast"], ["KV "]),
    (("--mode", "train-lora", "--adapter-precision", "bf16"), ["adapters bf16 · "], ["autocast", "KV "]),
    (("--mode", "train-full", "--activation-profile", "megatron"), ["activations megatron", "seq_len 2,048"], ["LoRA r=", "KV "]),
    (("--mode", "inference"), ["KV bf16", "seq_len 4,096"], ["LoRA r=", "activations ", "optimizer"]),
])
def test_the_header_names_only_inputs_the_answer_reads(args, has, lacks):
    """The inputs line lists what a rule reads on a branch taken, through terms that are not zero:
    GRPO without LoRA reads no LoRA rank (its zero LoRA terms did), and training reads no KV precision."""
    code, out = run("eval", "--model", "qwen2.5-7b", *args, columns="200")
    assert code == 0, out
    header = out.splitlines()[1]
    assert all(h in header for h in has), header
    assert not any(x in header for x in lacks), header
