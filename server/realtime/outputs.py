"""Where one response's text goes: Realtime events, or plain text frames for wscat."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel

from server.realtime import items

SendEvent = Callable[[BaseModel], Awaitable[None]]
SendText = Callable[[str], Awaitable[None]]


class ResponseOutput(Protocol):
    """The sink a running response writes to."""

    async def start(self, response_id: str) -> None:
        """The response began."""

    async def text(self, delta: str) -> None:
        """Speakable text arrived."""

    def item_id(self) -> str | None:
        """The conversation item this response added, if any."""

    async def finish(self, status: items.ResponseStatus, reason: Literal["turn_detected", "client_cancelled"] | None, error: tuple[str, str] | None) -> None:
        """The response ended with `status`."""


@dataclass
class EventTextOutput:
    """Streams one assistant text item as Realtime events, from `response.created` to `response.done`."""

    send: SendEvent
    previous_item_id: Callable[[], str | None]
    response_id: str = ""
    _item_id: str = field(default_factory=items.new_item_id)
    transcript: str = ""
    _opened: bool = False
    _previous: str | None = None

    def item_id(self) -> str | None:
        """The assistant item, once its first text went out."""
        return self._item_id if self._opened else None

    async def start(self, response_id: str) -> None:
        """Send `response.created`."""
        self.response_id = response_id
        await self.send(items.response_created(items.response_model(response_id, "in_progress", ["text"])))

    async def _open_item(self) -> None:
        self._opened = True
        self._previous = self.previous_item_id()
        item = items.assistant_text_item(self._item_id, "", "in_progress")
        await self.send(items.output_item_added(self.response_id, item))
        await self.send(items.item_added(item, self._previous))
        await self.send(items.text_part_added(self.response_id, self._item_id))

    async def text(self, delta: str) -> None:
        """Send `response.output_text.delta` (opening the item on the first one)."""
        if not self._opened:
            await self._open_item()
        self.transcript += delta
        await self.send(items.text_delta(self.response_id, self._item_id, delta))

    async def finish(self, status: items.ResponseStatus, reason: Literal["turn_detected", "client_cancelled"] | None, error: tuple[str, str] | None) -> None:
        """Close the item's events, then `response.done`."""
        output = []
        if self._opened:
            item = items.assistant_text_item(self._item_id, self.transcript, "completed" if status == "completed" else "incomplete")
            await self.send(items.text_done(self.response_id, self._item_id, self.transcript))
            await self.send(items.text_part_done(self.response_id, self._item_id, self.transcript))
            await self.send(items.output_item_done(self.response_id, item))
            await self.send(items.item_done(item, self._previous))
            output.append(item)
        await self.send(items.response_done(items.response_model(self.response_id, status, ["text"], output, reason, error)))


@dataclass
class PlainTextOutput:
    """wscat mode: the reply as plain text frames, a newline at the end."""

    send: SendText

    async def start(self, response_id: str) -> None:
        """Nothing is announced in plain-text mode."""

    async def text(self, delta: str) -> None:
        """Send the delta as it is."""
        await self.send(delta)

    def item_id(self) -> str | None:
        """Plain-text mode announces no items."""
        return None

    async def finish(self, status: items.ResponseStatus, reason: Literal["turn_detected", "client_cancelled"] | None, error: tuple[str, str] | None) -> None:
        """End the reply with a newline (and say why when it did not complete)."""
        await self.send("\n" if status == "completed" else f"\n[{status}]\n")
