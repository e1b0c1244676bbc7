"""The command line that realizes a serving engine's plan, and the lines that engine prints at
start-up with the plan's figures in them (the JSON document's `command` and `startup`; the text
lines are render/engine_command.py). Both are spelled by the engine profile's `launch:` entry for
the selected release (data/engines.yaml): the program, its flags with {NAME} fields, the engine's
names for KV-cache dtypes. The fields are the plan's values (fields() below, named by
reading/engine_profiles.py FIELDS); a template naming any other field, or an attribute or index
of one, is a data error at load."""
from __future__ import annotations

from ..reading import engine_profiles as ep
from ..reading.engine_profiles import template_problem
from ..reading.names import hub_ids
from .engines import of as engine_of

PLACEHOLDER = "MODEL"


def launch(entry) -> dict | None:
    """The profile's launch entry for its release, or None."""
    items = entry.raw.get("launch") or []
    key = ep.release_key(entry.raw["releases"], entry.raw.get("release") or ep.default_release(entry.raw))
    held = None
    for item in items:
        since = ep.release_key(entry.raw["releases"], item["since"])
        if since is not None and key is not None and ep.at_or_before(since, key):
            held = item
    return held


def _number(v: float) -> str:
    return f"{int(v)}" if float(v).is_integer() else f"{v:g}"


def fields(result) -> dict:
    """The plan's values a template may name."""
    sc, v = result.scenario, result.values
    i = sc.inputs
    kv = sc.selections["kv_precision"].id
    ids = hub_ids(sc.model)
    pool = float(v["kv_cache_pool"])
    return {
        "model": ids[-1] if ids else PLACEHOLDER,  # the last listed repo id: the instruct release where the catalog lists one
        # the context an engine must admit: the text and, with --images, the images' tokens (vLLM counts them in max_model_len)
        "tp": _number(i["tp"]), "pp": _number(i["pp"]), "seq_len": int(v.get("context_tokens", i["seq_len"])), "batch": int(i["batch"]),
        "memory_fraction": _number(round(float(v["engine_memory_fraction"] if sc.selections["engine"].facts["pool_rule"] != "free-fraction"
                                             else v["engine_fraction_given"]), 4)),
        "kv_precision": kv, "prefill_tokens": int(result.catalog.assumptions["prefill_chunk_tokens"].value),
        "kv_tokens": int(v["kv_token_capacity"]), "kv_blocks": int(v["kv_blocks"]), "max_concurrency": float(v["engine_max_concurrency"]),
        "pool_gib": pool / 2**30, "k_gib": pool / 2 / 2**30, "v_gib": pool / 2 / 2**30,
        # the LoRA slots: their rank only when there are slots (a flag with omit_if "" is then left out)
        "max_loras": int(i.get("max_loras", 0)), "max_lora_rank": int(i["max_lora_rank"]) if i.get("max_loras", 0) else "",
    }


def _fill(text: str, values: dict) -> str:
    return text.format_map(values) if template_problem(text) is None else text


def plan(result) -> dict | None:
    """{'argv': [...], 'notes': [...], 'startup': [...]} of a serving engine's answer, or None
    (no engine profile applies, or it has no launch entry for the release)."""
    entry = engine_of(result.scenario)
    if entry is None or "kv_cache_pool" not in result.values:
        return None
    spec = launch(entry)
    if spec is None:
        return None
    values = fields(result)
    notes = []
    dtypes = spec.get("kv_dtypes") or {}
    values["kv_dtype"] = dtypes.get(values["kv_precision"], "")
    argv = [_fill(w, values) for w in spec["command"]]
    for flag in spec.get("flags") or []:
        if "{kv_dtype}" in flag["value"] and not values["kv_dtype"]:
            notes.append(f"{entry.name} has no {flag['flag']} for the KV precision {values['kv_precision']}: the flag is left out")
            continue
        value = _fill(flag["value"], values)
        if flag.get("omit_if") is not None and value == flag["omit_if"]:
            continue
        argv += [flag["flag"]] if flag.get("switch") else [flag["flag"], value]
    if values["model"] == PLACEHOLDER:
        notes.append(f"{PLACEHOLDER}: the path or Hub id of {result.scenario.model.id}")
    return {"argv": argv, "notes": notes, "startup": [_fill(line, values) for line in spec.get("startup") or []]}


def command(result) -> str | None:
    import shlex  # only for a serving engine's answer

    p = plan(result)
    return None if p is None else " ".join(shlex.quote(a) for a in p["argv"])
