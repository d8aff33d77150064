"""One MCP server kept connected by a supervisor task: started on first use, restarted when it dies.

The official `mcp` client's contexts must be entered and left by one task, so a
supervisor task owns the `mcp.Client`; tool calls from any task go through it while it
is up. The transport's read stream is watched: when a stdio server exits (or the
stream otherwise ends) the supervisor connects afresh at once, with exponential
backoff while the server keeps failing. A call that was in flight when the server
died fails (it may or may not have run); calls made while it restarts wait for it.
The tools listed last are kept across a restart and dropped while the server cannot be reached.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any, Self

import anyio
import httpx2
from mcp import Client, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CONNECTION_CLOSED, CallToolResult, Implementation
from mcp.types import Tool as MCPTool

from memory.tool_records import MCPHttpServer, MCPStdioServer

log = logging.getLogger(__name__)

_FIRST_RETRY_S = 0.2
_MAX_RETRY_S = 30.0
_MAX_TOOL_PAGES = 100
_CLIENT_INFO = Implementation(name="confab", version="0.1.0")
_HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)  # the mcp SDK's own defaults: responses may stream for long


class _WatchedReadStream:
    """A transport's read stream that calls `on_end` when the server's side of it ends."""

    def __init__(self, inner: Any, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end = on_end

    @property
    def last_context(self) -> Any:
        """The sender's context of the last message, for transports that carry one."""
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        """The next message from the server."""
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._on_end()
            raise

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Close the underlying stream."""
        await self._inner.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


@asynccontextmanager
async def _transport(record: MCPStdioServer | MCPHttpServer, on_end: Callable[[], None]) -> AsyncIterator[tuple[Any, Any]]:
    """The server's transport streams, its read side watched for the end of the connection."""
    async with AsyncExitStack() as stack:
        if isinstance(record, MCPStdioServer):
            params = StdioServerParameters(command=record.command, args=record.args, env=record.env or None, cwd=record.cwd)
            read, write = await stack.enter_async_context(stdio_client(params))
        else:
            http = await stack.enter_async_context(httpx2.AsyncClient(headers=record.headers, timeout=_HTTP_TIMEOUT))
            read, write = await stack.enter_async_context(streamable_http_client(str(record.url), http_client=http))
        yield _WatchedReadStream(read, on_end), write


def _connection_failed(exc: MCPError) -> bool:
    """Whether an error means the connection is gone (as opposed to the tool failing)."""
    return exc.code == CONNECTION_CLOSED or exc.message == "Session terminated"


class MCPUnavailableError(RuntimeError):
    """The server could not be reached."""


class MCPConnection:
    """One MCP server shared by every agent of the process; see the module docstring."""

    def __init__(self, record: MCPStdioServer | MCPHttpServer, connect_timeout_s: float) -> None:
        self.record = record
        self._connect_timeout_s = connect_timeout_s
        self._task: asyncio.Task[None] | None = None
        self._stop = anyio.CancelScope()
        self._client: Client | None = None
        self._lost = asyncio.Event()
        self._up = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._tools: list[MCPTool] = []

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=f"mcp {self.record.label}")

    async def tools(self) -> list[MCPTool]:
        """The server's tools as last listed (waiting for the first connection, within the connect timeout)."""
        self._start()
        try:
            await asyncio.wait_for(self._first_attempt.wait(), self._connect_timeout_s)
        except TimeoutError:
            log.warning("MCP server %s: not up after %g s; its tools are left out for now", self.record.label, self._connect_timeout_s)
        return self._tools

    async def call(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        """Call one tool, waiting (within the connect timeout) for the server if it is (re)starting."""
        self._start()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                while not self._up.is_set():
                    await self._up.wait()
        except TimeoutError:
            raise MCPUnavailableError(f"the MCP server {self.record.label} is not reachable") from None
        client, lost = self._client, self._lost
        assert client is not None
        try:
            return await client.call_tool(name, arguments)
        except MCPError as exc:
            if _connection_failed(exc):
                self._mark_lost(lost)
                raise MCPUnavailableError(f"the MCP server {self.record.label} went away during the call; it is being restarted") from exc
            raise

    def _mark_lost(self, lost: asyncio.Event) -> None:
        """The connection `lost` belongs to is gone: calls wait from now on, the supervisor reconnects."""
        lost.set()
        if lost is self._lost:
            self._up.clear()

    async def close(self) -> None:
        """Stop the supervisor, which shuts the server down (or closes the HTTP session).

        An anyio cancellation, not `Task.cancel()`: the `mcp` client shields its shutdown
        (close stdin, wait, kill) from it, where a native cancel could cut that short and
        leave a hung server process holding the transport open.
        """
        self._stop.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _supervise(self) -> None:
        with self._stop:
            await self._keep_connected()

    async def _keep_connected(self) -> None:
        delay = _FIRST_RETRY_S
        while True:
            retry_in = 0.0
            try:
                await self._serve_one_connection()
                delay = _FIRST_RETRY_S
            except Exception as exc:  # whatever broke, the answer is to try again later
                retry_in, delay = delay, min(delay * 2, _MAX_RETRY_S)
                log.warning("MCP server %s: %s; retrying in %g s", self.record.label, _describe(exc), retry_in)
                self._tools = []  # not offered while it cannot be reached
            finally:
                self._up.clear()
                self._client = None
                self._first_attempt.set()
            await asyncio.sleep(retry_in)

    async def _serve_one_connection(self) -> None:
        """Connect and list the tools (within the connect timeout), then serve calls until the connection is lost."""
        lost = asyncio.Event()
        transport = _transport(self.record, partial(self._mark_lost, lost))
        with anyio.CancelScope(deadline=anyio.current_time() + self._connect_timeout_s) as connecting:
            async with Client(transport, client_info=_CLIENT_INFO, cache=None) as client:
                self._tools = await _list_tools(client)
                connecting.deadline = math.inf
                self._client, self._lost = client, lost
                self._up.set()
                self._first_attempt.set()
                log.info("MCP server %s: connected, %d tools", self.record.label, len(self._tools))
                await lost.wait()
        if connecting.cancelled_caught:
            raise TimeoutError(f"not connected within {self._connect_timeout_s:g} s")
        log.warning("MCP server %s: connection lost; restarting", self.record.label)


async def _list_tools(client: Client) -> list[MCPTool]:
    tools: list[MCPTool] = []
    cursor: str | None = None
    for _ in range(_MAX_TOOL_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
