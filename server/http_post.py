"""POST routes on the WebSocket port: request bodies and streamed responses, which a WebSocket handshake cannot carry.

websockets refuses any request with a body, so a connection whose first bytes are
`POST ` is taken over before websockets sees it: h11 (sans-I/O HTTP/1.1) parses the
request and its body, a route handler answers (whole, or streamed with chunked
encoding), and the connection closes after the response. Every other connection goes
to websockets untouched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import ClassVar
from urllib.parse import urlsplit

import h11
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers

log = logging.getLogger(__name__)

_FIRST_BYTES_TIMEOUT_S = 10.0  # a connection that sends nothing goes to websockets, whose open_timeout ends it
_READ_TIMEOUT_S = 60.0  # the whole request, body included, must arrive within this
_LINGER_S = 5.0


@dataclass(frozen=True)
class PostRequest:
    """One POST request, body read in full."""

    path: str
    query: str
    headers: Headers
    body: bytes


@dataclass(frozen=True)
class PostResponse:
    """A handler's answer: a whole body, or chunks sent as they come (chunked transfer encoding)."""

    status: HTTPStatus
    content_type: str
    body: bytes | AsyncIterator[bytes]


PostHandler = Callable[[PostRequest], Awaitable[PostResponse]]


@dataclass(frozen=True)
class PostRoutes:
    """Who answers POST requests: `handler`, and `refuse` for a body over `max_body_bytes` or a malformed request."""

    handler: PostHandler
    refuse: Callable[[HTTPStatus, str], PostResponse]
    max_body_bytes: int


class RequestRefused(Exception):
    """The request cannot be read (too large, malformed, too slow): answered with `response`, unhandled."""

    def __init__(self, response: PostResponse) -> None:
        super().__init__(response.status.phrase)
        self.response = response


def _headers(response: PostResponse, streamed: bool) -> list[tuple[str, str]]:
    headers = [("Content-Type", response.content_type), ("Connection", "close"), ("Cache-Control", "no-cache")]
    if not streamed:
        assert isinstance(response.body, bytes)
        headers.append(("Content-Length", str(len(response.body))))
    return headers


class PostConnection(ServerConnection):
    """A websockets connection that answers POST requests itself (see the module docstring).

    Subclasses set `routes`; `post_connection_class()` builds one.
    """

    routes: ClassVar[PostRoutes]

    _head: bytes = b""
    _routed = False
    _parser: h11.Connection | None = None
    _more: asyncio.Event | None = None
    _timer: asyncio.TimerHandle | None = None
    _discarding = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Set up the connection, but start websockets' handler only once the first bytes show it is not a POST."""
        super(ServerConnection, self).connection_made(transport)
        self._timer = self.loop.call_later(_FIRST_BYTES_TIMEOUT_S, self._to_websockets)

    def _to_websockets(self) -> None:
        self._routed = True
        if self._timer is not None:
            self._timer.cancel()
        task = self.loop.create_task(self.server.handler(self))
        self.server.handler_tasks.add(task)

    def data_received(self, data: bytes) -> None:
        """Route on the first bytes: POST is ours, anything else is websockets'."""
        if self._discarding:
            return
        if self._parser is not None:
            self._parser.receive_data(data)
            assert self._more is not None
            self._more.set()
            return
        if self._routed:
            super().data_received(data)
            return
        self._head += data
        if len(self._head) < 5 and b"POST "[: len(self._head)] == self._head:
            return
        head, self._head = self._head, b""
        if not head.startswith(b"POST "):
            self._to_websockets()
            super().data_received(head)
            return
        self._routed = True
        if self._timer is not None:
            self._timer.cancel()
        self._parser = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        self._parser.receive_data(head)
        self._more = asyncio.Event()
        task = self.loop.create_task(self._serve_post())
        self.server.handler_tasks.add(task)
        task.add_done_callback(self.server.handler_tasks.discard)

    def connection_lost(self, exc: Exception | None) -> None:
        """Wake a POST waiting for body bytes that will never come."""
        if self._parser is not None and self._more is not None:
            self._parser.receive_data(b"")
            self._more.set()
        super().connection_lost(exc)

    async def _next_event(self) -> object:
        assert self._parser is not None and self._more is not None
        while (event := self._parser.next_event()) is h11.NEED_DATA:
            self._more.clear()
            await self._more.wait()
        return event

    async def _read_request(self) -> PostRequest:
        try:
            async with asyncio.timeout(_READ_TIMEOUT_S):
                head = await self._next_event()
                if not isinstance(head, h11.Request):
                    raise RequestRefused(self.routes.refuse(HTTPStatus.BAD_REQUEST, "malformed HTTP request"))
                headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers])
                if int(headers.get("Content-Length", "0") or 0) > self.routes.max_body_bytes:
                    raise RequestRefused(self._too_large())
                body = bytearray()
                while isinstance(event := await self._next_event(), h11.Data):
                    body += event.data
                    if len(body) > self.routes.max_body_bytes:
                        raise RequestRefused(self._too_large())
                if not isinstance(event, h11.EndOfMessage):
                    raise RequestRefused(self.routes.refuse(HTTPStatus.BAD_REQUEST, "the request ended before its body"))
        except TimeoutError:
            raise RequestRefused(self.routes.refuse(HTTPStatus.REQUEST_TIMEOUT, "the request took too long to arrive")) from None
        except (h11.RemoteProtocolError, ValueError) as exc:
            raise RequestRefused(self.routes.refuse(HTTPStatus.BAD_REQUEST, f"malformed HTTP request: {exc}")) from None
        target = urlsplit(head.target.decode("latin-1"))
        return PostRequest(target.path, target.query, headers, bytes(body))

    def _too_large(self) -> PostResponse:
        return self.routes.refuse(HTTPStatus.BAD_REQUEST, f"the request body is larger than {self.routes.max_body_bytes} bytes")

    async def _serve_post(self) -> None:
        try:
            try:
                response = await self.routes.handler(await self._read_request())
            except RequestRefused as refused:
                response = refused.response
            await self._respond(response)
            await self._linger()
        except Exception:
            log.exception("POST request failed")
        finally:
            self.transport.close()

    async def _linger(self) -> None:
        """After an early answer (a body refused half-way), let the client finish sending so it reads the answer."""
        assert self._parser is not None
        if self._parser.their_state in (h11.DONE, h11.CLOSED, h11.MUST_CLOSE):
            return
        self._discarding = True
        self.transport.write_eof()
        try:
            await asyncio.wait_for(asyncio.shield(self.connection_lost_waiter), _LINGER_S)
        except TimeoutError:
            pass

    def _send(self, event: h11.Event) -> None:
        assert self._parser is not None
        data = self._parser.send(event)
        if data and not self.transport.is_closing():
            self.transport.write(data)

    async def _respond(self, response: PostResponse) -> None:
        assert self._parser is not None
        if self._parser.their_state is h11.ERROR or self._parser.our_state is not h11.SEND_RESPONSE:
            self._parser = h11.Connection(h11.SERVER)  # answer a request h11 could not parse with a fresh state machine
            self._parser.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")
            self._parser.next_event()
        streamed = not isinstance(response.body, bytes)
        self._send(h11.Response(status_code=response.status.value, headers=_headers(response, streamed), reason=response.status.phrase))
        if isinstance(response.body, bytes):
            self._send(h11.Data(data=response.body))
        else:
            async for chunk in response.body:
                if self.transport.is_closing():
                    return
                if chunk:
                    self._send(h11.Data(data=chunk))
                    await self.drain()
        self._send(h11.EndOfMessage())


def post_connection_class(handler: PostHandler, refuse: Callable[[HTTPStatus, str], PostResponse],
                          max_body_bytes: int) -> type[ServerConnection]:
    """A `PostConnection` subclass answering POST requests with `handler` (pass it as websockets' `create_connection`)."""

    class Connection(PostConnection):
        routes = PostRoutes(handler, refuse, max_body_bytes)

    return Connection
