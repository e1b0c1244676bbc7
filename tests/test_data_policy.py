"""The data's own policy (issue 19): what a user selects is what a process sees, estimates that
are only bounds say so, a KV cache is only stored in formats engines store it in, and every
source cites something a user can find."""
import json
import re
from pathlib import Path

import yaml
from click.testing import CliRunner

import vramrules
from vramrules.cli import main


def run(*args):
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.output


# ---------------------------------------------------------------- A: MI250X is a GCD

GCD_BYTES = 68702699520  # 65520 MiB: one GCD as HIP reports it (LUMI, CRAY_ACC_DEBUG=3)


def test_mi250x_is_one_gcd_as_rocm_enumerates_it(catalog):
    """A process sees an MI250X module as two GCDs of 64 GiB: the entry is one of them, with
    the driver's total and AMD's documentation cited, so --gpus counts what ROCm counts."""
    gcd = catalog.entries["gpu"]["mi250x"]
    assert gcd.facts["memory"] == 64 * 2**30
    assert gcd.facts["memory_reported"] == GCD_BYTES == 65520 * 2**20
    assert gcd.facts["bandwidth"] == 1.6e12
    assert "instinct.docs.amd.com/projects/system-acceptance" in gcd.raw["source"]
    assert "64 GB per GCD" in gcd.raw["source"]
    assert "csc-training/portable-gpu-programming" in gcd.raw["reported_source"]
    assert "Total GPU memory 68702699520" in gcd.raw["reported_source"]
    # no entry offers a whole module as one 128 GiB device
    assert not [g for g in catalog.entries["gpu"].values() if "mi250" in g.id and g.facts["memory"] > 64 * 2**30]


def test_llama3_70b_on_mi250x_gcds():
    """bf16 Llama-3-70B (140.67 GiB) needs 4 GCDs (2 modules), not 2 'GPUs' of 128 GiB; on 8
    GCDs (one Frontier/LUMI node) each holds 18.18 GiB of 63.98 GiB."""
    code, out = run("eval", "--model", "llama3-70b", "--gpu", "mi250x", "--format", "json")
    fit = json.loads(out)["fit"]
    assert code == 0 and fit["usable_per_gpu"]["bytes"] == GCD_BYTES
    assert fit["fits"] is False and fit["gpus_needed"] == 4
    code, out = run("eval", "--model", "llama3-70b", "--gpu", "mi250x", "--gpus", "8")
    assert code == 0
    assert "usable per GPU   63.98 GiB  (driver reports 65520 MiB)" in out
    assert "FITS on 8 x mi250x" in out
    # the name rocm-smi and HIP print for each GCD selects it
    r = vramrules.evaluate("llama3-70b", gpu="AMD Instinct MI250X", needed=False)
    assert r.scenario.gpu.id == "mi250x"


# ---------------------------------------------------------------- B: a lower bound says so

LOWER_BOUND = ("the weights are a lower bound: this precision counts no scales or zero points, and every shipped "
               "format of it has them; for a real size use awq-int4-g128 or gptq-int4-g128 (4.15625 bit), nf4 (4.5 bit) "
               "or gguf-q4-k-m (4.8944 bit)")


def test_int4_is_marked_a_lower_bound_and_no_real_format_is(catalog):
    marked = sorted(p.id for p in catalog.entries["precision"].values() if p.facts.get("lower_bound"))
    assert marked == ["int4"]


def test_int4_estimate_carries_the_lower_bound_warning_in_text_and_json():
    code, out = run("eval", "--model", "llama3.1-8b", "--precision", "int4")
    assert code == 0 and f"warning: {LOWER_BOUND}" in " ".join(out.split())  # the text wraps long warnings
    code, out = run("eval", "--model", "llama3.1-8b", "--precision", "int4", "--format", "json")
    assert code == 0 and LOWER_BOUND in json.loads(out)["warnings"]
    r = vramrules.evaluate("llama3.1-8b", precision="int4", needed=False)
    assert LOWER_BOUND in r.warnings
    # the rule-of-thumb set warns too (its train-qlora base is int4); a real 4-bit format does not
    assert LOWER_BOUND in vramrules.evaluate(None, "train-qlora", rules="thumb", params=14e9).warnings
    assert LOWER_BOUND not in vramrules.evaluate("llama3.1-8b", precision="awq-int4-g128", needed=False).warnings


# ---------------------------------------------------------------- C: KV cache formats

KV_FORMATS = ["bf16", "fp16", "fp32", "fp8", "fp8-e4m3", "fp8-e5m2", "gguf-q4-0", "gguf-q8-0", "int8"]


def test_kv_capable_formats_are_the_engines_and_each_cites_one(catalog):
    precisions = catalog.entries["precision"]
    capable = sorted(p.id for p in precisions.values() if p.facts.get("kv_cache"))
    assert capable == KV_FORMATS
    for pid in capable:
        src = precisions[pid].raw["kv_cache_source"]
        assert any(e in src for e in ("vLLM", "llama.cpp", "TensorRT-LLM")), pid


def test_constraint_message_lists_exactly_the_kv_capable_formats(catalog):
    """The refusal names every format the data marks kv_cache: true, and no other."""
    rs = catalog.rulesets["default"]
    [c] = [c for c in rs.constraints if "kv_precision.kv_cache" in c.formula.text]
    listed = c.label.split("formats that can hold a KV cache: ")[1].split(", ")
    assert sorted(listed) == KV_FORMATS


KV_REFUSAL = ("--kv-precision: no inference engine stores a KV cache in this format (a weight-only format such as NF4, "
              "GPTQ, AWQ, MXFP4, FP8 block scales or a GGUF K-quant); formats that can hold a KV cache: fp32, fp16, bf16, "
              "fp8, fp8-e4m3, fp8-e5m2, int8, gguf-q8-0, gguf-q4-0")


def test_weight_only_kv_precision_is_a_usage_error():
    for fmt in ("nf4", "nf4-dq", "gptq-int4-g128", "awq-int4-g128", "gguf-q4-k-m", "gguf-q6-k", "mxfp4", "int4"):
        code, out = run("eval", "--model", "llama3.1-8b", "--kv-precision", fmt)
        assert code == 2 and KV_REFUSAL in out and "internal error" not in out, fmt
    code, out = run("eval", "--model", "llama3.1-8b", "--mode", "serve", "--gpu", "l4", "--kv-precision", "nf4", "--format", "json")
    assert code == 2 and json.loads(out)[0]["code"] == "usage_error" and json.loads(out)[0]["message"] == KV_REFUSAL


def test_engine_kv_formats_still_estimate():
    """llama.cpp's q8_0 / q4_0 caches and vLLM's fp8 are accepted and priced at their block bits."""
    bf16 = vramrules.evaluate("llama3.1-8b", seq_len=8192, needed=False).values["kv_cache"]
    assert bf16 == 8192 * 131072  # 128 KiB per token
    assert vramrules.evaluate("llama3.1-8b", seq_len=8192, kv_precision="fp8-e5m2", needed=False).values["kv_cache"] == bf16 / 2
    assert vramrules.evaluate("llama3.1-8b", seq_len=8192, kv_precision="gguf-q8-0", needed=False).values["kv_cache"] == bf16 * 8.5 / 16
    assert vramrules.evaluate("llama3.1-8b", seq_len=8192, kv_precision="gguf-q4-0", needed=False).values["kv_cache"] == bf16 * 4.5 / 16


# ---------------------------------------------------------------- D: citations a user can find

# a file that is not shipped, or a shorthand only our own notes define
UNSHIPPED = [
    (re.compile(r"\bseeds?/", re.I), "the founding articles' local copies (seeds/)"),
    (re.compile(r"\bseeds?\s*\d", re.I), "a seed file by number"),
    (re.compile(r"\bshared/"), "the project's shared/ folder"),
    (re.compile(r"reference (cases?|file)", re.I), "the project's reference cases file"),
    (re.compile(r"\bQTABLE\b|\bQMIX\b|\bBNBOPT\b"), "an abbreviation defined only in a file header"),
    (re.compile(r"(?:^|[\s(;'\"])(?:\.\.?/|~/|/(?:work|home|tmp|Users|root|mnt)/)"), "a local path"),
    (re.compile(r"(?:^|[\s(;'\"])(?:tests|bench|build)/"), "a folder of the checkout that the wheel does not ship"),
]
URL = re.compile(r"https?://\S+")
HEADER_ABBREVIATION = re.compile(r"^#\s+([A-Z][A-Z0-9_]{2,})\s*=\s*https?://", re.M)
CITING = ("source", "note", "doc", "summary", "message")


def _strings(node, key=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, str(k))
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, key)
    elif isinstance(node, str) and (key in CITING or key.endswith("_source")):
        yield key, node


def citation_problems(data: Path) -> list:
    """Every source/note/doc/summary/message string of data/ that cites something a user cannot
    find: a file that is not shipped, a local path, a shorthand defined only in a comment."""
    shipped = data.parent
    out = []
    for f in sorted(data.rglob("*.yaml")):
        text = f.read_text(encoding="utf-8")
        abbreviations = set(HEADER_ABBREVIATION.findall(text))
        for key, s in _strings(yaml.safe_load(text)):
            bare = URL.sub(" ", s)
            for pattern, what in UNSHIPPED:
                if pattern.search(bare):
                    out.append(f"{f.name}: {key}: {what}: {s[:80]!r}")
            for a in abbreviations:
                if re.search(rf"\b{a}\b", bare):
                    out.append(f"{f.name}: {key}: {a} is defined only in the file's header comment: {s[:80]!r}")
            for path in re.findall(r"(?:^|[\s(;'\"])((?:data|schemas)/[\w./-]+\w)", bare):
                if not (shipped / path).exists():
                    out.append(f"{f.name}: {key}: {path} is not shipped: {s[:80]!r}")
        for token in ("seeds/", "shared/", "QTABLE", "QMIX"):  # comments too: they are read as the data's notes
            if token in text:
                out.append(f"{f.name}: mentions {token}")
    return out


def test_every_citation_in_data_is_something_a_user_can_find(builtin_data):
    assert citation_problems(builtin_data) == []


def test_the_citation_check_catches_what_it_is_for(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "# QXT = https://example.org/x\n"
        "x:\n"
        "  one: {source: \"shared/seeds/004 (http://www.dtcms.com/a/372550.html)\"}\n"
        "  two: {note: \"QTABLE Q8_0 8.5008\"}\n"
        "  three: {reported_source: \"see ../notes/gpus.txt\"}\n"
        "  four: {source: \"seed 002: 4x\"}\n"
        "  five: {source: \"QXT table\"}\n"
        "  six: {source: \"per data/nothing.yaml\"}\n"
        "  fine: {source: \"llama.cpp tools/quantize/README.md (https://github.com/ggml-org/llama.cpp/blob/master/tools/quantize/README.md)\"}\n",
        encoding="utf-8")
    problems = citation_problems(tmp_path)
    for what in ("(seeds/)", "shared/ folder", "abbreviation defined only in a file header", "a local path",
                 "a seed file by number", "QXT is defined only", "data/nothing.yaml is not shipped"):
        assert [p for p in problems if what in p], (what, problems)
    assert not [p for p in problems if "llama.cpp tools/quantize" in p]
