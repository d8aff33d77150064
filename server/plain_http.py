"""Plain HTTP requests with a body (POST) on the WebSocket port, with complete or streamed responses.

websockets serves the WebSocket upgrades and the bodiless GET routes (`Gateway.process_request`),
but refuses request bodies. A connection whose request is not a GET is taken over here before
websockets sees a byte: the request (head, then a `Content-Length` body) is read, handed to an
`HttpHandler`, and its response is written back, whole or streamed (chunked transfer encoding),
then the connection closes. A client that goes away cancels the handler's task, which is how a
streamed answer learns that nobody listens any more.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from contextlib import aclosing
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Response, parse_headers
from websockets.streams import StreamReader

log = logging.getLogger(__name__)

HEAD_LIMIT = 64 * 1024
_REQUEST_LINE = re.compile(rb"([A-Z]{1,16}) (\S{1,8192}) HTTP/1\.[01]")


@dataclass(frozen=True)
class HttpRequest:
    """One plain HTTP request: method, path (with its query), headers and the whole body."""

    method: str
    path: str
    headers: Headers
    body: bytes


@dataclass(frozen=True)
class StreamingResponse:
    """A response whose body is written as `chunks` yields it (Server-Sent Events, for one)."""

    status: HTTPStatus
    content_type: str
    chunks: AsyncGenerator[bytes, None]


HttpReply = Response | StreamingResponse
HttpHandler = Callable[[HttpRequest], Awaitable[HttpReply]]


def error_body(status: HTTPStatus, message: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error body: `{"error": {"message", "type", "param", "code"}}`."""
    kind = {
        HTTPStatus.UNAUTHORIZED: "authentication_error",
        HTTPStatus.NOT_FOUND: "not_found_error",
        HTTPStatus.TOO_MANY_REQUESTS: "rate_limit_error",
    }.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def json_reply(status: HTTPStatus, body: dict[str, Any]) -> Response:
    """A complete JSON response."""
    return bytes_reply(status, "application/json", json.dumps(body).encode())


def bytes_reply(status: HTTPStatus, content_type: str, payload: bytes) -> Response:
    """A complete response of any content type."""
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(payload)))])
    return Response(status.value, status.phrase, headers, payload)


@dataclass(frozen=True)
class _Refusal:
    status: HTTPStatus
    message: str


@dataclass
class RequestReader:
    """Sans-I/O reader of one request: feed it bytes until it returns the request or a refusal."""

    max_body: int
    _data: bytearray = field(default_factory=bytearray)
    _head: tuple[str, str, Headers, int] | None = None

    def feed(self, data: bytes) -> HttpRequest | _Refusal | None:
        """Take bytes; the complete request, why it is refused, or None while more are needed."""
        self._data += data
        if self._head is None:
            end = self._data.find(b"\r\n\r\n")
            if end < 0:
                return _Refusal(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large") if len(self._data) > HEAD_LIMIT else None
            head = _parse_head(bytes(self._data[: end + 4]))
            if isinstance(head, _Refusal):
                return head
            del self._data[: end + 4]
            self._head = head
        method, path, headers, length = self._head
        if len(self._data) < length:
            return None
        return HttpRequest(method, path, headers, bytes(self._data[:length]))

    def length_refusal(self) -> _Refusal | None:
        """Why the announced body cannot be read, once the head is in."""
        if self._head is not None and self._head[3] > self.max_body:
            return _Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body over {self.max_body} bytes")
        return None


def _parse_head(head: bytes) -> tuple[str, str, Headers, int] | _Refusal:
    line, _, rest = head.partition(b"\r\n")
    matched = _REQUEST_LINE.fullmatch(line)
    if matched is None:
        return _Refusal(HTTPStatus.BAD_REQUEST, "malformed HTTP request line")
    reader = StreamReader()
    reader.feed_data(rest)
    reader.feed_eof()
    try:
        headers = _drive(parse_headers(reader.read_line))
    except Exception as exc:  # websockets' parser raises several types for a bad head
        return _Refusal(HTTPStatus.BAD_REQUEST, f"malformed HTTP headers: {exc}")
    if "Transfer-Encoding" in headers:
        return _Refusal(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length, not chunked")
    raw_length = headers.get("Content-Length", "0")
    if not raw_length.isdigit():
        return _Refusal(HTTPStatus.BAD_REQUEST, "invalid Content-Length")
    return matched[1].decode(), matched[2].decode("latin-1"), headers, int(raw_length)


def _drive(parser: Generator[None, None, Headers]) -> Headers:
    """Run a websockets generator parser over data already fed (it never waits here)."""
    try:
        while True:
            next(parser)
    except StopIteration as done:
        return done.value


@dataclass
class PlainHttp:
    """The plain-HTTP side of the gateway: the handler, its limits, and the requests being served.

    Serve with `connection_class()` and `open_timeout=None`: a connection enforces
    `head_timeout_s` itself (a request, head and body, must arrive within it), since websockets'
    timeout would also cut a streamed response.
    """

    handler: HttpHandler
    max_body: int
    head_timeout_s: float
    active: set[asyncio.Task[None]] = field(default_factory=set)

    def cancel_all(self) -> None:
        """Stop every request being served (the server is shutting down)."""
        for task in self.active:
            task.cancel()

    def connection_class(self) -> type[ServerConnection]:
        """A websockets connection class that hands requests other than GET to `handler`."""
        plain = self

        class GatewayConnection(ServerConnection):
            """A WebSocket connection that may turn out to be a plain HTTP request with a body."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._sniffed = b""
                self._websocket = False
                self._reader: RequestReader | None = None
                self._exchange: asyncio.Task[None] | None = None

            def connection_made(self, transport: Any) -> None:
                super().connection_made(transport)
                self.loop.call_later(plain.head_timeout_s, self._head_deadline)

            def _head_deadline(self) -> None:
                if self.request is None and self._exchange is None and not self.transport.is_closing():
                    self.transport.abort()

            def data_received(self, data: bytes) -> None:
                if self._websocket:
                    super().data_received(data)
                    return
                if self._reader is None:
                    self._sniffed += data
                    if len(self._sniffed) < 4:
                        return
                    if self._sniffed.startswith(b"GET "):
                        self._websocket = True
                        super().data_received(self._sniffed)
                        return
                    self._reader, data = RequestReader(plain.max_body), self._sniffed
                if self._exchange is not None:
                    return  # one request per connection; anything after it is ignored
                outcome = self._reader.feed(data) or self._reader.length_refusal()
                if outcome is not None:
                    self._exchange = self.loop.create_task(self._serve(outcome))
                    plain.active.add(self._exchange)
                    self._exchange.add_done_callback(plain.active.discard)

            def connection_lost(self, exc: Exception | None) -> None:
                super().connection_lost(exc)
                if self._exchange is not None:
                    self._exchange.cancel()

            async def _serve(self, outcome: HttpRequest | _Refusal) -> None:
                try:
                    await _answer(self, outcome, plain.handler)
                finally:
                    self.transport.close()

        return GatewayConnection


async def _answer(connection: ServerConnection, outcome: HttpRequest | _Refusal, handler: HttpHandler) -> None:
    """Write the handler's reply (or the refusal) to the connection's transport."""
    transport = connection.transport
    head_sent = False
    try:
        if isinstance(outcome, _Refusal):
            reply: HttpReply = json_reply(outcome.status, error_body(outcome.status, outcome.message))
        else:
            reply = await handler(outcome)
        if isinstance(reply, Response):
            reply.headers["Connection"] = "close"
            transport.write(reply.serialize())
            return
        head_sent = True
        transport.write(_stream_head(reply))
        async with aclosing(reply.chunks) as chunks:  # closed at once when the client goes away
            async for chunk in chunks:
                if chunk:
                    transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await connection.drain()
        transport.write(b"0\r\n\r\n")
    except asyncio.CancelledError:
        pass  # the client went away, or the server stops
    except Exception:  # a bug answers 500 (when nothing was sent yet), never a dropped connection
        log.exception("plain HTTP request failed")
        if not head_sent:
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            failed = json_reply(status, error_body(status, "the server failed to answer this request", "server_error"))
            failed.headers["Connection"] = "close"
            transport.write(failed.serialize())


def _stream_head(reply: StreamingResponse) -> bytes:
    return (
        f"HTTP/1.1 {reply.status.value} {reply.status.phrase}\r\n"
        f"Content-Type: {reply.content_type}\r\nCache-Control: no-cache\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
