"""The tool abstraction every kind of tool (Python function, built-in, remote) is adapted to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

ToolRunner = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Tool:
    """A callable the model may use: its name, description, JSON schema of arguments and runner.

    `parameters` is the tool's own schema, before Confab adds `pre_exec_msg`; `run`
    receives the arguments without `pre_exec_msg` and returns any JSON-able value.
    A tool without `run` is run by the caller's client (Realtime client-side tools):
    the agent hands the call over and ends its response. `timeout_s` overrides the
    tool set's timeout for this tool.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    run: ToolRunner | None
    timeout_s: float | None = None


class ToolSource(Protocol):
    """Tools that can change while an agent runs (an MCP server's, a client's); listed before each step."""

    async def list_tools(self) -> Sequence[Tool]:
        """The tools available now."""


@dataclass(frozen=True)
class CallContext:
    """Who a tool call is for, for runners that report it (webhooks)."""

    agent_id: str
    call_id: str
    response_id: str | None = None


current_call: ContextVar[CallContext | None] = ContextVar("current_call", default=None)
"""The call being run, set by `ToolSet.call` for the duration of one runner."""
