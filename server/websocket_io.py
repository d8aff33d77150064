"""The socket chores every WebSocket protocol shares: sending to a peer that may have left, and the receive loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode


def sender(connection: ServerConnection) -> Callable[[str], Awaitable[None]]:
    """A send function that ignores a peer that already left (the session still ends and persists its turn)."""

    async def send_frame(frame: str) -> None:
        try:
            await connection.send(frame)
        except ConnectionClosed:
            pass

    return send_frame


async def frames(connection: ServerConnection, idle_timeout_s: float) -> AsyncIterator[str | bytes]:
    """Incoming frames until the peer closes; a peer silent for `idle_timeout_s` is closed with 1001."""
    try:
        while True:
            async with asyncio.timeout(idle_timeout_s):
                frame = await connection.recv()
            yield frame
    except TimeoutError:
        await connection.close(CloseCode.GOING_AWAY, "idle timeout")
    except ConnectionClosed:
        return
