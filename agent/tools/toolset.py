"""The tools one agent may call in one turn, and running a call safely."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agent.tools.base import Tool
from agent.tools.schemas import PRE_EXEC_MSG, function_tool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolResult:
    """What a tool call produced, already serialised for the model."""

    content: str
    is_error: bool


class ToolSet:
    """A name -> tool map that renders the model's `tools[]` and runs calls with a timeout.

    A tool that raises, times out, is unknown or gets bad arguments yields an error
    result the model sees; it never raises into the agent loop.
    """

    def __init__(self, tools: Iterable[Tool], timeout_s: float = 20.0) -> None:
        self._tools = {t.name: t for t in tools}
        self._timeout_s = timeout_s

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def specs(self, strict: bool) -> list[dict[str, Any]]:
        """The `tools[]` for a chat-completions request."""
        return [function_tool(t.name, t.description, t.parameters, strict) for t in self._tools.values()]

    async def call(self, name: str, arguments_json: str) -> ToolResult:
        """Run one call from the model's raw JSON arguments."""
        tool = self._tools.get(name)
        if tool is None:
            return _error(f"unknown tool {name!r}")
        try:
            arguments = json.loads(arguments_json or "{}")
        except json.JSONDecodeError as exc:
            return _error(f"arguments are not valid JSON: {exc}")
        if not isinstance(arguments, dict):
            return _error("arguments must be a JSON object")
        arguments.pop(PRE_EXEC_MSG, None)
        try:
            value = await asyncio.wait_for(tool.run(arguments), timeout=self._timeout_s)
        except TimeoutError:
            return _error(f"tool {name!r} timed out after {self._timeout_s:g} s")
        except Exception as exc:  # a tool's failure is information for the model, not a crash
            log.info("tool %s failed: %r", name, exc)
            return _error(f"{type(exc).__name__}: {exc}")
        return ToolResult(json.dumps({"result": value}, default=str), is_error=False)


def _error(message: str) -> ToolResult:
    return ToolResult(json.dumps({"error": message}), is_error=True)
