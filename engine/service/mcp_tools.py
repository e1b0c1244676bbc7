"""`vramrules mcp`: a Model Context Protocol server on stdio (the `mcp` package, version 2; its
low-level Server, so each tool's input schema is the request schema service/fields.py derives
from the catalog's vocabulary). Tools: eval, fit, list_entries, show. A result is the JSON the
CLI prints with --format json, as text content (and as structured content when it is an object);
a refused request or a failed rule is a tool error whose text is the JSON list of the CLI's
error objects [{code, file, line, col, pointer, message, hint}] (structured: {"errors": [...]}).
This module is imported only by `vramrules mcp`: nothing else needs the package."""
from __future__ import annotations

import json
from typing import Any

from ..errors import VramrulesError
from ..version import __version__
from .answer import Service, error_object

# tool -> (question of the request layer, description)
TOOLS = {
    "eval": ("eval", "Estimate the GPU memory of one LLM workload (model, mode, gpu, precision, seq_len, batch, ...) with this "
                     "organization's rules and data: every component, the total, and whether it fits on the gpu. "
                     "The same JSON as `vramrules eval --format json`."),
    "fit": ("fit", "Answer the inverse questions: with a gpu, the fewest GPUs that hold the workload (and cheaper changes); with "
                   "max: seq-len, batch or (rules llamacpp) n-gpu-layers, the largest that fits; min: n-cpu-moe (rules llamacpp), the fewest "
                   "layers' MoE experts in host RAM; without a gpu, which GPUs fit it on one card. "
                   "The same JSON as `vramrules fit --format json`."),
    "list_entries": ("list", "List catalog entries: models, gpus, precisions, modes, optimizers, lora-targets, rulesets or assumptions "
                             "(the same JSON as `vramrules list WHAT --format json`)."),
    "show": ("show", "One resolved catalog entry (model, gpu, precision, optimizer, lora-target, assumption, rule), each field with "
                     "the file:line and layer it came from (the same JSON as `vramrules show KIND ID --format json`)."),
}


def _text(obj) -> str:
    return json.dumps(obj, indent=2, default=str)


def build(service: Service, timeout: float = 30.0):
    """The low-level MCP Server over `service`."""
    import anyio
    import mcp_types as types
    from mcp.server.lowlevel import Server

    tools = [types.Tool(name=name, description=text, input_schema=service.schema(question))
             for name, (question, text) in TOOLS.items()]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    def failed(objects: list) -> types.CallToolResult:
        return types.CallToolResult(content=[types.TextContent(type="text", text=_text(objects))],
                                    structured_content={"errors": objects}, is_error=True)

    async def call_tool(ctx: Any, params: Any) -> types.CallToolResult:
        spec = TOOLS.get(params.name)
        if spec is None:
            return failed([error_object("usage_error", f"unknown tool '{str(params.name)[:100]}'", f"the tools: {', '.join(TOOLS)}")])
        try:
            answer = await anyio.to_thread.run_sync(service.answer, spec[0], params.arguments or {}, timeout)
        except VramrulesError as exc:
            return failed(exc.objects())
        except Exception as exc:  # a bug: one line, never a traceback
            return failed([error_object("internal_error", f"internal error: {type(exc).__name__}: {exc}", "this is a bug in vramrules; report it")])
        return types.CallToolResult(content=[types.TextContent(type="text", text=_text(answer))],
                                    structured_content=answer if isinstance(answer, dict) else None)

    return Server("vramrules", version=__version__,
                  instructions="GPU-memory estimates for LLM workloads from this organization's reviewed rules and data. "
                               "Ask eval for one scenario, fit for the inverse questions, list_entries and show for the catalog's ids.",
                  on_list_tools=list_tools, on_call_tool=call_tool)


def serve(data=(), sets=(), timeout: float = 30.0, hint: str = "") -> None:
    """Load the catalog, then serve MCP on stdin/stdout until the client closes them."""
    import anyio

    try:
        import mcp_types  # noqa: F401  (mcp 2 ships its types apart; an mcp 1.x lacks them)
        from mcp.server.stdio import stdio_server
    except ImportError as exc:  # an mcp 1.x, or a broken install
        from ..errors import UsageError

        raise UsageError(f"`vramrules mcp` needs version 2 of the mcp package ({exc}): {hint}") from None
    service = Service(data, sets)
    server = build(service, timeout)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    try:
        anyio.run(main)
    finally:
        service.close()
