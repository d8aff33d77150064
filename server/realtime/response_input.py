"""A `response.create`'s `input`: the items one response sees instead of the conversation, as model messages.

Messages (system, user, assistant), `function_call` and `function_call_output` items become
chat-completions messages; an `item_reference` names an item this session announced. Anything
else is refused by its place in the list (`response.input.N`). Sans-I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from openai.types.realtime import (
    ConversationItem,
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemFunctionCall,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeConversationItemSystemMessage,
    RealtimeConversationItemUserMessage,
)

from memory.records import MessageRecord, ToolCallRecord
from server.ids import new_id
from server.realtime.fields import Refusal
from server.realtime.protocol import ITEM_REFERENCE

FindItem = Callable[[str], ConversationItem | None]
"""The session's item of an id (None: not one it announced)."""


def _text(content: Sequence[Any]) -> str:
    """The words of an item's content parts: text, or an audio part's transcript."""
    return " ".join(getattr(part, "text", None) or getattr(part, "transcript", None) or "" for part in content).strip()


def _message(conversation_id: str, item: ConversationItem) -> MessageRecord | str:
    """One item as a model message, or why it cannot be one."""
    match item:
        case RealtimeConversationItemUserMessage() | RealtimeConversationItemSystemMessage() | RealtimeConversationItemAssistantMessage():
            if any(part.type == "input_image" for part in item.content):
                return "image content is not supported"
            text = _text(item.content)
            if not text:
                return f"a {item.role} message needs text (an audio part needs its transcript)"
            return MessageRecord(conversation_id=conversation_id, role=item.role, content=text)
        case RealtimeConversationItemFunctionCall():
            call = ToolCallRecord(id=item.call_id or new_id("call"), name=item.name, arguments=item.arguments or "{}")
            return MessageRecord(conversation_id=conversation_id, role="assistant", tool_calls=[call])
        case RealtimeConversationItemFunctionCallOutput():
            return MessageRecord(conversation_id=conversation_id, role="tool", content=item.output, tool_call_id=item.call_id)
    return f"items of type {item.type} are not supported"


def input_messages(conversation_id: str, entries: Sequence[ConversationItem], find: FindItem) -> tuple[list[MessageRecord], list[Refusal]]:
    """The model messages of a response's `input`, and the refusals among its entries.

    Consecutive `function_call` items become one assistant message, as chat-completions wants
    the results of one step's calls after a single message listing them.
    """
    messages: list[MessageRecord] = []
    refusals: list[Refusal] = []
    for index, entry in enumerate(entries):
        where = f"response.input.{index}"
        item: ConversationItem | None = entry
        if (entry.model_extra or {}).get(ITEM_REFERENCE):
            item = find(entry.id or "")
            if item is None:
                refusals.append(Refusal(f"{where}.id", f"no item {entry.id!r} in this session", "invalid_value"))
                continue
        assert item is not None
        message = _message(conversation_id, item)
        if isinstance(message, str):
            refusals.append(Refusal(where, f"{where}: {message}", "invalid_value"))
        elif message.tool_calls and messages and messages[-1].tool_calls and messages[-1].content is None:
            messages[-1].tool_calls.extend(message.tool_calls)
        else:
            messages.append(message)
    return messages, refusals
