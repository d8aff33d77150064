"""HTTP request bodies on the WebSocket port, so POST routes can be answered from `process_request`.

websockets parses only bodiless requests (a handshake has none) and refuses any other
`Content-Length`. `BodyReadingConnection` reads a `Content-Length` body off the stream
before websockets sees the request, hands websockets the head without that header and keeps
the body on the connection (`body`). A body above `MAX_BODY_BYTES` or sent chunked is not
read (`refusal` says which status to answer). Requests without a body pass through untouched.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection

MAX_BODY_BYTES = 25 << 20
_MAX_HEAD_BYTES = 64 << 10
_HEAD_END = b"\r\n\r\n"


def _take_header(head: bytes, name: bytes) -> tuple[list[bytes], bytes]:
    """The values of header `name` (lower case) in a request head, and the head without them."""
    lines = head[: -len(_HEAD_END)].split(b"\r\n")
    values = [line.partition(b":")[2].strip() for line in lines[1:] if line.lower().startswith(name + b":")]
    kept = [lines[0], *(line for line in lines[1:] if not line.lower().startswith(name + b":"))]
    return values, b"\r\n".join(kept) + _HEAD_END


class BodyReadingConnection(ServerConnection):
    """A websockets server connection that first reads an HTTP request's `Content-Length` body."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.body = b""
        self.refusal: HTTPStatus | None = None
        """Why the body was not read: 413 (above `MAX_BODY_BYTES`) or 411 (chunked, no length)."""
        self._pending = bytearray()
        self._head: bytes | None = None
        self._length = 0
        self._reading = True

    def data_received(self, data: bytes) -> None:
        """Hold bytes back until the request head, and its body if it has one, are complete."""
        if not self._reading:
            if self.refusal is None:  # the rest of a refused body is dropped
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
            codings, head = _take_header(head, b"transfer-encoding")
            lengths, stripped = _take_header(head, b"content-length")
            if codings:
                self._refuse(HTTPStatus.LENGTH_REQUIRED, stripped)
                return
            if len(lengths) != 1 or not lengths[0].isdigit() or int(lengths[0]) == 0:
                self._release(head + bytes(self._pending))  # no body (or a bad length websockets refuses)
                return
            self._length, self._head = int(lengths[0]), stripped
            if self._length > MAX_BODY_BYTES:
                self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, stripped)
                return
        if len(self._pending) >= self._length:
            assert self._head is not None
            self.body = bytes(self._pending[: self._length])
            self._release(self._head + bytes(self._pending[self._length :]))

    def _refuse(self, status: HTTPStatus, head: bytes) -> None:
        """Hand websockets the head alone; the body is dropped and the request answered with `status`."""
        self.refusal = status
        self._release(head)

    def _release(self, data: bytes) -> None:
        self._reading = False
        self._pending = bytearray()
        super().data_received(data)
