"""The CLI's tool options: MCP servers and webhooks on `agents create`, and `confab tools list`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from memory.conversations import Conversation
from memory.tool_records import MCPHttpServer, MCPServerRecord, MCPStdioServer, WebhookToolRecord
from server.runtime import Runtime


class ToolsFile(BaseModel):
    """A `--tools-file` (JSON, or TOML when it ends in .toml): MCP servers and webhooks in full."""

    model_config = ConfigDict(extra="forbid")

    mcp_servers: list[MCPServerRecord] = Field(default_factory=list)
    webhooks: list[WebhookToolRecord] = Field(default_factory=list)


def add_create_options(create: argparse.ArgumentParser) -> None:
    """The tool options of `confab agents create`."""
    create.add_argument("--mcp-stdio", action="append", default=[], metavar="COMMAND",
                        help="an MCP server to start, e.g. 'python -m my_server' (repeatable)")
    create.add_argument("--mcp-http", action="append", default=[], metavar="URL",
                        help="a streamable-HTTP MCP server, e.g. http://127.0.0.1:8000/mcp (repeatable)")
    create.add_argument("--tools-file", action="append", default=[], type=Path, metavar="FILE",
                        help="JSON/TOML with 'mcp_servers' and 'webhooks' lists (repeatable); see README")


def tool_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The `mcp_servers` and `webhooks` of the agent the options describe (ValueError when they are wrong)."""
    servers: list[MCPStdioServer | MCPHttpServer] = []
    for command in args.mcp_stdio:
        words = shlex.split(command)
        if not words:
            raise ValueError("--mcp-stdio needs a command")
        servers.append(MCPStdioServer(command=words[0], args=words[1:]))
    servers.extend(MCPHttpServer(url=url) for url in args.mcp_http)
    webhooks: list[WebhookToolRecord] = []
    for path in args.tools_file:
        loaded = _load(path)
        servers.extend(loaded.mcp_servers)
        webhooks.extend(loaded.webhooks)
    return {"mcp_servers": servers, "webhooks": webhooks}


def _load(path: Path) -> ToolsFile:
    try:
        text = path.read_text()
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    return ToolsFile.model_validate(data)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], owner: argparse.ArgumentParser) -> None:
    """Register `confab tools list AGENT`."""
    tools = commands.add_parser("tools", help="the tools agents can call")
    sub = tools.add_subparsers(dest="tools_command", required=True)
    listing = sub.add_parser("list", parents=[owner], help="every tool the agent's model sees, with its final JSON schema")
    listing.add_argument("agent", help="agent name or id")


async def run_tools(args: argparse.Namespace, runtime: Runtime, owner: str) -> int:
    """`confab tools list`: the model's `tools[]` as JSON (MCP servers are started to list theirs)."""
    agent = await runtime.agents.get(owner, args.agent)
    if agent is None:
        print(f"confab: no agent {args.agent!r} for owner {owner!r}", file=sys.stderr)
        return 1
    tools = runtime.tools_for(agent, Conversation.of(agent, None))
    await tools.refresh()
    print(json.dumps(tools.specs(strict=agent.llm.strict), indent=2))
    return 0
