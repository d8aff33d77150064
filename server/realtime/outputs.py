"""Where one response goes: Realtime events (text, or speech with its transcript), or plain text for wscat."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from openai.types.realtime import RealtimeConversationItemFunctionCall
from pydantic import BaseModel

from agent.events import ClientToolCall
from server.realtime import items
from server.realtime.client_tools import function_call_events
from server.voice.speaker import Speaker

SendEvent = Callable[[BaseModel], Awaitable[None]]
SendText = Callable[[str], Awaitable[None]]
CancelReason = Literal["turn_detected", "client_cancelled"]


class ResponseOutput(Protocol):
    """The sink a running response writes to."""

    async def start(self, response_id: str) -> None:
        """The response began."""

    async def text(self, delta: str) -> None:
        """Speakable text arrived."""

    def flush(self) -> None:
        """A tool is about to run: say what has been written so far now."""

    async def function_call(self, call: ClientToolCall) -> None:
        """Hand a client-side tool call to the client (the response ends after it)."""

    def mute(self) -> None:
        """The caller barged in: send no more audio, at once."""

    async def complete(self) -> None:
        """The model is done: deliver what is still buffered (cancellable)."""

    async def finish(self, status: items.ResponseStatus, reason: CancelReason | None, error: tuple[str, str] | None) -> None:
        """The response ended with `status`: send the closing events."""

    def item_id(self) -> str | None:
        """The conversation item this response added, if any."""

    def voice(self) -> Speaker | None:
        """The speaker of a spoken response (None for text)."""


@dataclass
class RealtimeEventOutput:
    """Streams one assistant item as Realtime events, from `response.created` to `response.done`.

    With a `speaker` the item is audio: text goes to synthesis and each audio frame
    leaves as `response.output_audio.delta`, with the chunk's words as
    `response.output_audio_transcript.delta`. Without one, the text itself streams.
    """

    send: SendEvent
    previous_item_id: Callable[[], str | None]
    speaker_factory: Callable[[Callable[[bytes, str | None], Awaitable[None]]], Speaker] | None = None
    response_id: str = ""
    transcript: str = ""
    speaker: Speaker | None = field(default=None, init=False)
    _item_id: str = field(default_factory=items.new_item_id, init=False)
    _opened: bool = field(default=False, init=False)
    _previous: str | None = field(default=None, init=False)
    _calls: list[RealtimeConversationItemFunctionCall] = field(default_factory=list, init=False)

    @property
    def modality(self) -> items.Modality:
        """`audio` when speaking, else `text`."""
        return "audio" if self.speaker_factory is not None else "text"

    def item_id(self) -> str | None:
        """The assistant item, once its first output went out."""
        return self._item_id if self._opened else None

    async def start(self, response_id: str) -> None:
        """Send `response.created`."""
        self.response_id = response_id
        if self.speaker_factory is not None:
            self.speaker = self.speaker_factory(self._audio)
        await self.send(items.response_created(items.response_model(response_id, "in_progress", [self.modality])))

    async def _open_item(self) -> None:
        if self._opened:
            return
        self._opened = True
        self._previous = self.previous_item_id()
        item = items.assistant_item(self._item_id, "", "in_progress")
        await self.send(items.output_item_added(self.response_id, item))
        await self.send(items.item_added(item, self._previous))
        await self.send(items.part_added(self.response_id, self._item_id, self.modality))

    async def text(self, delta: str) -> None:
        """Stream the text, or hand it to the speaker."""
        if self.speaker is not None:
            self.speaker.say(delta)
            return
        await self._open_item()
        self.transcript += delta
        await self.send(items.text_delta(self.response_id, self._item_id, delta))

    async def _audio(self, frame: bytes, words: str | None) -> None:
        await self._open_item()
        if words:
            delta = f" {words}" if self.transcript else words
            self.transcript += delta
            await self.send(items.transcript_delta(self.response_id, self._item_id, delta))
        await self.send(items.audio_delta(self.response_id, self._item_id, base64.b64encode(frame).decode()))

    def flush(self) -> None:
        """Speak the buffered text now (nothing to do for text)."""
        if self.speaker is not None:
            self.speaker.flush_text()

    async def function_call(self, call: ClientToolCall) -> None:
        """Send the call's `function_call` item at once (output_index 1, 2, ...; 0 is the assistant message)
        while the pre-execution message is spoken; `response.done` lists it too."""
        self.flush()
        previous = self._calls[-1].id if self._calls else self._item_id if self._opened else self.previous_item_id()
        events, item = function_call_events(self.response_id, 1 + len(self._calls), previous, call)
        for event in events:
            await self.send(event)
        self._calls.append(item)

    def mute(self) -> None:
        """Stop the audio at once."""
        if self.speaker is not None:
            self.speaker.mute()

    async def complete(self) -> None:
        """Wait until the last audio frame has gone out."""
        if self.speaker is not None:
            await self.speaker.drain()

    def voice(self) -> Speaker | None:
        """The speaker, when this response is spoken."""
        return self.speaker

    async def finish(self, status: items.ResponseStatus, reason: CancelReason | None, error: tuple[str, str] | None) -> None:
        """Close the item's events, then `response.done`."""
        if self.speaker is not None:
            await self.speaker.stop()
        output = []
        if self._opened:
            item = items.assistant_item(self._item_id, self.transcript, "completed" if status == "completed" else "incomplete", self.modality)
            if self.modality == "audio":
                await self.send(items.audio_done(self.response_id, self._item_id))
                await self.send(items.transcript_done(self.response_id, self._item_id, self.transcript))
            else:
                await self.send(items.text_done(self.response_id, self._item_id, self.transcript))
            await self.send(items.part_done(self.response_id, self._item_id, self.transcript, self.modality))
            await self.send(items.output_item_done(self.response_id, item))
            await self.send(items.item_done(item, self._previous))
            output.append(item)
        output.extend(self._calls)
        await self.send(items.response_done(items.response_model(self.response_id, status, [self.modality], output, reason, error)))


@dataclass
class PlainTextOutput:
    """wscat mode: the reply as plain text frames, a newline at the end."""

    send: SendText

    async def start(self, response_id: str) -> None:
        """Nothing is announced in plain-text mode."""

    async def text(self, delta: str) -> None:
        """Send the delta as it is."""
        await self.send(delta)

    def flush(self) -> None:
        """Text is never held back."""

    async def function_call(self, call: ClientToolCall) -> None:
        """Plain-text clients run no tools: the call is left unanswered (and closed with an error later)."""

    def mute(self) -> None:
        """There is no audio to stop."""

    async def complete(self) -> None:
        """Nothing is buffered."""

    def item_id(self) -> str | None:
        """Plain-text mode announces no items."""
        return None

    def voice(self) -> Speaker | None:
        """Plain text is never spoken."""
        return None

    async def finish(self, status: items.ResponseStatus, reason: CancelReason | None, error: tuple[str, str] | None) -> None:
        """End the reply with a newline (and say why when it did not complete)."""
        await self.send("\n" if status == "completed" else f"\n[{status}]\n")
