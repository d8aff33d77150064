"""Where one reply goes on the wire: Realtime events (text, or speech with its transcript), or plain text for wscat."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from openai.types.realtime import RealtimeConversationItemFunctionCall
from pydantic import BaseModel

from agent.events import ClientToolCall, ModelUsage
from server.ids import new_id
from server.realtime import items
from server.realtime.client_tools import function_call_events
from server.realtime.usage import response_usage
from server.voice.events import CancelReason, ReplyFailure, ReplyStatus

SendEvent = Callable[[BaseModel], Awaitable[None]]
SendText = Callable[[str], Awaitable[None]]


class WireReply(Protocol):
    """One reply's frames, from its start to its end."""

    async def start(self) -> None:
        """The reply began."""

    async def text(self, delta: str) -> None:
        """Reply text arrived (text replies)."""

    async def audio(self, frame: bytes, words: str | None) -> None:
        """A frame of speech, with the words its chunk starts to say (spoken replies)."""

    async def function_call(self, call: ClientToolCall) -> None:
        """Hand a client-side tool call to the client."""

    async def finish(self, status: ReplyStatus, reason: CancelReason | None, failure: ReplyFailure | None, usage: ModelUsage) -> None:
        """The reply ended with `status` having used `usage` of the model: send the closing frames."""

    @property
    def item_id(self) -> str | None:
        """The conversation item this reply added, if any."""


@dataclass
class RealtimeReply:
    """One assistant item as Realtime events, from `response.created` to `response.done`.

    A spoken reply's frames leave as `response.output_audio.delta`, each chunk's words as
    `response.output_audio_transcript.delta`; a text reply streams `response.output_text.delta`.
    An out-of-band reply (`chain` None) adds nothing to the conversation: no `conversation.item.*` events.
    """

    send: SendEvent
    chain: items.ItemChain | None
    response_id: str
    modality: items.Modality
    metadata: dict[str, str] | None = None  # the response.create's, echoed in response.created and .done
    transcript: str = ""
    _item_id: str = field(default_factory=lambda: new_id("item"), init=False)
    _opened: bool = field(default=False, init=False)
    _previous: str | None = field(default=None, init=False)
    _calls: list[RealtimeConversationItemFunctionCall] = field(default_factory=list, init=False)
    output: list[items.ConversationItem] = field(default_factory=list, init=False)  # the final items, once finished

    @property
    def item_id(self) -> str | None:
        """The assistant item, once its first output went out."""
        return self._item_id if self._opened else None

    async def start(self) -> None:
        """Send `response.created`."""
        await self.send(items.response_created(items.response_model(
            self.response_id, "in_progress", [self.modality], metadata=self.metadata, in_conversation=self.chain is not None,
        )))

    async def _open_item(self) -> None:
        if self._opened:
            return
        self._opened = True
        item = items.assistant_item(self._item_id, "", "in_progress")
        await self.send(items.output_item_added(self.response_id, item))
        if self.chain is not None:
            self._previous = self.chain.append(self._item_id)
            await self.send(items.item_added(item, self._previous))
        await self.send(items.part_added(self.response_id, self._item_id, self.modality))

    async def text(self, delta: str) -> None:
        """Stream the text."""
        await self._open_item()
        self.transcript += delta
        await self.send(items.text_delta(self.response_id, self._item_id, delta))

    async def audio(self, frame: bytes, words: str | None) -> None:
        """Send a frame of speech, after its chunk's words."""
        await self._open_item()
        if words:
            delta = f" {words}" if self.transcript else words
            self.transcript += delta
            await self.send(items.transcript_delta(self.response_id, self._item_id, delta))
        await self.send(items.audio_delta(self.response_id, self._item_id, base64.b64encode(frame).decode()))

    async def function_call(self, call: ClientToolCall) -> None:
        """Send the call's `function_call` item at once (output_index 1, 2, ...; 0 is the assistant message)
        while the pre-execution message is spoken; `response.done` lists it too."""
        last = self.chain.last if self.chain is not None else None
        previous = self._calls[-1].id if self._calls else self._item_id if self._opened else last
        events, item = function_call_events(self.response_id, 1 + len(self._calls), previous, call, self.chain is not None)
        for event in events:
            await self.send(event)
        self._calls.append(item)

    async def finish(self, status: ReplyStatus, reason: CancelReason | None, failure: ReplyFailure | None, usage: ModelUsage) -> None:
        """Close the item's events, then `response.done` with the model's usage."""
        output = self.output
        if self._opened:
            item = items.assistant_item(self._item_id, self.transcript, "completed" if status == "completed" else "incomplete", self.modality)
            if self.modality == "audio":
                await self.send(items.audio_done(self.response_id, self._item_id))
                await self.send(items.transcript_done(self.response_id, self._item_id, self.transcript))
            else:
                await self.send(items.text_done(self.response_id, self._item_id, self.transcript))
            await self.send(items.part_done(self.response_id, self._item_id, self.transcript, self.modality))
            await self.send(items.output_item_done(self.response_id, item))
            if self.chain is not None:
                await self.send(items.item_done(item, self._previous))
            output.append(item)
        output.extend(self._calls)
        error = (failure.code, failure.kind) if failure is not None else None
        await self.send(items.response_done(items.response_model(
            self.response_id, status, [self.modality], output, reason, error, response_usage(usage), self.metadata,
            self.chain is not None,
        )))


@dataclass
class PlainTextReply:
    """wscat mode: the reply as plain text frames, a newline at the end."""

    send: SendText

    @property
    def item_id(self) -> str | None:
        """Plain-text mode announces no items."""
        return None

    async def start(self) -> None:
        """Nothing is announced in plain-text mode."""

    async def text(self, delta: str) -> None:
        """Send the delta as it is."""
        await self.send(delta)

    async def audio(self, frame: bytes, words: str | None) -> None:
        """Plain-text replies are never spoken."""

    async def function_call(self, call: ClientToolCall) -> None:
        """Plain-text clients run no tools: the call is left unanswered (and closed with an error later)."""

    async def finish(self, status: ReplyStatus, reason: CancelReason | None, failure: ReplyFailure | None, usage: ModelUsage) -> None:
        """End the reply with a newline (and say why when it did not complete)."""
        await self.send("\n" if status == "completed" else f"\n[{status}]\n")
