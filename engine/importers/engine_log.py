"""Serving-engine start-up logs read as data: vLLM, SGLang, llama.cpp / llama-server,
TensorRT-LLM and nvidia-smi's table.

`parse(text, path)` recognizes the engine from its own line formats and returns a LogRecord:
engine, version, model, GPU (when the log names one), parallelism, context, dtypes and every
measured figure it printed, each with the 1-based line it came from and the unit exactly as
printed. Nothing is guessed: a log that no engine's lines match, a log with no figure, or a
figure line whose number does not parse (a truncated log) is a DataError naming FILE:LINE and
what is missing.

Units as printed, and what they mean (`Figure.unit` keeps the printed one; `Figure.means` the
resolved one):
  vLLM       "GiB" since v0.7 ("Model loading took 14.99 GiB"). The older "Loading model weights
             took 14.9888 GB" is the same quantity divided by 2**30 (vllm/worker/model_runner.py
             of v0.4-v0.7 printed `self.model_memory_usage / float(2**30)` with the word GB), so
             "GB" there means GiB.
  SGLang     "GB" in "KV Cache is allocated ... K size: 8.23 GB" and "Load weight end ... mem
             usage=16.39 GB" is bytes / 2**30 (python/sglang/srt/mem_cache/memory_pool.py and
             srt/utils.py divide by GB = 1024**3): GiB.
  llama.cpp  "MiB" (2**20 B), except the 2023 "kv self size = 1560.00 MB" which divided by
             1024*1024 as well: MiB.
  TensorRT-LLM "MiB"/"GiB" as printed; "Allocate N bytes" is bytes.
  nvidia-smi "MiB".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, Location, Problem

ENGINES = ("vllm", "sglang", "llama.cpp", "trtllm", "nvidia-smi")
_NUM = r"-?[0-9][0-9,]*(?:\.[0-9]+)?"

# what a printed unit means, per engine (see the module docstring for the sources)
_MEANS = {
    ("vllm", "GB"): "GiB", ("sglang", "GB"): "GiB", ("llama.cpp", "MB"): "MiB",
}


@dataclass
class Figure:
    """One measured figure as the log printed it."""

    name: str
    value: float
    unit: str            # as printed: GiB, GB, MiB, MB, B, tokens, blocks, x
    line: int
    text: str
    device: str = ""
    means: str = ""      # the unit it resolves to (GiB for vLLM's and SGLang's "GB")

    @property
    def quantity(self) -> str:
        """The value with the resolved unit, e.g. '14.9888 GiB' (for a memory figure)."""
        return f"{_fmt(self.value)} {self.means or self.unit}"


@dataclass
class Setting:
    name: str
    value: object
    line: int


@dataclass
class LogRecord:
    path: str
    engine: str
    figures: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    ranks: int = 0          # distinct TP/worker ranks whose lines appear

    def setting(self, name, default=None):
        s = self.settings.get(name)
        return s.value if s else default

    def figure(self, name, device: str | None = None):
        for f in self.figures:
            if f.name == name and (device is None or f.device == device):
                return f
        return None

    def all(self, name):
        return [f for f in self.figures if f.name == name]

    def gpu_total(self, name) -> float | None:
        """Sum of a per-device llama.cpp figure over GPU devices (CUDA*, ROCm*, Vulkan*, Metal),
        one value per device (the first line naming it)."""
        seen: dict = {}
        for f in self.all(name):
            if f.device and _is_gpu(f.device) and f.device not in seen:
                seen[f.device] = f.value
        return sum(seen.values()) if seen else None

    def summary(self) -> dict:
        return {"engine": self.engine, **{k: s.value for k, s in self.settings.items()},
                "figures": [{"name": f.name, "value": f.value, "unit": f.unit, "means": f.means or f.unit,
                             "device": f.device or None, "line": f.line} for f in self.figures]}


def _is_gpu(device: str) -> bool:
    return bool(re.match(r"(CUDA|ROCm|Vulkan|SYCL|Metal|MUSA)\d*$", device))


def _fmt(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))


def _num(text: str) -> float:
    return float(text.replace(",", ""))


# --- recognizing the engine ------------------------------------------------------------------

_MARKERS = {
    "vllm": re.compile(r"Model loading took|Loading model weights took|GPU KV cache size:|Available KV cache memory|"
                       r"# (?:GPU|cuda) blocks|^GPU blocks:|Memory profiling|model weights take|kv_cache_utils\.py|gpu_worker\.py|"
                       r"gpu_model_runner\.py|vLLM API server version|Estimated CUDA graph memory|"
                       r"Maximum concurrency for [0-9,]+ tokens per request|maximum number of tokens that can be stored in KV cache"),
    "sglang": re.compile(r"KV Cache is allocated\.|Load weight end\.|max_total_num_tokens=|Memory pool end\.|Capture cuda graph (?:begin|end)\.|"
                         r"Mamba Cache is allocated|Using KV cache dtype: torch\.|\] Load weight begin"),
    "llama.cpp": re.compile(r"\b(?:llm_)?load_tensors:|llama_(?:new_context_with_model|context|kv_cache\w*|model_loader|init_from_model|memory_recurrent)\b|"
                            r"\bggml_\w+:|llm_load_print_meta:|print_info:|^init: kv_size"),
    "trtllm": re.compile(r"\[TensorRT-LLM\]|\[TRT-LLM\]"),
    "nvidia-smi": re.compile(r"NVIDIA-SMI \S+\s+Driver Version|^\s*memory\.used \[MiB\]|^memory\.used"),
}


def detect(lines) -> str | None:
    """The engine whose line formats the log uses most, or None."""
    counts = {e: 0 for e in _MARKERS}
    for ln in lines:
        for e, rx in _MARKERS.items():
            if rx.search(ln):
                counts[e] += 1
    best = max(counts, key=lambda e: counts[e])
    return best if counts[best] else None


# --- per-engine line patterns: (figure name, regex, groups -> (value, unit, device)) -----------
# A pattern's `lead` must match for the line to be a figure line; its full regex must then parse,
# else the line is reported (a truncated or altered log), never skipped silently.

@dataclass
class _Pat:
    name: str
    lead: re.Pattern
    full: re.Pattern
    unit: str = ""                # fixed unit when the regex has no unit group
    value_group: str = "v"


def _p(name, lead, full, unit=""):
    return _Pat(name, re.compile(lead), re.compile(full), unit)


_U = r"(?P<u>GiB|GB|MiB|MB)"
_V = rf"(?P<v>{_NUM})"

_VLLM = [
    _p("weights", r"Model loading took", rf"Model loading took {_V} ?{_U}"),
    _p("weights", r"Loading model weights took", rf"Loading model weights took {_V} ?{_U}"),
    _p("weights", r"model weights take", rf"model weights take {_V} ?{_U}"),
    _p("kv_available", r"Available KV cache memory", rf"Available KV cache memory: {_V} ?{_U}"),
    _p("kv_available", r"the rest of the memory reserved for KV Cache is", rf"reserved for KV Cache is {_V} ?{_U}"),
    _p("kv_available", r"kv_cache_size=", rf"kv_cache_size={_V}{_U}"),
    _p("kv_tokens", r"GPU KV cache size:", r"GPU KV cache size: (?P<v>[0-9][0-9,]*) tokens", "tokens"),
    _p("kv_tokens", r"maximum number of tokens that can be stored in KV cache", r"stored in KV cache \((?P<v>[0-9]+)\)", "tokens"),
    _p("gpu_blocks", r"(?:# )?(?:GPU|cuda) blocks:", r"(?:GPU|cuda) blocks: (?P<v>[0-9]+)", "blocks"),
    _p("non_torch", r"non_torch_memory", rf"non_torch_memory(?: takes |=){_V} ?{_U}"),
    _p("activation_peak", r"PyTorch activation peak memory takes", rf"activation peak memory takes {_V} ?{_U}"),
    _p("cuda_graph", r"Estimated CUDA graph memory", rf"Estimated CUDA graph memory: {_V} ?{_U}"),
    _p("cuda_graph", r"Graph capturing finished", rf"Graph capturing finished in .* took {_V} ?{_U}"),
    _p("total_gpu_memory", r"total_gpu_memory", rf"total_gpu_memory(?:=| \(){_V} ?{_U}"),
]
_SGLANG = [
    _p("weights", r"Load weight end\.", rf"mem usage={_V} ?{_U}"),
    _p("avail_after_weights", r"Load weight end\.", rf"avail mem={_V} ?{_U}"),
    _p("kv_k", r"KV Cache is allocated\..*K size", rf"K size: {_V} ?{_U}"),
    _p("kv_v", r"KV Cache is allocated\..*V size", rf"V size: {_V} ?{_U}"),
    _p("kv_pool", r"KV Cache is allocated\..* KV size", rf" KV size: {_V} ?{_U}"),
    _p("kv_tokens", r"KV Cache is allocated\.", r"#tokens: (?P<v>[0-9]+)", "tokens"),
    _p("mamba_ssm", r"Mamba Cache is allocated", rf"ssm_state size: {_V} ?{_U}"),
    _p("mamba_conv", r"Mamba Cache is allocated", rf"conv_state size: {_V} ?{_U}"),
    _p("avail_after_pool", r"Memory pool end\.", rf"avail mem={_V} ?{_U}"),
    _p("max_total_num_tokens", r"max_total_num_tokens=", r"max_total_num_tokens=(?P<v>[0-9]+)", "tokens"),
    _p("cuda_graph", r"Capture cuda graph end\.", rf"mem usage={_V} ?{_U}"),
]
_DEV = r"(?P<d>CUDA\d+|ROCm\d+|Vulkan\d+|SYCL\d+|Metal|MUSA\d+|CPU_Mapped|CPU|CUDA_Host|Meta\(\))"
_LLAMA = [
    _p("model_buffer", r"load_tensors:\s+\S+ (?:model )?buffer size", rf"load_tensors:\s+{_DEV} (?:model )?buffer size =\s+{_V} {_U}"),
    _p("kv_buffer", r"KV buffer size", rf"{_DEV} KV buffer size =\s+{_V} {_U}"),
    _p("kv_total", r"KV self size", rf"KV self size\s*=\s*{_V} {_U}"),
    _p("kv_total", r"llama_kv_cache(?:_unified)?: size =", rf"llama_kv_cache(?:_unified)?: size =\s+{_V} {_U}"),
    _p("recurrent_total", r"llama_memory_recurrent: size =", rf"llama_memory_recurrent: size =\s+{_V} {_U}"),
    _p("recurrent_buffer", r"RS buffer size", rf"{_DEV} RS buffer size =\s+{_V} {_U}"),
    _p("compute_buffer", r"compute buffer size", rf"{_DEV} compute buffer size =\s+{_V} {_U}"),
]
_TRT = [
    _p("kv_tokens", r"Using \d* ?tokens in paged KV cache", r"Using (?P<v>[0-9]+) tokens in paged KV cache", "tokens"),
    _p("kv_pool", r"for max tokens in paged KV cache", rf"Allocated {_V} {_U} for max tokens in paged KV cache"),
    _p("kv_tokens", r"for max tokens in paged KV cache", r"paged KV cache \((?P<v>[0-9]+)\)", "tokens"),
    _p("kv_pool", r"bytes for k/v cache", r"Allocate (?P<v>[0-9]+) bytes for k/v cache", "B"),
    _p("weights", r"Loaded engine size", rf"Loaded engine size: {_V} {_U}"),
    _p("activation", r"for execution context memory", rf"Allocated {_V} {_U} for execution context memory"),
    _p("trt_managed", r"TensorRT-managed allocation", r"now: CPU \d+, GPU (?P<v>[0-9]+) \(MiB\)", "MiB"),
    _p("kv_blocks", r"primary blocks=", r"primary blocks=(?P<v>[0-9]+)", "blocks"),
]
_SMI = [
    _p("used", r"MiB /\s*\d+MiB", r"(?P<v>[0-9]+)MiB /\s*[0-9]+MiB", "MiB"),
    _p("total", r"MiB /\s*\d+MiB", r"[0-9]+MiB /\s*(?P<v>[0-9]+)MiB", "MiB"),
]
_PATTERNS = {"vllm": _VLLM, "sglang": _SGLANG, "llama.cpp": _LLAMA, "trtllm": _TRT, "nvidia-smi": _SMI}

# settings: (name, regex with group v, cast)
_SETTINGS: dict[str, list[tuple[str, str, object]]] = {
    "vllm": [
        ("version", r"vLLM API server version (?P<v>\S+)", str), ("version", r"█  version (?P<v>\S+)", str),
        ("version", r"LLM engine \(v(?P<v>[^)]+)\)", str),
        ("model", r"model='(?P<v>[^']+)'", str), ("model", r"'model': '(?P<v>[^']+)'", str),
        ("model", r"Starting to load model (?P<v>\S+?)\.\.\.", str), ("model", r"█ +model +(?P<v>\S+)", str),
        ("tp", r"tensor_parallel_size[=:] ?'?(?P<v>[0-9]+)", int), ("pp", r"pipeline_parallel_size[=:] ?(?P<v>[0-9]+)", int),
        ("context", r"max_seq_len=(?P<v>[0-9]+)", int), ("context", r"Using max model len (?P<v>[0-9]+)", int),
        ("context", r"'max_model_len': (?P<v>[0-9]+)", int), ("context", r"Maximum concurrency for (?P<v>[0-9][0-9,]*) tokens per request", "int,"),
        ("context", r"The model's max seq len \((?P<v>[0-9]+)\)", int),
        ("max_concurrency", r"tokens per request: (?P<v>[0-9.]+)x", float),
        ("dtype", r"dtype=torch\.(?P<v>\w+)", str), ("kv_dtype", r"kv_cache_dtype[=:] ?'?(?P<v>[a-z0-9_]+)", str),
        ("gpu_memory_utilization", r"gpu_memory_utilization(?:=| \(|': )(?P<v>[0-9.]+)", float),
        ("gpu_memory_utilization", r"The current --gpu-memory-utilization=(?P<v>[0-9.]+)", float),
    ],
    "sglang": [
        ("architecture", r"type=(?P<v>\w+ForCausalLM|\w+ForConditionalGeneration)", str),
        ("dtype", r"Load weight end\..*dtype=torch\.(?P<v>\w+)", str),
        ("kv_dtype", r"Using KV cache dtype: torch\.(?P<v>\w+)", str), ("kv_dtype", r"KV Cache is allocated\. dtype: torch\.(?P<v>\w+)", str),
        ("context", r"context_len=(?P<v>[0-9]+)", int), ("max_running_requests", r"max_running_requests=(?P<v>[0-9]+)", int),
        ("mem_fraction_static", r"mem_fraction_static[ =](?P<v>[0-9.]+)", float),
    ],
    "llama.cpp": [
        ("model", r"general\.name(?: str)?\s+=\s+(?P<v>.+?)\s*$", str), ("model", r"loading model '(?P<v>[^']+)'", str),
        ("model_size", r"model size\s+=\s+(?P<v>[0-9.]+ GiB)", str), ("ftype", r"model ftype\s+=\s+(?P<v>.+?)\s*$", str),
        ("context", r"\bn_ctx\s+=\s+(?P<v>[0-9]+)", int), ("context", r"kv_size = (?P<v>[0-9]+)", int),
        ("kv_dtype", r"K \((?P<v>\w+)\):", str), ("gpu_layers", r"offloaded (?P<v>[0-9]+/[0-9]+) layers to GPU", str),
        ("version", r"^build: (?P<v>[0-9]+ \(\w+\))", str),
    ],
    "trtllm": [
        ("context", r"maxSequenceLen: (?P<v>[0-9]+)", int), ("max_batch", r"maxBatchSize: (?P<v>[0-9]+)", int),
        ("tokens_per_block", r"tokens per block=(?P<v>[0-9]+)", int), ("tp", r"MPI size: (?P<v>[0-9]+)", int),
    ],
    "nvidia-smi": [("driver", r"Driver Version: (?P<v>\S+)", str), ("cuda", r"CUDA Version: (?P<v>\S+)", str)],
}
_GPU = [re.compile(r"Device \d+: (?P<v>NVIDIA [^,]+|AMD [^,]+), compute capability"),
        re.compile(r"using device \w+ \((?P<v>[^)]+)\)"),
        re.compile(r"^GPU 0: (?P<v>NVIDIA .+?)\s*$"),
        re.compile(r"^\|\s+0\s+(?P<v>\S.*?)\s{2,}(?:On|Off)\s+\|")]
_RANK = re.compile(r"\b(?:TP|Worker_TP|rank )(\d+)\b|VllmWorkerProcess pid=(\d+)|Rank (\d+) is using GPU")


def _cast(kind, text):  # kind: a type, or "int," for a number printed with thousands separators
    if kind == "int,":
        return int(text.replace(",", ""))
    return kind(text)


def parse_file(path) -> LogRecord:
    p = Path(path)
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError([Problem(Location(str(p), line), "", f"not UTF-8: byte 0x{raw[exc.start]:02x}", "save the log as UTF-8", "import_error")]) from None
    return parse(text, str(p))


def parse(text: str, path: str = "<log>") -> LogRecord:
    lines = text.splitlines()
    engine = detect(lines)
    if engine is None:
        raise DataError([Problem(Location(path, 1), "", "not a start-up log vramrules recognizes: no line of vLLM, SGLang, "
                                 "llama.cpp, TensorRT-LLM or nvidia-smi", "pass the engine's own start-up output (stdout/stderr), "
                                 "from the first line to the KV cache allocation", "import_error")])
    rec = LogRecord(path, engine)
    problems = []
    ranks = set()
    for i, ln in enumerate(lines, 1):
        m = _RANK.search(ln)
        if m:
            ranks.add(next(g for g in m.groups() if g))
        for pat in _PATTERNS[engine]:
            if not pat.lead.search(ln):
                continue
            full = pat.full.search(ln)
            if not full:
                problems.append(Problem(Location(path, i), "", f"a {engine} '{pat.name}' line whose figure does not parse: {ln.strip()[:120]!r}",
                                        "the log looks truncated or edited here; pass the line as the engine printed it", "import_error"))
                continue
            gd = full.groupdict()
            try:
                value = _num(gd["v"])
            except ValueError:
                problems.append(Problem(Location(path, i), "", f"'{pat.name}': {gd['v']!r} is not a number", "", "import_error"))
                continue
            unit = gd.get("u") or pat.unit
            rec.figures.append(Figure(pat.name, value, unit, i, ln.strip(), gd.get("d") or "", _MEANS.get((engine, unit), "")))
        for name, rx, kind in _SETTINGS.get(engine, []):
            if name in rec.settings:
                continue
            m2 = re.search(rx, ln)
            if m2:
                try:
                    rec.settings[name] = Setting(name, _cast(kind, m2.group("v")), i)
                except ValueError:
                    problems.append(Problem(Location(path, i), "", f"setting '{name}': {m2.group('v')!r} does not parse", "", "import_error"))
        if "gpu" not in rec.settings:
            for grx in _GPU:
                m3 = grx.search(ln)
                if m3:
                    rec.settings["gpu"] = Setting("gpu", m3.group("v").strip(), i)
                    break
    if problems:
        raise DataError(problems)
    if not rec.figures:
        raise DataError([Problem(Location(path, max(len(lines), 1)), "", f"a {engine} log with no measured figure (weights, KV cache, "
                                 "buffers): the log ends before the engine printed them", "pass the whole start-up output, "
                                 "up to the KV cache allocation line", "import_error")])
    rec.ranks = len(ranks)
    if engine == "sglang" and ranks and "tp" not in rec.settings:
        tps = {int(t) for ln in lines for t in re.findall(r"\bTP(\d+)\b", ln)}
        if tps:
            rec.settings["tp"] = Setting("tp", max(tps) + 1, next(i for i, ln in enumerate(lines, 1) if re.search(r"\bTP\d+\b", ln)))
    _check(rec, problems)
    if problems:
        raise DataError(problems)
    return rec


def _check(rec: LogRecord, problems: list) -> None:
    """Figures that contradict each other: refused with both lines."""
    if rec.engine == "sglang":
        k, v, n = rec.figure("kv_k"), rec.figure("kv_v"), rec.figure("kv_tokens")
        for f in rec.all("kv_tokens"):
            if n and f.value != n.value and _same_rank(rec, f, n):
                problems.append(Problem(Location(rec.path, f.line), "", f"#tokens {f.value:.0f} here but {n.value:.0f} on line {n.line} "
                                        "for the same rank", "the log mixes two runs; pass one", "import_error"))
        del k, v
    if rec.engine == "vllm":
        w = rec.all("weights")
        for f in w[1:]:
            if abs(f.value - w[0].value) > 0.01 and f.unit == w[0].unit and "model weights take" not in f.text and "model weights take" not in w[0].text:
                problems.append(Problem(Location(rec.path, f.line), "", f"weights {f.value} {f.unit} here but {w[0].value} {w[0].unit} on line {w[0].line}",
                                        "the log mixes two runs; pass one", "import_error"))


def _same_rank(rec, a, b) -> bool:
    ra = re.search(r"\bTP(\d+)\b", a.text)
    rb = re.search(r"\bTP(\d+)\b", b.text)
    return (ra.group(1) if ra else None) == (rb.group(1) if rb else None)


# --- from a recognized log to measurements entries -------------------------------------------

_KV_DTYPES = {"f16": "fp16", "float16": "fp16", "bf16": "bf16", "bfloat16": "bf16", "f32": "fp32", "float32": "fp32",
              "fp8": "fp8", "fp8_e4m3": "fp8-e4m3", "fp8_e5m2": "fp8-e5m2", "auto": None}
# what a measurements entry cannot hold (no field in schemas/measurements.schema.json): reported
UNHELD = ("context", "gpu_memory_utilization", "mem_fraction_static", "max_concurrency", "cuda_graph", "non_torch",
          "activation_peak", "activation", "compute_buffer", "gpu_blocks", "total_gpu_memory", "avail_after_weights",
          "avail_after_pool", "mamba_ssm", "mamba_conv", "recurrent_total", "recurrent_buffer", "trt_managed", "kv_blocks",
          "max_total_num_tokens", "used", "total")


@dataclass
class Planned:
    ident: str
    entry: dict
    figure: Figure


def model_name(rec: LogRecord) -> str | None:
    """The model the log names (a path's last part), or None."""
    m = rec.setting("model")
    if not m:
        return None
    return str(m).rstrip("/").split("/")[-1] if str(m).startswith("/") else str(m)


def _weights(rec: LogRecord):
    if rec.engine == "llama.cpp":
        bufs: dict[str, Figure] = {}
        for f in rec.all("model_buffer"):
            bufs.setdefault(f.device, f)
        if not bufs:
            return None, ""
        total = sum(f.value for f in bufs.values())
        first = min(bufs.values(), key=lambda f: f.line)
        note = " + ".join(f"{f.device} {_fmt(f.value)} MiB (line {f.line})" for f in sorted(bufs.values(), key=lambda f: f.line))
        return Figure("weights", round(total, 2), "MiB", first.line, "; ".join(f.text for f in bufs.values()), "", ""), \
            f"llama.cpp's model buffers summed over devices: {note}."
    if rec.engine == "nvidia-smi":
        return None, ""
    w = rec.figure("weights")
    if w is None:
        return None, ""
    if rec.engine == "trtllm":
        return w, "TensorRT-LLM's 'Loaded engine size' (the serialized engine: weights plus engine constants) per rank."
    return w, ""


def _kv(rec: LogRecord):
    """(memory figure, token count figure, note) of the KV pool, or (None, None, why-not)."""
    if rec.engine == "vllm":
        mem, tok = rec.figure("kv_available"), rec.figure("kv_tokens")
        if mem is None or tok is None:
            return None, None, "the log has no 'Available KV cache memory' with a 'GPU KV cache size' to pair"
        if mem.value <= 0:
            return None, None, f"the pool is {mem.value} {mem.unit} (the engine failed to start)"
        return mem, tok, ("vLLM sizes the pool first and reports its token capacity; evaluating the cache for that many "
                          "tokens checks bytes per token. For hybrid and sliding-window models vLLM derives the token "
                          "figure from concurrency x max_model_len.")
    if rec.engine == "sglang":
        k, v, pool, tok = rec.figure("kv_k"), rec.figure("kv_v"), rec.figure("kv_pool"), rec.figure("kv_tokens")
        if tok is None or not ((k and v) or pool):
            return None, None, "the log has no 'KV Cache is allocated' line with its sizes"
        if pool is None:
            pool = Figure("kv_pool", round(k.value + v.value, 4), k.unit, k.line, k.text, "", k.means)
        return pool, tok, "SGLang's K size + V size for #tokens on one rank."
    if rec.engine == "llama.cpp":
        tot, ctx = rec.figure("kv_total"), rec.settings.get("context")
        if tot is None or ctx is None or tot.value <= 0:
            return None, None, "the log has no 'KV self size' / 'llama_kv_cache: size' with n_ctx"
        return tot, Figure("kv_tokens", float(ctx.value), "tokens", ctx.line, "", "", ""), "llama.cpp allocates the cache for n_ctx cells."
    if rec.engine == "trtllm":
        pool, tok = rec.figure("kv_pool"), rec.figure("kv_tokens")
        if pool is None or tok is None:
            return None, None, "the log has no KV allocation with its token count"
        return pool, tok, "TensorRT-LLM's paged KV pool for that many tokens."
    return None, None, "nvidia-smi reports the whole process, not a component"


_RELEASE = re.compile(r"^v?(\d+(?:\.\d+){0,3})")


def release_number(text) -> str | None:
    """'0.6.4' of the version a log prints ('v0.18.0', '0.6.4.post1', '0.5.3rc2'), or None."""
    m = _RELEASE.match(str(text or "").strip())
    return m.group(1) if m else None


def plan(rec: LogRecord, model: str, *, gpu: str | None = None, precision: str | None = None, kv_precision: str | None = None,
         source: str = "", tolerance: float = 0.05, digest_of: str = "", engine: str | None = None) -> tuple[list, list]:
    """The measurements entries a recognized log gives (engine_weights, engine_kv_cache and, for
    a serving engine whose profile and release are known (`engine`: 'vllm@0.15.1'), the
    engine_kv_pool it sized on `gpu`), and the lines saying what the measurements schema could
    not hold."""
    import hashlib

    where = source or f"log {rec.path}"
    tp = rec.setting("tp")
    version = rec.setting("version") or (engine.partition("@")[2] if engine else None)
    framework = f"{ {'vllm': 'vLLM', 'sglang': 'SGLang', 'llama.cpp': 'llama.cpp', 'trtllm': 'TensorRT-LLM'}.get(rec.engine, rec.engine)} " \
                f"{version or '(version not stated in the log)'}"
    base: dict[str, object] = {"model": model, "mode": "inference"}
    if precision:
        base["precision"] = precision
    if tp and tp > 1:
        base["tp"] = int(tp)
    kvp = kv_precision or _KV_DTYPES.get(str(rec.setting("kv_dtype") or ""), None)
    out, skipped = [], []
    tag = hashlib.sha256((digest_of or rec.path).encode()).hexdigest()[:8]
    eng = rec.engine.replace(".", "")
    w, wnote = _weights(rec)
    if w is not None:
        e = {"summary": f"{model} weights as loaded by {framework}" + (f" (tp {tp}, per GPU)" if tp and tp > 1 else "") + (f", {gpu}" if gpu else ""),
             "scenario": dict(base), "measures": "engine_weights", "measured": w.quantity, "tolerance": tolerance,
             "framework": framework, "source": f"{where}, line {w.line}", "quote": w.text[:300]}
        notes = [wnote] if wnote else []
        if w.means and w.means != w.unit:
            notes.append(f"printed '{_fmt(w.value)} {w.unit}'; {rec.engine}'s {w.unit} is {w.means} (bytes / 2**30).")
        if notes:
            e["note"] = " ".join(notes)
        out.append(Planned(f"ingest-{eng}-{_slug(model)}-weights-{tag}", e, w))
    else:
        skipped.append("engine_weights: the log prints no weights figure")
    mem, tok, why = _kv(rec)
    if mem is not None and tok is not None:
        sc = dict(base, seq_len=int(tok.value))
        if kvp:
            sc["kv_precision"] = kvp
        quant = mem.quantity if mem.unit != "B" else f"{int(mem.value)} B"
        e = {"summary": f"{model} KV cache pool of {int(tok.value):,} tokens ({framework})" + (f", {gpu}" if gpu else ""),
             "scenario": sc, "measures": "engine_kv_cache", "measured": quant, "tolerance": tolerance, "framework": framework,
             "source": f"{where}, lines {mem.line} and {tok.line}" if tok.line != mem.line else f"{where}, line {mem.line}",
             "quote": (mem.text if mem.text == tok.text or not tok.text else f"{mem.text} ... {tok.text}")[:300], "note": why}
        if mem.means and mem.means != mem.unit:
            e["note"] += f" Printed '{_fmt(mem.value)} {mem.unit}'; {rec.engine}'s {mem.unit} is {mem.means}."
        out.append(Planned(f"ingest-{eng}-{_slug(model)}-kv-{tag}", e, mem))
    else:
        skipped.append(f"engine_kv_cache: {why}")
    used: set = set()
    pool, ptok = _pool_figures(rec)
    if pool is not None and engine and gpu:
        out.append(_pool(rec, model, base, kvp, pool, ptok, engine, gpu, framework, where, tolerance, tag, eng, used))
    elif pool is not None:
        skipped.append(f"engine_kv_pool: the log does not state the {framework.split(' ')[0]} release the pool was sized by; "
                       f"pass --engine {rec.engine}@VERSION")
    held = {"weights", "kv_available", "kv_tokens", "kv_k", "kv_v", "kv_pool", "kv_total", "model_buffer", "kv_buffer"}
    for f in rec.figures:
        if f.name not in held:
            skipped.append(f"{f.name} = {_fmt(f.value)} {f.unit}{' on ' + f.device if f.device else ''} (line {f.line}): "
                           "no field in the measurements schema")
    for name in ("context", "gpu_memory_utilization", "mem_fraction_static", "max_concurrency"):
        s = rec.settings.get(name)
        if s is not None and name not in used:
            skipped.append(f"{name} = {s.value} (line {s.line}): no field in the measurements schema")
    return out, skipped


def _pool_figures(rec: LogRecord):
    """(the pool a serving engine sized, its token count or None), or (None, None): vLLM's
    'Available KV cache memory' (V0: kv_cache_size), SGLang's K + V size, TensorRT-LLM's paged
    KV allocation; a pool of 0 or less (the engine failed to start) is none."""
    if rec.engine == "vllm":
        mem = rec.figure("kv_available")
        return (mem, rec.figure("kv_tokens")) if mem is not None and mem.value > 0 else (None, None)
    if rec.engine in ("sglang", "trtllm"):
        mem, tok, _why = _kv(rec)
        return mem, tok
    return None, None


def _pool(rec, model, base, kvp, mem, tok, engine, gpu, framework, where, tolerance, tag, eng, used) -> Planned:
    """The engine_kv_pool entry: the pool the engine sized, in the scenario of its launch (serve
    mode, the engine at its release, the GPU, the context and memory fraction the log printed)."""
    sc: dict = {"model": model, "mode": "serve", "gpu": gpu, "engine": engine}
    sc.update({k: v for k, v in base.items() if k not in ("model", "mode")})
    if kvp:
        sc["kv_precision"] = kvp
    ctx = rec.settings.get("context")
    if ctx is not None:
        sc["seq_len"] = int(ctx.value)
        used.add("context")
    for name in ("gpu_memory_utilization", "mem_fraction_static"):
        f = rec.settings.get(name)
        if f is not None:
            sc["memory_fraction"] = float(f.value)
            used.add(name)
            break
    quant = mem.quantity if mem.unit != "B" else f"{int(mem.value)} B"
    e = {"summary": f"{model} KV cache pool {framework} sized on {gpu}" + (f", tp {sc['tp']}" if sc.get("tp") else ""),
         "scenario": sc, "measures": "engine_kv_pool", "measured": quant, "tolerance": tolerance, "framework": framework,
         "source": f"{where}, line {mem.line}", "quote": mem.text[:300],
         "note": "the pool as the engine sized it" + (f" ({int(tok.value):,} tokens)" if tok is not None else "")
                 + "; the scenario is the launch the log printed (context, memory fraction), the rest the engine's defaults at that release"}
    if mem.means and mem.means != mem.unit:
        e["note"] += f". Printed '{_fmt(mem.value)} {mem.unit}'; {rec.engine}'s {mem.unit} is {mem.means}."
    return Planned(f"ingest-{eng}-{_slug(model)}-pool-{tag}", e, mem)


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")
    return re.sub(r"-+", "-", s) or "model"
