"""What real llama.cpp allocates for tiny GGUF models: every buffer it reports, as committed data.

Writes the models of tests/tiny_gguf_llamacpp.py (llama with GQA in f16/q8_0/q4_0, gemma3 with
sliding-window layers, qwen3moe with experts, mamba2 with a recurrent state, jamba with Mamba and
attention layers), loads each through
llama-cpp-python's low-level bindings (llama_cpp.llama_model_load_from_file and
llama_init_from_model, so every llama_context_params field can be set: n_seq_max, kv_unified,
swa_full, flash_attn_type, type_k/type_v), and records for each run:

- the lines llama.cpp logged (llama_log_set) about its buffers, as printed (MiB = 2^20 B with
  two decimals), and the figures parsed from them;
- the exact bytes per buffer type from llama_get_memory_breakdown (src/llama-ext.h) through
  harness/llamacpp_breakdown.cpp, compiled here against the installed libllama: `model` (the
  weights), `context` (KV cache and recurrent state) and `compute` (the scheduler's buffers);
- llama_model_size (the bytes of all weight tensors) and llama_model_n_params.

Writes tests/cases/measured/llamacpp.json. Never in CI: it needs llama-cpp-python built from
source (harness/README.md, "llama.cpp"). CPU only: with no GPU device n_gpu_layers changes
nothing (src/llama-model.cpp load_tensors: act_gpu_layers is 0 when `devices` is empty), which the
runs with n_gpu_layers 0, 2 and -1 show.

    /tmp/llamacpp-venv/bin/python harness/llamacpp_buffers.py                  # every run
    /tmp/llamacpp-venv/bin/python harness/llamacpp_buffers.py --only llama-gqa-f16   # some models; the rest stay
"""
from __future__ import annotations

import argparse
import ctypes
import datetime
import hashlib
import json
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import tiny_gguf_llamacpp as tg  # noqa: E402

OUT = ROOT / "tests" / "cases" / "measured" / "llamacpp.json"
SHIM = Path(__file__).resolve().parent / "llamacpp_breakdown.cpp"
# the llama.cpp commit llama-cpp-python 0.3.36 vendors: its CHANGELOG.md, "## [0.3.36] - feat:
# update llama.cpp to ggml-org/llama.cpp@0c1e57098"
VENDORED = {"0.3.36": "0c1e57098"}

# ggml_type ids (ggml/include/ggml.h enum ggml_type)
GGML_TYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 8}
FA = {"off": 0, "on": 1, "auto": -1}   # enum llama_flash_attn_type (include/llama.h)

# The log lines kept: the buffer sizes and the context's parameters
KEEP = re.compile(r"buffer size|KV cache|size = |cells|n_ctx|n_batch|n_ubatch|n_seq_max|n_outputs_max|flash_attn|kv_unified|"
                  r"swa|SWA|offload|CPU_REPACK|repack|attn_rot|n_rs_seq|model size|file size|tensor overrides")
MIB = r"([0-9]+\.[0-9]+) MiB"
PATTERNS = {
    "model_buffer": re.compile(r"load_tensors: +(\S+) model buffer size = +" + MIB),
    "kv_buffer": re.compile(r"llama_kv_cache: +(\S+) KV buffer size = +" + MIB),
    "kv_size": re.compile(r"llama_kv_cache: size = +" + MIB + r" \( *(\d+) cells, +(\d+) layers, +(\d+)/(\d+) seqs\), "
                          r"K \((\w+)\): +" + MIB + r", V \((\w+)\): +" + MIB),
    "iswa_cells": re.compile(r"llama_kv_cache_iswa: creating +(non-SWA|SWA) KV cache, size = (\d+) cells"),
    "rs_buffer": re.compile(r"llama_memory_recurrent: +(\S+) RS buffer size = +" + MIB),
    "rs_size": re.compile(r"llama_memory_recurrent: size = +" + MIB + r" \( *(\d+) cells, +(\d+) layers, +(\d+) seqs +(\d+) rs_seq\), "
                          r"R \((\w+)\): +" + MIB + r", S \((\w+)\): +" + MIB + r", P \((\w+)\): +" + MIB),
    "compute_buffer": re.compile(r"(?:sched_reserve|llama_context): +(\S+) compute buffer size = +" + MIB),
    "compute_buffer_at_free": re.compile(r"~llama_context: +(\S+) compute buffer size is +([0-9.]+) MiB, matches expectation of +([0-9.]+) MiB"),
    "output_buffer": re.compile(r"llama_context: +(\S+) +output buffer size = +" + MIB),
    "cparam": re.compile(r"llama_context: (n_seq_max|n_ctx|n_ctx_seq|n_batch|n_ubatch|n_outputs_max|flash_attn|kv_unified) += (\S+)"),
}


def _mib_text(s: str) -> str:
    return s + " MiB"


def parse(lines: list[str]) -> dict:
    """The buffer figures in llama.cpp's log lines, with the text printed."""
    out: dict = {"model_buffers": [], "kv_buffers": [], "kv_caches": [], "iswa_cells": {}, "rs_buffers": [], "rs_caches": [],
                 "compute_buffers": [], "compute_buffers_at_free": [], "output_buffers": [], "context_params": {}}
    for line in lines:
        if m := PATTERNS["model_buffer"].search(line):
            out["model_buffers"].append({"buffer": m[1], "mib_printed": _mib_text(m[2])})
        elif m := PATTERNS["kv_buffer"].search(line):
            out["kv_buffers"].append({"buffer": m[1], "mib_printed": _mib_text(m[2])})
        elif m := PATTERNS["kv_size"].search(line):
            out["kv_caches"].append({"mib_printed": _mib_text(m[1]), "cells": int(m[2]), "layers": int(m[3]), "n_seq_max": int(m[4]),
                                     "n_stream": int(m[5]), "type_k": m[6], "k_mib_printed": _mib_text(m[7]), "type_v": m[8],
                                     "v_mib_printed": _mib_text(m[9])})
        elif m := PATTERNS["iswa_cells"].search(line):
            out["iswa_cells"][m[1]] = int(m[2])
        elif m := PATTERNS["rs_buffer"].search(line):
            out["rs_buffers"].append({"buffer": m[1], "mib_printed": _mib_text(m[2])})
        elif m := PATTERNS["rs_size"].search(line):
            out["rs_caches"].append({"mib_printed": _mib_text(m[1]), "cells": int(m[2]), "layers": int(m[3]), "n_seq_max": int(m[4]),
                                     "n_rs_seq": int(m[5]), "type_r": m[6], "r_mib_printed": _mib_text(m[7]), "type_s": m[8],
                                     "s_mib_printed": _mib_text(m[9]), "p_mib_printed": _mib_text(m[11])})
        elif m := PATTERNS["compute_buffer_at_free"].search(line):
            out["compute_buffers_at_free"].append({"buffer": m[1], "mib_printed": m[2] + " MiB", "expected_mib_printed": m[3] + " MiB"})
        elif m := PATTERNS["compute_buffer"].search(line):
            out["compute_buffers"].append({"buffer": m[1], "mib_printed": _mib_text(m[2])})
        elif m := PATTERNS["output_buffer"].search(line):
            out["output_buffers"].append({"buffer": m[1], "mib_printed": _mib_text(m[2])})
        elif m := PATTERNS["cparam"].search(line):
            v = m[2]
            out["context_params"][m[1]] = int(v) if v.isdigit() else v
    return out


class Llama:
    """llama-cpp-python's low-level bindings, a log capture and the breakdown shim."""

    def __init__(self, workdir: Path):
        import llama_cpp

        self.lc = llama_cpp
        self.lines: list[str] = []
        self._partial = ""

        @llama_cpp.llama_log_callback
        def _log(level, text, user_data):
            self._partial += text.decode("utf-8", "replace")
            while "\n" in self._partial:
                line, self._partial = self._partial.split("\n", 1)
                self.lines.append(line)

        self._log = _log   # keep the callback alive
        llama_cpp.llama_log_set(self._log, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        libdir = Path(llama_cpp.__file__).resolve().parent / "lib"
        so = workdir / "llamacpp_breakdown.so"
        subprocess.run(["g++", "-std=c++17", "-O1", "-shared", "-fPIC", str(SHIM), "-o", str(so), f"-L{libdir}", "-lllama", "-lggml-base",
                        f"-Wl,-rpath,{libdir}"], check=True)
        self.shim = ctypes.CDLL(str(so))
        self.shim.vr_memory_breakdown.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_size_t)]
        self.shim.vr_memory_breakdown.restype = ctypes.c_int
        self.ggml = ctypes.CDLL(str(next(libdir.glob("libggml-base.so*"))))
        self.ggml.ggml_backend_cpu_buffer_type.restype = ctypes.c_void_p

    def breakdown(self, ctx) -> dict:
        n, name_len = 16, 64
        names = ctypes.create_string_buffer(n * name_len)
        sizes = (ctypes.c_size_t * (3 * n))()
        got = self.shim.vr_memory_breakdown(ctx, n, names, name_len, sizes)
        assert got <= n
        out = {}
        for i in range(got):
            name = names.raw[i * name_len:(i + 1) * name_len].split(b"\0", 1)[0].decode()
            out[name] = {"model_bytes": sizes[3 * i], "context_bytes": sizes[3 * i + 1], "compute_bytes": sizes[3 * i + 2]}
        return out

    def run(self, path: Path, p: dict) -> dict:
        lc = self.lc
        mp = lc.llama_model_default_params()
        mp.n_gpu_layers = p["n_gpu_layers"]
        mp.load_mode = lc.LLAMA_LOAD_MODE_MMAP if p["mmap"] else lc.LLAMA_LOAD_MODE_NONE
        keep = None
        if p.get("override"):
            class Override(ctypes.Structure):
                _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]
            keep = (Override * 2)()
            keep[0].pattern = p["override"].encode()
            keep[0].buft = self.ggml.ggml_backend_cpu_buffer_type()
            keep[1].pattern = None
            mp.tensor_buft_overrides = ctypes.cast(keep, ctypes.c_void_p)
        self.lines.clear()
        model = lc.llama_model_load_from_file(str(path).encode(), mp)
        if not model:
            raise RuntimeError("llama.cpp could not load " + str(path) + ":\n" + "\n".join(self.lines[-20:]))
        model_lines = list(self.lines)
        cp = lc.llama_context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max = p["n_ctx"], p["n_batch"], p["n_ubatch"], p["n_seq_max"]
        cp.flash_attn_type = FA[p["flash_attn"]]
        cp.type_k, cp.type_v = GGML_TYPE[p["type_k"]], GGML_TYPE[p["type_v"]]
        cp.swa_full, cp.kv_unified, cp.offload_kqv = p["swa_full"], p["kv_unified"], p["offload_kqv"]
        cp.embeddings = p["embeddings"]
        cp.n_threads = cp.n_threads_batch = 1
        self.lines.clear()
        ctx = lc.llama_init_from_model(model, cp)
        if not ctx:
            lc.llama_model_free(model)
            return {"error": "llama_init_from_model returned NULL", "log": [line.rstrip() for line in self.lines[-3:]]}
        ctx_lines = list(self.lines)
        out = {"breakdown": self.breakdown(ctx), "model_size_bytes": lc.llama_model_size(model), "model_n_params": lc.llama_model_n_params(model),
               "n_ctx": lc.llama_n_ctx(ctx), "n_batch": lc.llama_n_batch(ctx), "n_ubatch": lc.llama_n_ubatch(ctx), "n_seq_max": lc.llama_n_seq_max(ctx)}
        self.lines.clear()
        lc.llama_free(ctx)
        free_lines = list(self.lines)
        lc.llama_model_free(model)
        del keep
        lines = model_lines + ctx_lines + free_lines
        out["logged"] = parse(lines)
        out["log"] = [line.rstrip() for line in lines if KEEP.search(line) and "repack tensor" not in line]
        return out


BASE = {"n_ctx": 512, "n_batch": 2048, "n_ubatch": 512, "n_seq_max": 1, "flash_attn": "off", "type_k": "f16", "type_v": "f16",
        "swa_full": False, "kv_unified": False, "offload_kqv": True, "n_gpu_layers": -1, "mmap": True, "embeddings": False, "override": None}


def plan() -> list[tuple[str, dict]]:
    """(model, parameters) of every run. swa_full is set false everywhere it is not varied:
    llama-server's default (common/common.h `swa_full = false`), while
    llama_context_default_params() has true."""
    runs: list[tuple[str, dict]] = []

    def add(model, **over):
        p = dict(BASE)
        p.update(over)
        runs.append((model, p))

    for q in ("f16", "q8_0", "q4_0"):
        m = f"llama-gqa-{q}"
        add(m)
        add(m, mmap=False)
    m = "llama-gqa-f16"
    for fa in ("off", "on"):
        for n_ctx in (256, 300, 1024, 4096, 8192):
            add(m, n_ctx=n_ctx, flash_attn=fa)
        for ub in (32, 128, 256, 2048):
            add(m, n_ctx=4096, n_ubatch=ub, flash_attn=fa)
        add(m, n_ctx=4096, n_batch=256, n_ubatch=512, flash_attn=fa)
    for tk, tv, fa in (("q8_0", "q8_0", "on"), ("q4_0", "q4_0", "on"), ("q8_0", "f16", "off"), ("q4_0", "f16", "off"), ("f16", "q8_0", "on"),
                       ("q8_0", "q8_0", "off"), ("q4_0", "q4_0", "auto"), ("f16", "f16", "auto")):
        add(m, n_ctx=4096, type_k=tk, type_v=tv, flash_attn=fa)
    for n_seq in (2, 4):
        for unified in (False, True):
            add(m, n_ctx=4096, n_seq_max=n_seq, kv_unified=unified)
    add(m, n_ctx=1000, n_seq_max=3)
    add(m, n_ctx=1000, n_seq_max=3, kv_unified=True)
    add(m, n_ctx=300, kv_unified=True)
    for ngl in (0, 2):
        add(m, n_ctx=4096, n_gpu_layers=ngl)
    add(m, n_ctx=4096, offload_kqv=False)
    add(m, n_ctx=4096, embeddings=True)
    add(m, n_ctx=4096, n_batch=512, n_ubatch=512)
    add("llama-gqa-q4_0", n_ctx=4096)
    add("llama-gqa-q8_0", n_ctx=4096, flash_attn="on", type_k="q8_0", type_v="q8_0")

    m = "gemma3-swa-f16"
    for n_ctx in (1024, 4096):
        for swa_full in (False, True):
            add(m, n_ctx=n_ctx, swa_full=swa_full)
    add(m, n_ctx=4096, n_ubatch=128)
    add(m, n_ctx=4096, flash_attn="on")
    add(m, n_ctx=4096, flash_attn="on", type_k="q8_0", type_v="q8_0")
    for unified in (False, True):
        add(m, n_ctx=4096, n_seq_max=2, kv_unified=unified)
    add(m, n_ctx=256)
    add(m, n_ctx=4096, mmap=False)   # tied embeddings: token_embd is also the output layer (TENSOR_DUPLICATED)

    m = "qwen3moe-q8_0"
    for fa in ("off", "on"):
        for n_ctx in (512, 4096):
            add(m, n_ctx=n_ctx, flash_attn=fa)
    add(m, n_ctx=4096, n_ubatch=128)
    add(m, n_ctx=4096, override=r"\.ffn_(up|down|gate|gate_up)_(ch|)exps")   # --cpu-moe: common/common.h LLM_FFN_EXPS_REGEX
    add(m, n_ctx=4096, mmap=False)

    m = "mamba2-f16"
    for n_ctx in (512, 4096):
        add(m, n_ctx=n_ctx)
    for n_seq in (2, 4):
        add(m, n_ctx=4096, n_seq_max=n_seq)
    add(m, n_ctx=4096, n_ubatch=128)

    m = "jamba-f16"
    for n_ctx in (512, 4096):
        add(m, n_ctx=n_ctx)
    add(m, n_ctx=4096, n_seq_max=2)
    add(m, n_ctx=4096, flash_attn="on", type_k="q8_0", type_v="q8_0")
    return runs


def run_id(model: str, p: dict) -> str:
    parts = [model]
    for k, v in p.items():
        if v != BASE[k]:
            parts.append(f"{k}={v}")
    return " ".join(parts)


def versions() -> dict:
    from importlib.metadata import version

    import gguf  # noqa: F401
    import llama_cpp
    import numpy

    v = llama_cpp.__version__
    return {"llama_cpp_python": v, "llama_cpp_commit": VENDORED.get(v, "unknown"),
            "llama_cpp_commit_source": "llama-cpp-python's CHANGELOG.md for " + v + ": 'update llama.cpp to ggml-org/llama.cpp@" + VENDORED.get(v, "?") + "'",
            "gguf": version("gguf"), "numpy": numpy.__version__, "python": platform.python_version(),
            "system_info": llama_cpp.llama_print_system_info().decode().strip(), "machine": platform.machine()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--only", nargs="*", help="models to (re)measure; the others' runs stay as they are in --out")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="vramrules-llamacpp-"))
    llama = Llama(work)
    old = json.loads(args.out.read_text()) if args.out.exists() and args.only else {"models": {}, "runs": []}
    today = datetime.date.today().isoformat()
    ver = versions()
    models, runs = dict(old["models"]), [r for r in old["runs"] if not args.only or r["model"] not in args.only]
    paths = {}
    for name, spec in tg.SPECS.items():
        if args.only and name not in args.only:
            continue
        path = tg.write(spec, work / f"{name}.gguf")
        paths[name] = path
        ts = tg.tensors(spec)
        models[name] = {"spec": spec, "generator": "tests/tiny_gguf_llamacpp.py write(SPECS[name])", "gguf_version": ver["gguf"],
                        "file_bytes": path.stat().st_size, "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                        "tensors": [[n, t, list(ne), tg.nbytes(t, ne)] for n, t, ne in ts],
                        "tensor_bytes": sum(tg.nbytes(t, ne) for _, t, ne in ts)}
    for model, p in plan():
        if model not in paths:
            continue
        rid = run_id(model, p)
        print(rid, file=sys.stderr)
        res = llama.run(paths[model], p)
        runs.append({"id": rid, "model": model, "params": p, **res})
    order = {rid: i for i, rid in enumerate(run_id(m, p) for m, p in plan())}
    runs.sort(key=lambda r: order.get(r["id"], len(order)))
    doc = {
        "schema": "vramrules-measured-llamacpp/1",
        "source": f"measured by harness/llamacpp_buffers.py with llama-cpp-python {ver['llama_cpp_python']} (llama.cpp {ver['llama_cpp_commit']}), "
                  f"CPU only, {today}",
        "date": today,
        "versions": ver,
        "units": "every field whose name ends in _bytes is an integer number of bytes (exact, from llama_get_memory_breakdown or "
                 "llama_model_size); every *mib_printed field is the text llama.cpp logged, in MiB (2^20 bytes), rounded to the "
                 "decimals it prints (2 for the INFO lines, 4 for ~llama_context's DEBUG line)",
        "about": "params: the llama_model_params / llama_context_params the run set (llama_context_default_params otherwise; "
                 "n_threads 1). breakdown: per buffer type, model = weights, context = KV cache + recurrent state, compute = the "
                 "scheduler's compute buffers (src/llama-context.cpp llama_context::memory_breakdown); the output buffer (logits) "
                 "is in none of them and is only in logged.output_buffers. CPU only: n_gpu_layers and offload_kqv change nothing here.",
        "models": models,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(f"{len(runs)} runs -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
