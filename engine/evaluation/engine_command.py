"""The llama-server command line that realizes an `eval --rules llamacpp` answer (the JSON
document's `command`; the text renderer's lines are render/engine_command.py).

Which rule set gets one is told by its rules, not its name: a rule set that defines every rule of
COMMAND_RULES (data/rules/llamacpp.yaml does; an organization's copy of it under another name
would too) is a llama.cpp profile, and its command is built from the scenario's resolved inputs
and those rules' values. The flags are llama-server's own spellings (llama.cpp 0c1e57098,
common/arg.cpp: -c/--ctx-size :1639, -ub/--ubatch-size :1676, --swa-full :1690, -kvu :1724,
-fa/--flash-attn :1754, -ctk/-ctv :2437/:2450, -np/--parallel :2544, -ngl/--gpu-layers :2789,
--no-kv-offload, -ncmoe/--n-cpu-moe :2767); the numbers and choices come from the data."""
from __future__ import annotations

import shlex

# the rules a llama.cpp profile defines (data/rules/llamacpp.yaml): -ngl is gpu_layer_slots
COMMAND_RULES = ("gpu_layer_slots", "ctx_seq_cells", "ubatch_tokens")
PLACEHOLDER = "MODEL.gguf"
DEFAULT_N_BATCH = 2048  # common/common.h:453: -b is printed only when it differs


def cache_type(precision_id: str) -> str:
    """A KV precision's llama.cpp --cache-type name: fp16 -> f16, gguf-q8-0 -> q8_0."""
    if precision_id.startswith("gguf-"):
        return precision_id[len("gguf-"):].replace("-", "_")
    return {"fp16": "f16", "fp32": "f32"}.get(precision_id, precision_id)


def applies(result) -> bool:
    rules = result.compiled.rules
    return all(name in rules for name in COMMAND_RULES) and "n_ubatch" in result.scenario.inputs


def model_path(result) -> str:
    """The GGUF given with --model-config, else a placeholder for the user's file."""
    where = str(result.scenario.model.location)
    return where if where.lower().endswith(".gguf") else PLACEHOLDER


def argv(result) -> list[str] | None:
    """llama-server's argv for the scenario, or None when the rule set is no llama.cpp profile."""
    if not applies(result):
        return None
    sc, v = result.scenario, result.values
    i = sc.inputs
    out = ["llama-server", "-m", model_path(result), "-c", f"{int(i['seq_len'])}", "-ngl", f"{int(v['gpu_layer_slots'])}",
           "-ub", f"{int(i['n_ubatch'])}"]
    if int(i["n_batch"]) != DEFAULT_N_BATCH:
        out += ["-b", f"{int(i['n_batch'])}"]
    out += ["-np", f"{int(i['parallel'])}",
            "-ctk", cache_type(sc.selections["kv_precision"].id), "-ctv", cache_type(sc.selections["kv_precision_v"].id),
            "-fa", str(i["flash_attn"])]
    if i["swa_full"]:
        out.append("--swa-full")
    if i["kv_unified"]:
        out.append("-kvu")
    if not i["kv_offload"]:
        out.append("--no-kv-offload")
    if i.get("n_cpu_moe"):
        out += ["--n-cpu-moe", f"{int(i['n_cpu_moe'])}"]
    return out


def command(result) -> str | None:
    """The command as one shell-quoted line, or None."""
    args = argv(result)
    return None if args is None else " ".join(shlex.quote(a) for a in args)
