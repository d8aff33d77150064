"""Stored configuration of an agent's operator-supplied tools: MCP servers and HTTP webhooks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class _MCPServerBase(BaseModel):
    """Settings every MCP server shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tools: list[str] | None = Field(default=None, description="only offer these tools (default: all the server lists)")
    tool_prefix: str = Field(default="", description="prepended to every tool name, to keep servers apart")
    timeout_s: float | None = Field(default=None, gt=0, description="per-call timeout (default: CONFAB_TOOL_TIMEOUT_S)")


class MCPStdioServer(_MCPServerBase):
    """An MCP server Confab starts as a subprocess and talks to over its stdin/stdout."""

    type: Literal["stdio"] = "stdio"
    command: str
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, description="added to a minimal inherited environment")
    cwd: str | None = None

    @property
    def label(self) -> str:
        """How logs and errors name this server."""
        return " ".join([self.command, *self.args])


class MCPHttpServer(_MCPServerBase):
    """An MCP server Confab connects to over streamable HTTP."""

    type: Literal["http"] = "http"
    url: HttpUrl
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every request, e.g. Authorization")

    @property
    def label(self) -> str:
        """How logs and errors name this server."""
        return str(self.url)


MCPServerRecord = Annotated[MCPStdioServer | MCPHttpServer, Field(discriminator="type")]


class WebhookToolRecord(BaseModel):
    """A tool that is an HTTP endpoint: Confab POSTs the arguments, the JSON response is the result."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    url: HttpUrl
    secret: str | None = Field(default=None, description="signs each request (HMAC-SHA256) when set")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float | None = Field(default=None, gt=0, description="per-call timeout (default: CONFAB_TOOL_TIMEOUT_S)")
