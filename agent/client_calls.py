"""Tool calls handed to the caller's client: which still wait for a result, and how results are recorded.

Chat-completions needs every assistant tool call answered by a `tool` message before
the conversation goes on. A client answers after its response ended, so the agent finds
the calls still waiting in the tail of its context; when anything else is added first,
they are closed with an error result (a late answer is then refused).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from agent.tools.toolset import ToolResult
from memory.records import MessageRecord, ToolCallRecord

NO_CLIENT_RESULT = ToolResult(
    json.dumps({"error": "no result: the client did not answer this call before the conversation moved on"}), is_error=True
)


def unanswered_calls(context: Sequence[MessageRecord]) -> list[ToolCallRecord]:
    """The tool calls of the latest assistant tool-call message that have no result yet."""
    answered: set[str] = set()
    for message in reversed(context):
        if message.role == "tool" and message.tool_call_id is not None:
            answered.add(message.tool_call_id)
        elif message.role == "assistant" and message.tool_calls:
            return [c for c in message.tool_calls if c.id not in answered]
        else:
            return []
    return []


def client_result(output: str) -> ToolResult:
    """A client's `function_call_output` as the model sees results (`{"result": ...}`, JSON kept as JSON)."""
    try:
        value = json.loads(output)
    except ValueError:
        value = output
    return ToolResult(json.dumps({"result": value}), is_error=False)
