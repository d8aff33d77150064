"""The socket chores every WebSocket protocol shares: sending to a peer that may have left, and the receive loop.

The receive loop bounds how fast a peer may send: two token buckets (bytes and
frames) allow a burst, then the loop stops reading until the peer is back under the
sustained rate. The peer feels this as TCP back-pressure; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from server.config import Settings


def sender(connection: ServerConnection) -> Callable[[str], Awaitable[None]]:
    """A send function that ignores a peer that already left (the session still ends and persists its turn)."""

    async def send_frame(frame: str) -> None:
        try:
            await connection.send(frame)
        except ConnectionClosed:
            pass

    return send_frame


_MAX_REASON_BYTES = 123  # RFC 6455: a close reason fits in a control frame


def close_reason(text: str) -> str:
    """`text` cut to what a close frame can carry (and valid UTF-8 whatever it held)."""
    return text.encode(errors="replace")[:_MAX_REASON_BYTES].decode(errors="ignore")


def peer_address(connection: ServerConnection) -> str:
    """The peer's IP address (the proxy's, behind a reverse proxy)."""
    address = connection.remote_address
    return str(address[0]) if isinstance(address, tuple) and address else "?"


@dataclass(frozen=True)
class InboundLimits:
    """How fast one socket may send: sustained rates and bursts, in bytes and in frames."""

    bytes_per_s: float
    burst_bytes: float
    frames_per_s: float
    burst_frames: float

    @classmethod
    def of(cls, settings: Settings) -> InboundLimits:
        """The limits configured in `settings`."""
        return cls(settings.inbound_bytes_per_s, settings.inbound_burst_bytes, settings.inbound_frames_per_s, settings.inbound_burst_frames)


@dataclass
class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second; `take` says how long to wait until the debt is paid."""

    rate: float
    capacity: float
    updated: float = field(default_factory=time.monotonic)
    tokens: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def take(self, amount: float, now: float) -> float:
        """Take `amount` tokens (going into debt if needed); the seconds until the bucket is non-negative again."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= amount
        return max(0.0, -self.tokens / self.rate)


async def frames(connection: ServerConnection, idle_timeout_s: float, limits: InboundLimits) -> AsyncGenerator[str | bytes, None]:
    """Incoming frames until the peer closes, read no faster than `limits`; a peer silent for `idle_timeout_s` is closed with 1001."""
    size = TokenBucket(limits.bytes_per_s, limits.burst_bytes)
    count = TokenBucket(limits.frames_per_s, limits.burst_frames)
    try:
        while True:
            async with asyncio.timeout(idle_timeout_s):
                frame = await connection.recv()
            yield frame
            now = time.monotonic()
            wait = max(size.take(len(frame), now), count.take(1, now))
            if wait > 0:
                await asyncio.sleep(wait)
    except TimeoutError:
        await connection.close(CloseCode.GOING_AWAY, "idle timeout")
    except ConnectionClosed:
        return
