"""The local servers over the questions: `vramrules serve` (a JSON API over HTTP) and `vramrules
mcp` (a Model Context Protocol server over stdio). Both read one catalog, loaded at start, and
answer requests validated like the CLI's words with the documents `--format json` prints.

    fields    the request fields of eval, fit, list and show, derived from the vocabulary: one
              table that both the validator and the JSON Schemas are made of
    answer    the request layer: a validated request -> the CLI's JSON document, or the
              structured error objects; one engine worker, time-bounded
    http_api  the HTTP server (stdlib http.server): routes, statuses, size and time bounds
    mcp_tools the MCP server (the `mcp` package, imported only there): tools and their schemas
"""
