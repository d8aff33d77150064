"""A small real MCP server for the tests, built with the official `mcp` package.

Run over stdio (`python -m tests.mcp_server`) or streamable HTTP
(`python -m tests.mcp_server --http PORT`, endpoint `/mcp`). `--log FILE` appends one
line per event (`called NAME`, `cancelled NAME`) so a test can see what the server did.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import anyio

from mcp.server.mcpserver import MCPServer

server = MCPServer("confab-test-tools")
_log: Path | None = None


def _note(line: str) -> None:
    if _log is not None:
        with _log.open("a") as log:
            log.write(line + "\n")


@server.tool()
def lookup_order(order_id: str, include_items: bool = False) -> dict[str, object]:
    """Look up an order by its id.

    Args:
        order_id: The order number, e.g. A-1001.
        include_items: Whether to list the items too.
    """
    _note(f"called lookup_order {order_id}")
    order: dict[str, object] = {"order_id": order_id, "status": "shipped", "server_pid": os.getpid()}
    if include_items:
        order["items"] = ["teapot"]
    return order


@server.tool()
def tag_counts(tags: dict[str, int]) -> int:
    """Add up free-form tag counts (a schema that cannot be strict: an open-ended object).

    Args:
        tags: Any tag names mapped to counts.
    """
    return sum(tags.values())


@server.tool()
async def slow_lookup(seconds: float) -> str:
    """Wait, then answer (to test timeouts and cancellation).

    Args:
        seconds: How long to take.
    """
    _note("called slow_lookup")
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        _note("cancelled slow_lookup")
        raise
    return "finally"


@server.tool()
def crash() -> str:
    """Kill this server process on the spot (to test restarts)."""
    _note("called crash")
    os._exit(3)


def main() -> None:
    """Serve over stdio, or over streamable HTTP with `--http PORT`."""
    global _log
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, help="serve streamable HTTP on this loopback port")
    parser.add_argument("--log", type=Path, help="append what happens to this file")
    args = parser.parse_args()
    _log = args.log
    if args.http:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run()


if __name__ == "__main__":
    main()
