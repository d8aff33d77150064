"""Builders for the Realtime server events of conversation items and responses (openai-python models)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from openai.types.realtime import (
    ConversationCreatedEvent,
    ConversationItem,
    ConversationItemDeletedEvent,
    ConversationItemTruncatedEvent,
    InputAudioBufferClearedEvent,
    InputAudioBufferCommittedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferTimeoutTriggered,
    InputAudioBufferSpeechStoppedEvent,
    ResponseAudioDeltaEvent,
    ResponseAudioDoneEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseAudioTranscriptDoneEvent,
    ConversationItemAdded,
    ConversationItemDone,
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemUserMessage,
    RealtimeResponse,
    RealtimeResponseUsage,
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
from openai.types.realtime.realtime_server_event import ConversationItemRetrieved
from openai.types.realtime.response_content_part_added_event import Part as AddedPart
from openai.types.realtime.response_content_part_done_event import Part as DonePart

from server.ids import new_id

CONVERSATION_ID = "conv_default"  # a session has one conversation: its caller's with the agent

ResponseStatus = Literal["completed", "cancelled", "failed", "incomplete", "in_progress"]


@dataclass
class ItemChain:
    """The conversation's items in order: each new item follows the last one (its `previous_item_id`)."""

    last: str | None = None

    def append(self, item_id: str) -> str | None:
        """Add `item_id` at the end; returns the item it follows."""
        previous, self.last = self.last, item_id
        return previous


def user_text_item(item_id: str, text: str) -> RealtimeConversationItemUserMessage:
    """A completed user message item."""
    return RealtimeConversationItemUserMessage(
        id=item_id, object="realtime.item", type="message", role="user", status="completed",
        content=[UserContent(type="input_text", text=text)],
    )


Modality = Literal["text", "audio"]


def assistant_item(item_id: str, text: str, status: Literal["completed", "incomplete", "in_progress"], modality: Modality = "text") -> RealtimeConversationItemAssistantMessage:
    """An assistant message item with one text part, or one audio part with its transcript."""
    if status == "in_progress":
        content = []
    elif modality == "audio":
        content = [AssistantContent(type="output_audio", transcript=text)]
    else:
        content = [AssistantContent(type="output_text", text=text)]
    return RealtimeConversationItemAssistantMessage(
        id=item_id, object="realtime.item", type="message", role="assistant", status=status, content=content,
    )


def item_added(item: ConversationItem, previous: str | None) -> ConversationItemAdded:
    """`conversation.item.added`."""
    return ConversationItemAdded(type="conversation.item.added", event_id=new_id("event"), item=item, previous_item_id=previous)


def item_done(item: ConversationItem, previous: str | None) -> ConversationItemDone:
    """`conversation.item.done`."""
    return ConversationItemDone(type="conversation.item.done", event_id=new_id("event"), item=item, previous_item_id=previous)


def response_model(
    response_id: str,
    status: ResponseStatus,
    modalities: list[Modality],
    output: list[ConversationItem] | None = None,
    reason: Literal["turn_detected", "client_cancelled"] | None = None,
    error: tuple[str, str] | None = None,
    usage: RealtimeResponseUsage | None = None,
    metadata: dict[str, str] | None = None,
    in_conversation: bool = True,
) -> RealtimeResponse:
    """The `response` object of `response.created` / `response.done` (`usage` in the latter only);
    an out-of-band response (not `in_conversation`) has no `conversation_id`."""
    details = None
    if status in ("cancelled", "failed", "incomplete"):
        details = RealtimeResponseStatus(
            type=status,
            reason=reason,
            error=StatusError(code=error[0], type=error[1]) if error else None,
        )
    return RealtimeResponse(
        id=response_id, object="realtime.response", status=status, status_details=details,
        output=list(output or []), output_modalities=modalities, conversation_id=CONVERSATION_ID if in_conversation else None,
        usage=usage, metadata=metadata,
    )


def conversation_created() -> ConversationCreatedEvent:
    """`conversation.created`, sent right after `session.created`."""
    return ConversationCreatedEvent.model_validate({
        "type": "conversation.created", "event_id": new_id("event"),
        "conversation": {"id": CONVERSATION_ID, "object": "realtime.conversation"},
    })


def retrieved(item: ConversationItem) -> ConversationItemRetrieved:
    """`conversation.item.retrieved`."""
    return ConversationItemRetrieved(type="conversation.item.retrieved", event_id=new_id("event"), item=item)


def deleted(item_id: str) -> ConversationItemDeletedEvent:
    """`conversation.item.deleted`."""
    return ConversationItemDeletedEvent(type="conversation.item.deleted", event_id=new_id("event"), item_id=item_id)


def response_created(response: RealtimeResponse) -> ResponseCreatedEvent:
    """`response.created`."""
    return ResponseCreatedEvent(type="response.created", event_id=new_id("event"), response=response)


def response_done(response: RealtimeResponse) -> ResponseDoneEvent:
    """`response.done`."""
    return ResponseDoneEvent(type="response.done", event_id=new_id("event"), response=response)


def output_item_added(response_id: str, item: RealtimeConversationItemAssistantMessage) -> ResponseOutputItemAddedEvent:
    """`response.output_item.added`."""
    return ResponseOutputItemAddedEvent(type="response.output_item.added", event_id=new_id("event"), response_id=response_id, output_index=0, item=item)


def output_item_done(response_id: str, item: RealtimeConversationItemAssistantMessage) -> ResponseOutputItemDoneEvent:
    """`response.output_item.done`."""
    return ResponseOutputItemDoneEvent(type="response.output_item.done", event_id=new_id("event"), response_id=response_id, output_index=0, item=item)


def part_added(response_id: str, item_id: str, modality: Modality) -> ResponseContentPartAddedEvent:
    """`response.content_part.added` for a text or audio part."""
    part = AddedPart(type="audio", transcript="") if modality == "audio" else AddedPart(type="text", text="")
    return ResponseContentPartAddedEvent(
        type="response.content_part.added", event_id=new_id("event"), response_id=response_id, item_id=item_id,
        output_index=0, content_index=0, part=part,
    )


def part_done(response_id: str, item_id: str, text: str, modality: Modality) -> ResponseContentPartDoneEvent:
    """`response.content_part.done` for a text or audio part."""
    part = DonePart(type="audio", transcript=text) if modality == "audio" else DonePart(type="text", text=text)
    return ResponseContentPartDoneEvent(
        type="response.content_part.done", event_id=new_id("event"), response_id=response_id, item_id=item_id,
        output_index=0, content_index=0, part=part,
    )


def text_delta(response_id: str, item_id: str, delta: str) -> ResponseTextDeltaEvent:
    """`response.output_text.delta`."""
    return ResponseTextDeltaEvent(
        type="response.output_text.delta", event_id=new_id("event"), response_id=response_id, item_id=item_id,
        output_index=0, content_index=0, delta=delta,
    )


def text_done(response_id: str, item_id: str, text: str) -> ResponseTextDoneEvent:
    """`response.output_text.done`."""
    return ResponseTextDoneEvent(
        type="response.output_text.done", event_id=new_id("event"), response_id=response_id, item_id=item_id,
        output_index=0, content_index=0, text=text,
    )


def audio_delta(response_id: str, item_id: str, audio_b64: str) -> ResponseAudioDeltaEvent:
    """`response.output_audio.delta` (base64 audio in the session's output format)."""
    return ResponseAudioDeltaEvent(
        type="response.output_audio.delta", event_id=new_id("event"), response_id=response_id, item_id=item_id,
        output_index=0, content_index=0, delta=audio_b64,
    )


def audio_done(response_id: str, item_id: str) -> ResponseAudioDoneEvent:
    """`response.output_audio.done`."""
    return ResponseAudioDoneEvent(
        type="response.output_audio.done", event_id=new_id("event"), response_id=response_id, item_id=item_id,
        output_index=0, content_index=0,
    )


def transcript_delta(response_id: str, item_id: str, delta: str) -> ResponseAudioTranscriptDeltaEvent:
    """`response.output_audio_transcript.delta`."""
    return ResponseAudioTranscriptDeltaEvent(
        type="response.output_audio_transcript.delta", event_id=new_id("event"), response_id=response_id,
        item_id=item_id, output_index=0, content_index=0, delta=delta,
    )


def transcript_done(response_id: str, item_id: str, transcript: str) -> ResponseAudioTranscriptDoneEvent:
    """`response.output_audio_transcript.done`."""
    return ResponseAudioTranscriptDoneEvent(
        type="response.output_audio_transcript.done", event_id=new_id("event"), response_id=response_id,
        item_id=item_id, output_index=0, content_index=0, transcript=transcript,
    )


def user_audio_item(item_id: str, transcript: str | None) -> RealtimeConversationItemUserMessage:
    """A user message item made from the caller's speech (transcript filled in once known)."""
    return RealtimeConversationItemUserMessage(
        id=item_id, object="realtime.item", type="message", role="user", status="completed",
        content=[UserContent(type="input_audio", transcript=transcript)],
    )


def timeout_triggered(item_id: str, audio_start_ms: int, audio_end_ms: int) -> InputAudioBufferTimeoutTriggered:
    """`input_audio_buffer.timeout_triggered`: the caller was silent from `audio_start_ms` to `audio_end_ms`."""
    return InputAudioBufferTimeoutTriggered(
        type="input_audio_buffer.timeout_triggered", event_id=new_id("event"), item_id=item_id,
        audio_start_ms=audio_start_ms, audio_end_ms=audio_end_ms,
    )


def speech_started(item_id: str, audio_start_ms: int) -> InputAudioBufferSpeechStartedEvent:
    """`input_audio_buffer.speech_started`."""
    return InputAudioBufferSpeechStartedEvent(
        type="input_audio_buffer.speech_started", event_id=new_id("event"), item_id=item_id, audio_start_ms=audio_start_ms,
    )


def speech_stopped(item_id: str, audio_end_ms: int) -> InputAudioBufferSpeechStoppedEvent:
    """`input_audio_buffer.speech_stopped`."""
    return InputAudioBufferSpeechStoppedEvent(
        type="input_audio_buffer.speech_stopped", event_id=new_id("event"), item_id=item_id, audio_end_ms=audio_end_ms,
    )


def committed(item_id: str, previous: str | None) -> InputAudioBufferCommittedEvent:
    """`input_audio_buffer.committed`."""
    return InputAudioBufferCommittedEvent(
        type="input_audio_buffer.committed", event_id=new_id("event"), item_id=item_id, previous_item_id=previous,
    )


def cleared() -> InputAudioBufferClearedEvent:
    """`input_audio_buffer.cleared`."""
    return InputAudioBufferClearedEvent(type="input_audio_buffer.cleared", event_id=new_id("event"))


def truncated(item_id: str, audio_end_ms: int) -> ConversationItemTruncatedEvent:
    """`conversation.item.truncated`."""
    return ConversationItemTruncatedEvent(
        type="conversation.item.truncated", event_id=new_id("event"), item_id=item_id, content_index=0, audio_end_ms=audio_end_ms,
    )
