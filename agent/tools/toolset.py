"""The tools one agent may call in one turn, and running a call safely."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from agent.tools.base import CallContext, Tool, ToolSource, current_call
from agent.tools.schemas import PRE_EXEC_MSG, drop_optional_nulls, function_tool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolResult:
    """What a tool call produced, already serialised for the model."""

    content: str
    is_error: bool


class ToolArgumentsError(ValueError):
    """The model's arguments for a call are not a JSON object."""


class ToolSet:
    """A name -> tool map that renders the model's `tools[]` and runs calls with a timeout.

    `tools` are fixed; `sources` (MCP servers, a Realtime client's tools) are listed
    again by `refresh()` before each step. On a name clash the first tool wins.
    A tool that raises, times out, is unknown or gets bad arguments yields an error
    result the model sees; it never raises into the agent loop.
    """

    def __init__(self, tools: Iterable[Tool], timeout_s: float = 20.0, sources: Sequence[ToolSource] = ()) -> None:
        self._fixed = list(tools)
        self._sources = list(sources)
        self._timeout_s = timeout_s
        self._tools = _by_name(self._fixed)

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def with_source(self, source: ToolSource) -> ToolSet:
        """A tool set with these tools plus `source`'s."""
        return ToolSet(self._fixed, self._timeout_s, [*self._sources, source])

    async def refresh(self) -> None:
        """List every source again (each one's tools as they are now)."""
        if not self._sources:
            return
        listed = await asyncio.gather(*(source.list_tools() for source in self._sources))
        self._tools = _by_name([*self._fixed, *(tool for tools in listed for tool in tools)])

    def specs(self, strict: bool) -> list[dict[str, Any]]:
        """The `tools[]` for a chat-completions request."""
        return [function_tool(t.name, t.description, t.parameters, strict) for t in self._tools.values()]

    def runs_on_client(self, name: str) -> bool:
        """Whether calls to `name` are handed to the caller's client instead of run here."""
        tool = self._tools.get(name)
        return tool is not None and tool.run is None

    def arguments(self, name: str, arguments_json: str) -> dict[str, Any]:
        """The tool's own arguments from the model's raw JSON: no `pre_exec_msg`, no strict-mode nulls."""
        try:
            arguments = json.loads(arguments_json or "{}")
        except json.JSONDecodeError as exc:
            raise ToolArgumentsError(f"arguments are not valid JSON: {exc}") from exc
        if not isinstance(arguments, dict):
            raise ToolArgumentsError("arguments must be a JSON object")
        arguments.pop(PRE_EXEC_MSG, None)
        tool = self._tools.get(name)
        return drop_optional_nulls(arguments, tool.parameters) if tool is not None else arguments

    async def call(self, name: str, arguments_json: str, context: CallContext | None = None) -> ToolResult:
        """Run one call from the model's raw JSON arguments; `context` says who it is for."""
        tool = self._tools.get(name)
        if tool is None or tool.run is None:
            return _error(f"unknown tool {name!r}" if tool is None else f"tool {name!r} runs on the client")
        try:
            arguments = self.arguments(name, arguments_json)
        except ToolArgumentsError as exc:
            return _error(str(exc))
        timeout_s = tool.timeout_s or self._timeout_s
        token = current_call.set(context)
        try:
            value = await asyncio.wait_for(tool.run(arguments), timeout=timeout_s)
        except TimeoutError:
            return _error(f"tool {name!r} timed out after {timeout_s:g} s")
        except Exception as exc:  # a tool's failure is information for the model, not a crash
            log.info("tool %s failed: %r", name, exc)
            return _error(f"{type(exc).__name__}: {exc}")
        finally:
            current_call.reset(token)
        return ToolResult(json.dumps({"result": value}, default=str), is_error=False)


def _by_name(tools: Iterable[Tool]) -> dict[str, Tool]:
    by_name: dict[str, Tool] = {}
    for tool in tools:
        if tool.name in by_name:
            log.warning("two tools are named %r; the model is offered the first one", tool.name)
            continue
        by_name[tool.name] = tool
    return by_name


def _error(message: str) -> ToolResult:
    return ToolResult(json.dumps({"error": message}), is_error=True)
