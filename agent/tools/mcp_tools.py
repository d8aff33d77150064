"""MCP servers' tools as Confab tools, and the process-wide manager that shares the servers."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

from mcp.types import CallToolResult, ContentBlock
from mcp.types import Tool as MCPTool

from agent.tools.base import Tool
from agent.tools.mcp_connection import MCPConnection
from memory.tool_records import MCPHttpServer, MCPStdioServer

_INVALID_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_MAX_NAME = 64


class MCPToolError(RuntimeError):
    """The MCP tool ran and reported an error (`isError`)."""


def _block_value(block: ContentBlock) -> Any:
    if block.type != "text":
        return f"[{block.type} content]"
    try:
        return json.loads(block.text)
    except ValueError:
        return block.text


def tool_result_value(result: CallToolResult) -> Any:
    """What the model sees of an MCP tool result: its content (text parsed as JSON when it is JSON).

    The content blocks are what MCP meant for the model; `structuredContent` is used
    only when there are none. Non-text blocks are named, not inlined.
    """
    values = [_block_value(block) for block in result.content]
    if result.is_error:
        raise MCPToolError(" ".join(str(v) for v in values) or "the tool reported an error")
    if not values:
        return result.structured_content
    return values[0] if len(values) == 1 else values


@dataclass(frozen=True)
class MCPToolSource:
    """One agent's view of one MCP server: which of its tools, under which names, with which timeout."""

    record: MCPStdioServer | MCPHttpServer
    connection: MCPConnection

    async def list_tools(self) -> list[Tool]:
        """The server's tools, as Confab tools."""
        wanted = self.record.tools
        return [self._adapt(t) for t in await self.connection.tools() if wanted is None or t.name in wanted]

    def _adapt(self, tool: MCPTool) -> Tool:
        async def run(arguments: dict[str, Any]) -> Any:
            return tool_result_value(await self.connection.call(tool.name, arguments))

        name = _INVALID_NAME_CHARS.sub("_", self.record.tool_prefix + tool.name)[:_MAX_NAME]
        return Tool(name, tool.description or tool.title or "", tool.input_schema, run, timeout_s=self.record.timeout_s)


class MCPManager:
    """The MCP servers of this process: one connection per distinct server, shared by every agent.

    Servers are started on first use (an agent's first step), restarted when they die
    and closed by `close()` at shutdown.
    """

    def __init__(self, connect_timeout_s: float) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._connections: dict[str, MCPConnection] = {}

    def source(self, record: MCPStdioServer | MCPHttpServer) -> MCPToolSource:
        """The tool source for one agent's MCP server entry."""
        key = record.model_dump_json(exclude={"tools", "tool_prefix", "timeout_s"})
        connection = self._connections.get(key)
        if connection is None:
            connection = self._connections[key] = MCPConnection(record, self._connect_timeout_s)
        return MCPToolSource(record, connection)

    async def close(self) -> None:
        """Stop every server this process started."""
        await asyncio.gather(*(c.close() for c in self._connections.values()))
        self._connections.clear()
