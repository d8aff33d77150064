"""The process-wide plumbing of operator tools: Python functions, webhooks and shared MCP servers."""

from __future__ import annotations

import httpx

from agent.tools.base import Tool, ToolSource
from agent.tools.mcp_tools import MCPManager
from agent.tools.python_tools import load_python_tool
from agent.tools.webhooks import webhook_tool
from memory.records import AgentRecord


class ToolHub:
    """Builds an agent's own tools; owns the webhook HTTP client and the MCP servers, closed by `close()`."""

    def __init__(self, tool_timeout_s: float, mcp_connect_timeout_s: float) -> None:
        self._tool_timeout_s = tool_timeout_s
        self._http = httpx.AsyncClient(follow_redirects=False)
        self.mcp = MCPManager(mcp_connect_timeout_s)

    def tools(self, agent: AgentRecord) -> list[Tool]:
        """The agent's fixed tools: Python functions, then webhooks (ToolImportError for a bad reference)."""
        python = [load_python_tool(ref) for ref in agent.tools]
        return [*python, *(webhook_tool(w, self._http, self._tool_timeout_s) for w in agent.webhooks)]

    def sources(self, agent: AgentRecord) -> list[ToolSource]:
        """The agent's MCP servers, whose tools are listed before each step."""
        return [self.mcp.source(server) for server in agent.mcp_servers]

    async def close(self) -> None:
        """Stop the MCP servers and close the HTTP client."""
        await self.mcp.close()
        await self._http.aclose()
