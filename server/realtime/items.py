"""Builders for the Realtime server events of conversation items and responses (openai-python models)."""

from __future__ import annotations

import uuid
from typing import Literal

from openai.types.realtime import (
    ConversationItemAdded,
    ConversationItemDone,
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemUserMessage,
    RealtimeResponse,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.realtime.realtime_conversation_item_assistant_message import Content as AssistantContent
from openai.types.realtime.realtime_conversation_item_user_message import Content as UserContent
from openai.types.realtime.realtime_response_status import Error as StatusError
from openai.types.realtime.realtime_response_status import RealtimeResponseStatus
from openai.types.realtime.response_content_part_added_event import Part as AddedPart
from openai.types.realtime.response_content_part_done_event import Part as DonePart

from server.realtime.protocol import new_event_id

ResponseStatus = Literal["completed", "cancelled", "failed", "incomplete", "in_progress"]


def new_response_id() -> str:
    """A Realtime response id."""
    return f"resp_{uuid.uuid4().hex[:20]}"


def new_item_id() -> str:
    """A Realtime conversation item id."""
    return f"item_{uuid.uuid4().hex[:20]}"


def user_text_item(item_id: str, text: str) -> RealtimeConversationItemUserMessage:
    """A completed user message item."""
    return RealtimeConversationItemUserMessage(
        id=item_id, object="realtime.item", type="message", role="user", status="completed",
        content=[UserContent(type="input_text", text=text)],
    )


def assistant_text_item(item_id: str, text: str, status: Literal["completed", "incomplete", "in_progress"]) -> RealtimeConversationItemAssistantMessage:
    """An assistant message item with one text part."""
    content = [AssistantContent(type="output_text", text=text)] if status != "in_progress" else []
    return RealtimeConversationItemAssistantMessage(
        id=item_id, object="realtime.item", type="message", role="assistant", status=status, content=content,
    )


def item_added(item: RealtimeConversationItemUserMessage | RealtimeConversationItemAssistantMessage, previous: str | None) -> ConversationItemAdded:
    """`conversation.item.added`."""
    return ConversationItemAdded(type="conversation.item.added", event_id=new_event_id(), item=item, previous_item_id=previous)


def item_done(item: RealtimeConversationItemUserMessage | RealtimeConversationItemAssistantMessage, previous: str | None) -> ConversationItemDone:
    """`conversation.item.done`."""
    return ConversationItemDone(type="conversation.item.done", event_id=new_event_id(), item=item, previous_item_id=previous)


def response_model(
    response_id: str,
    status: ResponseStatus,
    modalities: list[Literal["text", "audio"]],
    output: list[RealtimeConversationItemAssistantMessage] | None = None,
    reason: Literal["turn_detected", "client_cancelled"] | None = None,
    error: tuple[str, str] | None = None,
) -> RealtimeResponse:
    """The `response` object of `response.created` / `response.done`."""
    details = None
    if status in ("cancelled", "failed", "incomplete"):
        details = RealtimeResponseStatus(
            type=status,  # type: ignore[arg-type]
            reason=reason,
            error=StatusError(code=error[0], type=error[1]) if error else None,
        )
    return RealtimeResponse(
        id=response_id, object="realtime.response", status=status, status_details=details,
        output=list(output or []), output_modalities=modalities, conversation_id="conv_default",
    )


def response_created(response: RealtimeResponse) -> ResponseCreatedEvent:
    """`response.created`."""
    return ResponseCreatedEvent(type="response.created", event_id=new_event_id(), response=response)


def response_done(response: RealtimeResponse) -> ResponseDoneEvent:
    """`response.done`."""
    return ResponseDoneEvent(type="response.done", event_id=new_event_id(), response=response)


def output_item_added(response_id: str, item: RealtimeConversationItemAssistantMessage) -> ResponseOutputItemAddedEvent:
    """`response.output_item.added`."""
    return ResponseOutputItemAddedEvent(type="response.output_item.added", event_id=new_event_id(), response_id=response_id, output_index=0, item=item)


def output_item_done(response_id: str, item: RealtimeConversationItemAssistantMessage) -> ResponseOutputItemDoneEvent:
    """`response.output_item.done`."""
    return ResponseOutputItemDoneEvent(type="response.output_item.done", event_id=new_event_id(), response_id=response_id, output_index=0, item=item)


def text_part_added(response_id: str, item_id: str) -> ResponseContentPartAddedEvent:
    """`response.content_part.added` for a text part."""
    return ResponseContentPartAddedEvent(
        type="response.content_part.added", event_id=new_event_id(), response_id=response_id, item_id=item_id,
        output_index=0, content_index=0, part=AddedPart(type="text", text=""),
    )


def text_part_done(response_id: str, item_id: str, text: str) -> ResponseContentPartDoneEvent:
    """`response.content_part.done` for a text part."""
    return ResponseContentPartDoneEvent(
        type="response.content_part.done", event_id=new_event_id(), response_id=response_id, item_id=item_id,
        output_index=0, content_index=0, part=DonePart(type="text", text=text),
    )


def text_delta(response_id: str, item_id: str, delta: str) -> ResponseTextDeltaEvent:
    """`response.output_text.delta`."""
    return ResponseTextDeltaEvent(
        type="response.output_text.delta", event_id=new_event_id(), response_id=response_id, item_id=item_id,
        output_index=0, content_index=0, delta=delta,
    )


def text_done(response_id: str, item_id: str, text: str) -> ResponseTextDoneEvent:
    """`response.output_text.done`."""
    return ResponseTextDoneEvent(
        type="response.output_text.done", event_id=new_event_id(), response_id=response_id, item_id=item_id,
        output_index=0, content_index=0, text=text,
    )
