"""Client-side tools over `/v1/realtime`, as in OpenAI's Realtime API.

The client declares function tools in `session.update`; they are offered to the model
next to the agent's own. When the model calls one, the client gets the `function_call`
output item (`response.output_item.added`, `response.function_call_arguments.delta`
and `.done`, `response.output_item.done`) while the pre-execution message is still
being spoken, and the response ends. The client answers with a `conversation.item.create`
holding a `function_call_output` item, then `response.create`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openai.types.realtime import (
    RealtimeConversationItemFunctionCall,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeFunctionTool,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
)
from pydantic import BaseModel

from agent.events import ClientToolCall
from agent.tools.base import Tool
from agent.voice_agent import VoiceAgent
from server.realtime import items
from server.ids import new_id

_NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


class ClientTools:
    """The function tools one Realtime client declared: a tool source whose tools the client runs."""

    def __init__(self) -> None:
        self.declared: list[RealtimeFunctionTool] = []

    def declare(self, tools: Sequence[Any]) -> list[str]:
        """Replace the declared tools (as `session.update` does); returns what was left out and why."""
        self.declared, problems = [], []
        for tool in tools:
            if not isinstance(tool, RealtimeFunctionTool):
                problems.append(f"{getattr(tool, 'type', '?')} tools are not supported")
            elif not tool.name:
                problems.append("a function tool needs a name")
            else:
                self.declared.append(tool)
        return problems

    async def list_tools(self) -> list[Tool]:
        """The declared tools, without runners: calls to them go to the client."""
        return [
            Tool(t.name or "", t.description or "", t.parameters if isinstance(t.parameters, dict) else _NO_PARAMETERS, None)
            for t in self.declared
        ]


def function_call_events(
    response_id: str, output_index: int, previous_item_id: str | None, call: ClientToolCall, in_conversation: bool = True,
) -> tuple[list[BaseModel], RealtimeConversationItemFunctionCall]:
    """The events that hand one call to the client, and the completed item for `response.done`
    (`conversation.item.*` events only for a call `in_conversation`)."""
    item_id = new_id("item")

    def item(arguments: str, status: Any) -> RealtimeConversationItemFunctionCall:
        return RealtimeConversationItemFunctionCall(
            id=item_id, object="realtime.item", type="function_call", status=status,
            call_id=call.call_id, name=call.name, arguments=arguments,
        )

    started, done = item("", "in_progress"), item(call.arguments, "completed")
    ids: dict[str, Any] = {"response_id": response_id, "item_id": item_id, "output_index": output_index, "call_id": call.call_id}
    events: list[BaseModel] = [
        ResponseOutputItemAddedEvent(
            type="response.output_item.added", event_id=new_id("event"), response_id=response_id,
            output_index=output_index, item=started,
        ),
        *([items.item_added(started, previous_item_id)] if in_conversation else []),
        ResponseFunctionCallArgumentsDeltaEvent(
            type="response.function_call_arguments.delta", event_id=new_id("event"), delta=call.arguments, **ids,
        ),
        ResponseFunctionCallArgumentsDoneEvent(
            type="response.function_call_arguments.done", event_id=new_id("event"), name=call.name,
            arguments=call.arguments, **ids,
        ),
        ResponseOutputItemDoneEvent(
            type="response.output_item.done", event_id=new_id("event"), response_id=response_id,
            output_index=output_index, item=done,
        ),
        *([items.item_done(done, previous_item_id)] if in_conversation else []),
    ]
    return events, done


async def accept_output(
    agent: VoiceAgent, item: RealtimeConversationItemFunctionCallOutput
) -> RealtimeConversationItemFunctionCallOutput | None:
    """Persist the client's result for its call; the item to announce, or None when no such call awaits one."""
    if not await agent.add_tool_output(item.call_id, item.output):
        return None
    return item.model_copy(update={"id": item.id or new_id("item"), "object": "realtime.item", "status": "completed"})
