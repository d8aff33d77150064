"""HTTP request bodies on the WebSocket port, so POST routes can be answered from `process_request`.

websockets parses only bodiless requests (a handshake has none) and refuses any other
`Content-Length`. `BodyReadingConnection` reads a `Content-Length` body off the stream
before websockets sees the request, hands websockets the head without that header and keeps
the body on the connection (`body`). A body above `MAX_BODY_BYTES` is not kept
(`body_too_large`, for a 413). Requests without a body pass through untouched.
"""

from __future__ import annotations

from typing import Any

from websockets.asyncio.server import ServerConnection

MAX_BODY_BYTES = 25 << 20
_MAX_HEAD_BYTES = 64 << 10
_HEAD_END = b"\r\n\r\n"


def _split_content_length(head: bytes) -> tuple[int, bytes] | None:
    """The declared body length and the head without its `Content-Length` line; None when there is none (or it is invalid)."""
    lines = head[: -len(_HEAD_END)].split(b"\r\n")
    found = [i for i, line in enumerate(lines) if line.lower().startswith(b"content-length:")]
    if len(found) != 1:
        return None
    value = lines[found[0]].partition(b":")[2].strip()
    if not value.isdigit() or int(value) == 0:
        return None
    del lines[found[0]]
    return int(value), b"\r\n".join(lines) + _HEAD_END


class BodyReadingConnection(ServerConnection):
    """A websockets server connection that first reads an HTTP request's `Content-Length` body."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.body = b""
        self.body_too_large = False
        self._pending = bytearray()
        self._head: bytes | None = None
        self._length = 0
        self._reading = True

    def data_received(self, data: bytes) -> None:
        """Hold bytes back until the request head, and its body if it has one, are complete."""
        if not self._reading:
            if not self.body_too_large:  # the rest of an oversized body is dropped
                super().data_received(data)
            return
        self._pending += data
        if self._head is None:
            end = self._pending.find(_HEAD_END)
            if end < 0:
                if len(self._pending) > _MAX_HEAD_BYTES:
                    self._release(bytes(self._pending))  # websockets refuses it
                return
            head = bytes(self._pending[: end + len(_HEAD_END)])
            del self._pending[: end + len(_HEAD_END)]
            declared = _split_content_length(head)
            if declared is None:
                self._release(head + bytes(self._pending))
                return
            self._length, self._head = declared
            if self._length > MAX_BODY_BYTES:
                self.body_too_large = True
                self._release(self._head)
                return
        if len(self._pending) >= self._length:
            assert self._head is not None
            self.body = bytes(self._pending[: self._length])
            self._release(self._head + bytes(self._pending[self._length :]))

    def _release(self, data: bytes) -> None:
        self._reading = False
        self._pending = bytearray()
        super().data_received(data)
