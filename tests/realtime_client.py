"""A small Realtime test client over a real WebSocket: send events, collect what comes back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from openai.resources.realtime.realtime import AsyncRealtimeConnection
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter
from websockets.asyncio.client import ClientConnection, connect


class RealtimeTestClient:
    """Wraps a websockets client connection with JSON send/receive helpers."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.received: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, url: str, session: dict[str, Any] | None = None, **kwargs: Any) -> RealtimeTestClient:
        """Connect, wait for `session.created` and `conversation.created`, then apply `session` (default: text output only)."""
        client = cls(await connect(url, **kwargs))
        created = await client.next_event()
        assert created["type"] == "session.created", created
        assert (await client.next_event())["type"] == "conversation.created"
        await client.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], **(session or {})}})
        updated = await client.next_event()
        assert updated["type"] == "session.updated", updated
        return client

    async def send(self, event: dict[str, Any]) -> None:
        """Send one client event."""
        await self.connection.send(json.dumps(event))

    async def next_event(self, timeout: float = 20.0) -> dict[str, Any]:
        """The next server event."""
        frame = await asyncio.wait_for(self.connection.recv(), timeout)
        event = json.loads(frame)
        self.received.append(event)
        return event

    async def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> list[dict[str, Any]]:
        """Events up to and including the first one matching `predicate`."""
        events: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next_event(timeout)
                events.append(event)
                if predicate(event):
                    return events

    async def until_type(self, kind: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Events up to and including the first of type `kind`."""
        return await self.until(lambda e: e["type"] == kind, timeout)

    async def say(self, text: str) -> None:
        """Add a user text item and ask for a response."""
        await self.send({
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
        })
        await self.send({"type": "response.create"})

    async def ask(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        """Say `text`; return the response's streamed text and all events through `response.done`."""
        await self.say(text)
        events = await self.until_type("response.done")
        return text_of(events), events

    async def close(self) -> None:
        """Close the connection."""
        await self.connection.close()


def text_of(events: list[dict[str, Any]]) -> str:
    """The concatenated `response.output_text.delta` deltas."""
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


SERVER_EVENTS: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)


async def until_validated(connection: AsyncRealtimeConnection, kind: str) -> list[Any]:
    """openai-python connection's events up to and including the first of type `kind`, each validated
    against openai-python's `RealtimeServerEvent` union (a field it does not declare fails the test)."""
    events = []
    while True:
        event = SERVER_EVENTS.validate_json(await connection.recv_bytes())
        events.append(event)
        if event.type == kind:
            return events
