"""The tool abstraction every kind of tool (Python function, built-in, remote) is adapted to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

ToolRunner = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Tool:
    """A callable the model may use: its name, description, JSON schema of arguments and runner.

    `parameters` is the tool's own schema, before Confab adds `pre_exec_msg`; `run`
    receives the arguments without `pre_exec_msg` and returns any JSON-able value.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    run: ToolRunner
