"""`ragwright mcp`: serve the data dir to an MCP client (a desktop assistant) over stdio."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import ConfigFile, DataDir, workspace


def mcp(
    data_dir: DataDir = None,
    config: ConfigFile = None,
    key: Annotated[
        str | None,
        typer.Option(
            envvar="RAGWRIGHT_API_KEY",
            help="Read only what this API key may (its tenant and groups); default: every document",
        ),
    ] = None,
) -> None:
    """Serve search, ask and the documents over MCP on stdin/stdout (the HTTP server has it at /mcp)."""
    from ..mcp.stdio import serve_stdio
    from ..server.deps import ApiError

    with workspace(data_dir, config) as ws:
        try:
            serve_stdio(ws, key)
        except ApiError as exc:
            raise ValueError(f"--key: {exc.message}") from None
