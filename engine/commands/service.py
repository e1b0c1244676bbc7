"""`serve` and `mcp`: the catalog behind a local JSON API, or behind an MCP server on stdio."""
from __future__ import annotations

import click

from ..errors import UsageError
from .common import data_option, set_option

MCP_HINT = "pip install 'vramrules[mcp]' (or: pip install 'mcp>=2.3,<3')"


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; anything but loopback prints a warning.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: any free one; the first line says which).")
@data_option
@set_option
@click.option("--timeout", type=click.FloatRange(min=0.01, max=3600), default=30.0, show_default=True, metavar="SECONDS",
              help="Longest a request may compute before its answer is a timeout error (504).")
@click.option("--read-timeout", type=click.FloatRange(min=0.01, max=3600), default=10.0, show_default=True, metavar="SECONDS",
              help="Longest a client may take to send a request (408).")
@click.option("--quiet", is_flag=True, help="No line per request on standard error.")
def serve_cmd(host, port, data, sets, timeout, read_timeout, quiet):
    """Answer eval, fit, list and show as a JSON API on this machine (the --format json documents).

    \b
      vramrules serve --port 8000 --data ./our-policy
      curl -s localhost:8000/v1/eval -H 'Content-Type: application/json' \\
           -d '{"model": "llama3.1-8b", "gpu": "rtx-4090", "seq_len": "32k"}'
    """
    from ..service.http_api import exposure, make_server

    warning = exposure(host)
    if warning:
        click.echo(warning, err=True)
    server = make_server(host, port, tuple(data), tuple(sets), timeout, read_timeout, quiet)
    try:
        click.echo(f"vramrules serve: listening on {server.url} (POST eval, fit; GET list/WHAT, show/KIND/ID, health; Ctrl-C stops)")
        import sys

        sys.stdout.flush()
        server.serve_forever()
    finally:
        server.server_close()


@click.command("mcp")
@data_option
@set_option
@click.option("--timeout", type=click.FloatRange(min=0.01, max=3600), default=30.0, show_default=True, metavar="SECONDS",
              help="Longest a tool call may compute before it answers with a timeout error.")
def mcp_cmd(data, sets, timeout):
    """A Model Context Protocol server on stdio: the tools eval, fit, list_entries and show.

    \b
      {"mcpServers": {"vramrules": {"command": "vramrules", "args": ["mcp", "--data", "/srv/our-policy"]}}}
    """
    import importlib.util

    if importlib.util.find_spec("mcp") is None:
        raise UsageError(f"`vramrules mcp` needs the Model Context Protocol SDK, which is not installed: {MCP_HINT}")
    from ..service.mcp_tools import serve

    serve(tuple(data), tuple(sets), timeout, MCP_HINT)
