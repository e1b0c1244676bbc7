"""`vramrules mcp`: the MCP server spawned over stdio (`python -m vramrules.cli mcp`) and driven
by the `mcp` package's own client: the tools and their schemas (the request schemas derived
from the vocabulary), each tool's answer equal to the CLI's --format json, and bad requests as
tool errors carrying the CLI's error objects. Without the package the command says how to
install it (exit 2)."""
from __future__ import annotations

import json
import os
import sys

import pytest
from click.testing import CliRunner

from vramrules.api import load_catalog
from vramrules.cli import main
from vramrules.service import fields as F

LLAMA_8B_4090_TOTAL = 18_459_600_538  # bytes, as `vramrules eval -m llama3.1-8b --gpu rtx-4090` gives them


def cli(*args):
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.output


def with_client(job, *server_args):
    """Run `await job(client)` against a freshly spawned `vramrules mcp`; its return value."""
    pytest.importorskip("mcp")
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-m", "vramrules.cli", "mcp", *server_args], env=dict(os.environ))
    out = {}

    async def run():
        with anyio.fail_after(120):
            async with Client(params, read_timeout_seconds=60) as client:
                out["value"] = await job(client)

    anyio.run(run)
    return out["value"]


def answer(result):
    assert not result.is_error, result.content[0].text[:500]
    return json.loads(result.content[0].text)


def errors(result):
    assert result.is_error
    objects = json.loads(result.content[0].text)
    assert result.structured_content == {"errors": objects}
    return objects


def test_the_tools_and_their_schemas():
    async def job(client):
        return (await client.list_tools()).tools

    tools = {t.name: t for t in with_client(job)}
    assert list(tools) == ["eval", "fit", "list_entries", "show"]
    cat = load_catalog(())
    assert tools["eval"].input_schema == F.schema(cat, "eval")
    assert tools["fit"].input_schema == F.schema(cat, "fit")
    assert tools["list_entries"].input_schema["required"] == ["what"]
    assert tools["show"].input_schema["properties"]["kind"]["enum"] == ["model", "gpu", "precision", "optimizer", "lora-target", "assumption", "rule"]
    assert {"seq_len", "kv_precision", "recompute", "tp", "lora_targets"} <= set(tools["eval"].input_schema["properties"])
    assert all(t.description and "JSON" in t.description for t in tools.values())


def test_each_tool_answers_what_the_cli_prints():
    async def job(client):
        return [await client.call_tool("eval", {"model": "llama3.1-8b", "gpu": "rtx-4090"}),
                await client.call_tool("eval", {"model": "llama3-70b", "mode": "train-qlora", "gpu": "rtx-4090", "seq_len": "2K"}),
                await client.call_tool("fit", {"model": "llama3.1-8b", "gpu": "rtx-4090", "max": "seq-len"}),
                await client.call_tool("list_entries", {"what": "models"}),
                await client.call_tool("show", {"kind": "gpu", "id": "rtx-4090"})]

    ev, qlora, fit, listed, shown = with_client(job)
    doc = answer(ev)
    assert doc == json.loads(cli("eval", "-m", "llama3.1-8b", "--gpu", "rtx-4090", "--format", "json")[1])
    assert doc["total"]["bytes"] == LLAMA_8B_4090_TOTAL and doc["fit"]["fits"] is True
    assert ev.structured_content == doc
    doc = answer(qlora)
    assert doc == json.loads(cli("eval", "-m", "llama3-70b", "--mode", "train-qlora", "--gpu", "rtx-4090", "--seq-len", "2K", "--format", "json")[1])
    assert doc["inputs"]["seq_len"] == 2048 and doc["inputs"]["precision"] == "nf4-dq"
    doc = answer(fit)
    assert doc == json.loads(cli("fit", "-m", "llama3.1-8b", "--gpu", "rtx-4090", "--max", "seq-len", "--format", "json")[1])
    assert doc["question"] == "max-seq-len" and doc["answer"] > 32768
    rows = answer(listed)
    assert rows == json.loads(cli("list", "models", "--format", "json")[1])
    assert "llama3.1-8b" in [r["id"] for r in rows] and listed.structured_content is None
    rows = answer(shown)
    assert rows == json.loads(cli("show", "gpu", "rtx-4090", "--format", "json")[1])
    assert {r["field"]: r["value"] for r in rows}["memory"] == "24 GiB"


def test_bad_requests_are_tool_errors_with_the_clis_objects():
    async def job(client):
        return [await client.call_tool("eval", {"model": "llama3.1-8b", "seq_len": 0, "gradient-checkpointing": True}),
                await client.call_tool("eval", {"model": "llama3-7b"}),
                await client.call_tool("fit", {"model": "llama3.1-8b", "max": "batch"}),
                await client.call_tool("show", {"kind": "model", "id": "llama-9000"}),
                await client.call_tool("list_entries", {}),
                await client.call_tool("estimate", {"model": "llama3.1-8b"}),
                await client.call_tool("eval", {"model": "llama3.1-8b", "gpu": "rtx-4090"})]

    bad_fields, unknown_model, max_no_gpu, unknown_entry, no_what, no_tool, after = with_client(job)
    objects = errors(bad_fields)
    assert [(o["pointer"], o["message"]) for o in objects] == [("/seq_len", "seq_len must be a whole number >= 1, got 0"),
                                                               ("/gradient-checkpointing", "unknown field 'gradient-checkpointing'")]
    assert objects[1]["hint"] == "the CLI's --gradient-checkpointing is \"recompute\": \"full\""
    code, out = cli("eval", "--model", "llama3-7b", "--format", "json")
    assert code == 2 and errors(unknown_model) == json.loads(out)
    assert errors(max_no_gpu)[0]["pointer"] == "/max"
    assert errors(unknown_entry)[0]["message"].startswith("unknown model 'llama-9000'")
    assert errors(no_what)[0] == {"code": "usage_error", "file": "<request>", "line": None, "col": None, "pointer": "/what",
                                  "message": "a list request needs 'what'", "hint": "one of: " + ", ".join(F.LIST_KINDS)}
    assert errors(no_tool)[0]["message"] == "unknown tool 'estimate'"
    assert answer(after)["total"]["bytes"] == LLAMA_8B_4090_TOTAL  # the server goes on after refusals


def test_the_servers_policy_is_its_sets():
    async def job(client):
        return await client.call_tool("eval", {"model": "llama3.1-8b", "gpu": "rtx-4090"})

    doc = answer(with_client(job, "--set", "assume.cuda_context=2 GiB"))
    assert doc["overrides"] == {"assume.cuda_context": {"value": "2 GiB", "was": "500 MiB"}}
    assert doc["total"]["bytes"] > LLAMA_8B_4090_TOTAL


def test_without_the_package_it_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mcp", None)  # importlib.util.find_spec("mcp") is None: not installed
    code, out = cli("mcp")
    assert code == 2
    assert "needs the Model Context Protocol SDK" in out and "pip install 'vramrules[mcp]'" in out and "Traceback" not in out


def test_an_mcp_1x_is_a_usage_error_too(monkeypatch):
    pytest.importorskip("mcp")
    monkeypatch.setitem(sys.modules, "mcp_types", None)  # mcp 1.x ships no mcp_types
    code, out = cli("mcp")
    assert code == 2 and "needs version 2 of the mcp package" in out and "Traceback" not in out


def test_a_missing_data_folder_is_refused_before_serving(tmp_path):
    pytest.importorskip("mcp")
    code, out = cli("mcp", "--data", str(tmp_path / "nope"))
    assert code == 2 and "no such folder" in out
