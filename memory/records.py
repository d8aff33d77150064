"""Stored records: what Confab keeps in Redis, as pydantic models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from memory.tool_records import MCPServerRecord, WebhookToolRecord


def new_id(prefix: str) -> str:
    """A fresh, sortable-enough unique id with a readable prefix (`agent-…`, `msg-…`)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class LLMConfig(BaseModel):
    """Which model an agent talks to; unset fields fall back to the server's settings."""

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    temperature: float | None = None
    strict: bool = False
    max_steps: int = Field(default=50, ge=1)


class AgentRecord(BaseModel):
    """An agent: who it is, which model it uses and which tools it may call."""

    id: str = Field(default_factory=lambda: new_id("agent"))
    owner: str
    name: str
    system_prompt: str = "You are a helpful voice assistant. Keep answers short and speakable."
    llm: LLMConfig = Field(default_factory=LLMConfig)
    tools: list[str] = Field(default_factory=list, description="Python tools as 'module:function'")
    mcp_servers: list[MCPServerRecord] = Field(default_factory=list, description="MCP servers whose tools it may call")
    webhooks: list[WebhookToolRecord] = Field(default_factory=list, description="HTTP endpoints it may call as tools")
    timezone: str = "UTC"
    caller_blocks: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]] = Field(
        default_factory=list, description="custom memory block labels each caller has their own of (`human` always is)"
    )
    created_at: datetime = Field(default_factory=utc_now)


class ToolCallRecord(BaseModel):
    """One function call the model asked for, in OpenAI's shape."""

    id: str
    name: str
    arguments: str


Role = Literal["system", "user", "assistant", "tool"]


class MessageRecord(BaseModel):
    """One message of a conversation, persisted in that conversation's history."""

    id: str = Field(default_factory=lambda: new_id("msg"))
    conversation_id: str
    role: Role
    content: str | None = None
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    tool_call_id: str | None = None
    hidden: bool = Field(default=False, description="system-authored, not said by the caller")
    interrupted: bool = Field(default=False, description="cut short by barge-in or cancel")
    response_id: str | None = Field(default=None, description="the Realtime response that produced it")
    created_at: datetime = Field(default_factory=utc_now)

    def to_openai(self) -> dict[str, Any]:
        """The message as a chat-completions `messages[]` entry."""
        message: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            message["tool_call_id"] = self.tool_call_id
        return message
