"""The llama-server command line that realizes an `eval --rules llamacpp` answer (the JSON
document's `command`; the text renderer's lines are render/engine_command.py).

Which rule set gets one is told by its rules, not its name: a rule set that defines every rule of
COMMAND_RULES (data/rules/llamacpp.yaml does; an organization's copy of it under another name
would too) is a llama.cpp profile, and its command is built from the scenario's resolved inputs
and those rules' values. The flags are llama-server's own spellings (llama.cpp 0c1e57098,
common/arg.cpp: -c/--ctx-size :1639, -ub/--ubatch-size :1676, --swa-full :1690, -kvu :1724,
-fa/--flash-attn :1754, -ctk/-ctv :2437/:2450, -np/--parallel :2544, -ngl/--gpu-layers :2789,
--no-kv-offload, -ncmoe/--n-cpu-moe :2767, -ts/--tensor-split); the numbers and choices come from
the data."""
from __future__ import annotations

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
    split = tensor_split(result)
    if split is not None:
        out += ["--tensor-split", split]
    return out


def tensor_split(result) -> str | None:
    """--tensor-split as the plan's slots per GPU (23,10), on several GPUs: split points of
    whole slots over their sum give every GPU exactly the slots of the plan, whatever memory is
    free when llama.cpp starts (src/llama-model.cpp:1577-1597; split points k / n are the same
    float on both sides of the comparison)."""
    slots = result.values.get("device_slots")
    if not isinstance(slots, list) or len(slots) < 2 or not result.values.get("gpu_layer_slots"):
        return None
    return ",".join(f"{int(s)}" for s in slots)


def command(result) -> str | None:
    """The command as one shell-quoted line, or None."""
    args = argv(result)
    if args is None:
        return None
    import shlex  # only for a llama.cpp profile

    return " ".join(shlex.quote(a) for a in args)


# Ollama 0.33 (ollama/ollama v0.33.0-rc2, fb3076099) starts llama-server itself, from its own
# options and environment: llm/llama_server.go:375-376 (-c num_ctx x OLLAMA_NUM_PARALLEL, -np
# OLLAMA_NUM_PARALLEL), :394-396 (OLLAMA_KV_CACHE_TYPE as both -ctk and -ctv), :404-409 (-ngl
# num_gpu; its default -1 passes none: llama-server's auto), :590-592 (num_batch as both -b and
# -ub), :597-621 (OLLAMA_FLASH_ATTENTION=1|0 as -fa on|off, else auto); envconfig/config.go:275
# (OLLAMA_NUM_PARALLEL, default 1). The llama-server flags Ollama has no option for make a plan
# it cannot run.
OLLAMA_VERSION = "0.33"
_NO_OLLAMA = (("swa_full", "--swa-full"), ("kv_unified", "-kvu"), ("n_cpu_moe", "--n-cpu-moe"))


def ollama(result) -> dict | None:
    """The Ollama settings that make it start the same llama-server: {"env", "parameters"}, or
    {"unavailable": why} when a flag of the plan has no Ollama option; None when the rule set is
    no llama.cpp profile."""
    if not applies(result):
        return None
    sc, v = result.scenario, result.values
    i = sc.inputs
    why = [flag for name, flag in _NO_OLLAMA if i.get(name)]
    if tensor_split(result) is not None:  # Ollama splits over its GPUs by its own estimate (llm/server.go)
        why.append("--tensor-split")
    if not i["kv_offload"]:
        why.append("--no-kv-offload")
    ctk, ctv = cache_type(sc.selections["kv_precision"].id), cache_type(sc.selections["kv_precision_v"].id)
    if ctk != ctv:
        why.append(f"-ctk {ctk} with -ctv {ctv} (OLLAMA_KV_CACHE_TYPE sets both)")
    n_ctx, n_par = int(i["seq_len"]), int(i["parallel"])
    if n_ctx % n_par:
        why.append(f"-c {n_ctx} over -np {n_par} (num_ctx is per sequence: -c = num_ctx x OLLAMA_NUM_PARALLEL)")
    if why:
        return {"unavailable": "Ollama has no option for " + ", ".join(why)}
    env = {"OLLAMA_NUM_PARALLEL": str(n_par)}
    if ctk != "f16":
        env["OLLAMA_KV_CACHE_TYPE"] = ctk
    if i["flash_attn"] != "auto":
        env["OLLAMA_FLASH_ATTENTION"] = "1" if i["flash_attn"] == "on" else "0"
    return {"env": env, "parameters": {"num_ctx": n_ctx // n_par, "num_gpu": int(v["gpu_layer_slots"]), "num_batch": int(v["ubatch_tokens"])}}


def ollama_line(result) -> str | None:
    """The Ollama settings as one line, or None."""
    o = ollama(result)
    if o is None:
        return None
    if "unavailable" in o:
        return f"Ollama {OLLAMA_VERSION}: {o['unavailable']}"
    import shlex

    env = " ".join(f"{k}={shlex.quote(x)}" for k, x in o["env"].items())
    params = ", ".join(f"{k} {x}" for k, x in o["parameters"].items())
    return f"Ollama {OLLAMA_VERSION} (it starts this llama-server): {env} ollama serve; PARAMETER {params}"
