"""A scripted OpenAI-compatible LLM server on loopback, for tests driven through the real `openai` client.

The server speaks just enough HTTP/1.1 (keep-alive, chunked transfer encoding) to serve
`POST /v1/chat/completions` (real SSE streaming or plain JSON), `POST /v1/embeddings` and
`GET /v1/models`. It runs in its own thread with its own asyncio loop, so it can be used from sync
tests, from pytest-asyncio tests that share a loop with the server under test, and it survives
restarts of the server under test.

Usage::

    with ScriptedLLM() as llm:
        llm.script(Text("Hello there!"), ToolCalls([Call("get_time", {"tz": "UTC"})]))
        client = openai.OpenAI(base_url=llm.base_url, api_key="test", max_retries=0)
        ...
        assert llm.requests[0]["messages"][-1]["content"] == "hi"
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import itertools
import json
import math
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeAlias

__all__ = [
    "Call",
    "Drop",
    "Error",
    "Hang",
    "Reply",
    "ReplyFn",
    "ScriptedLLM",
    "Text",
    "ToolCalls",
    "embedding",
]


@dataclass(frozen=True)
class Text:
    """Assistant text, streamed as content deltas of `chunk_chars` characters, `delay` seconds apart."""

    text: str
    chunk_chars: int = 4
    delay: float = 0.0
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = None
    """(prompt_tokens, completion_tokens) to report, instead of the rough estimate."""


@dataclass(frozen=True)
class Call:
    """One function call inside a `ToolCalls` reply; `arguments` may be a dict or a raw (even invalid) JSON string."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class ToolCalls:
    """Tool calls streamed the OpenAI way: a header chunk per call, then its arguments in small fragments."""

    calls: list[Call]
    content: str = ""
    chunk_chars: int = 3
    delay: float = 0.0
    usage: tuple[int, int] | None = None
    """(prompt_tokens, completion_tokens) to report, instead of the rough estimate."""
    with_ids: bool = True
    """False: stream the calls without any `id`, as some local model servers do."""


@dataclass(frozen=True)
class Error:
    """An HTTP error with an OpenAI-style JSON body and an optional Retry-After header (seconds)."""

    status: int
    message: str = "scripted error"
    retry_after: float | None = None


@dataclass(frozen=True)
class Drop:
    """Stream `text` (4-character chunks), then abort the connection mid-stream without `[DONE]`."""

    text: str


@dataclass(frozen=True)
class Hang:
    """Accept the request and never answer, until the server is stopped (for client timeouts)."""


Reply: TypeAlias = Text | ToolCalls | Error | Drop | Hang
ReplyFn: TypeAlias = Callable[[dict[str, Any]], Reply]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def embedding(text: str, dim: int = 384) -> list[float]:
    """Return the deterministic unit vector the server produces for `text` (same text, same vector)."""
    values: list[float] = []
    for counter in itertools.count():
        if len(values) >= dim:
            break
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((byte - 127.5) / 127.5 for byte in digest)
    values = values[:dim]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def _pieces(text: str, size: int) -> list[str]:
    """Split `text` into consecutive pieces of at most `size` characters (none for empty text)."""
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _tokens(text: str) -> int:
    """Rough token count (about four characters per token), good enough for usage fields."""
    return math.ceil(len(text) / 4)


def _arguments(call: Call) -> str:
    """The call's arguments as the JSON string OpenAI sends."""
    return call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)


def _completion_text(reply: Text | ToolCalls | Drop) -> str:
    """Everything the assistant "generates" for a reply, for usage accounting."""
    if isinstance(reply, ToolCalls):
        return reply.content + "".join(_arguments(c) for c in reply.calls)
    return reply.text


def _usage(reply: Text | ToolCalls | Drop, estimated_prompt_tokens: int) -> dict[str, int]:
    """The usage object for a reply: its scripted counts, else estimates from the text."""
    scripted = None if isinstance(reply, Drop) else reply.usage
    prompt, completion = scripted or (estimated_prompt_tokens, _tokens(_completion_text(reply)))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _error_body(status: int, message: str) -> dict[str, Any]:
    """OpenAI-style error JSON."""
    code = "rate_limit_exceeded" if status == 429 else None
    return {"error": {"message": message, "type": _ERROR_TYPES.get(status, "server_error"), "param": None, "code": code}}


class _Aborted(Exception):
    """Raised inside a connection handler once the connection has been deliberately dropped."""


class ScriptedLLM:
    """OpenAI-compatible server on 127.0.0.1 answering chat completions from a FIFO script of replies.

    Each `POST /v1/chat/completions` records its JSON body in `requests` and pops the next scripted
    reply (or uses `default` when the script is empty). A reply may be a callable taking the request
    body and returning a reply. Use as a context manager or call `start()` / `stop()`.
    """

    def __init__(
        self, *, model: str = "scripted-llm", embedding_dim: int = 384, default: Reply | ReplyFn | None = None, report_usage: bool = True
    ) -> None:
        """Configure the server; nothing listens until `start()`.

        `report_usage=False` plays a model that ignores `stream_options.include_usage`.
        """
        self.model = model
        self.report_usage = report_usage
        self.embedding_dim = embedding_dim
        self.default: Reply | ReplyFn = default if default is not None else Text("ok")
        self._lock = threading.Lock()
        self._script: collections.deque[Reply | ReplyFn] = collections.deque()
        self._requests: list[dict[str, Any]] = []
        self._embedding_requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ScriptedLLM:
        """Start listening on a free loopback port in a background thread; returns self."""
        if self._thread is not None:
            raise RuntimeError("ScriptedLLM already started")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="scripted-llm", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve_connection, "127.0.0.1", 0), loop
        ).result(timeout=10)
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Close the listener and every open connection (hanging ones included), then end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = self._server = None
        self._port = None

    def __enter__(self) -> ScriptedLLM:
        """Start the server."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop the server."""
        self.stop()

    async def _shutdown(self) -> None:
        """Runs on the server loop: stop accepting and cancel all connection handlers."""
        assert self._server is not None
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()

    # -- public state --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._port is None:
            raise RuntimeError("ScriptedLLM not started")
        return self._port

    @property
    def base_url(self) -> str:
        """Base URL for `openai.OpenAI(base_url=...)`, e.g. "http://127.0.0.1:PORT/v1"."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Snapshot of the JSON bodies of all chat completion requests received, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        """Snapshot of the JSON bodies of all embedding requests received, in order."""
        with self._lock:
            return list(self._embedding_requests)

    def script(self, *replies: Reply | ReplyFn) -> None:
        """Append replies to the FIFO queue consumed by chat completion requests."""
        with self._lock:
            self._script.extend(replies)

    def clear(self) -> None:
        """Forget scripted replies not yet used and all recorded requests."""
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self._embedding_requests.clear()

    # -- HTTP/1.1 ------------------------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve keep-alive HTTP/1.1 requests on one connection until it closes."""
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    return
                method, path, headers, body = request
                await self._route(method, path, body, writer)
                if headers.get("connection", "").lower() == "close":
                    return
        except (_Aborted, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            return
        finally:
            self._connections.discard(task)
            writer.close()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
        """Read one request; None when the client closed the connection between requests."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")  # no trailers expected: the empty line ending the body
            body = b"".join(parts)
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        return method, target.split("?", 1)[0], headers, body

    @staticmethod
    def _head(status: int, headers: dict[str, str]) -> bytes:
        """Status line and headers."""
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [f"HTTP/1.1 {status} {phrase}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
        return "\r\n".join(lines).encode("latin-1")

    async def _send_json(self, writer: asyncio.StreamWriter, status: int, payload: object, extra: dict[str, str] | None = None) -> None:
        """Send a complete JSON response with Content-Length."""
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(extra or {})}
        writer.write(self._head(status, headers) + body)
        await writer.drain()

    async def _route(self, method: str, path: str, raw: bytes, writer: asyncio.StreamWriter) -> None:
        """Dispatch one request to its endpoint."""
        if method == "GET" and path == "/v1/models":
            model = {"id": self.model, "object": "model", "created": 0, "owned_by": "confab-tests"}
            await self._send_json(writer, 200, {"object": "list", "data": [model]})
            return
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/embeddings"):
            await self._send_json(writer, 404, _error_body(404, f"no route for {method} {path}"))
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            await self._send_json(writer, 400, _error_body(400, f"invalid JSON body: {exc}"))
            return
        if path == "/v1/embeddings":
            await self._embeddings(body, writer)
        else:
            await self._chat(body, writer)

    # -- endpoints -----------------------------------------------------------------------------

    async def _embeddings(self, body: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        """Answer with one deterministic unit vector per input (float list or base64 float32)."""
        with self._lock:
            self._embedding_requests.append(body)
        raw = body.get("input", "")
        items = raw if isinstance(raw, list) and not all(isinstance(x, int) for x in raw) else [raw]
        texts = [item if isinstance(item, str) else json.dumps(item) for item in items]
        dim = int(body.get("dimensions") or self.embedding_dim)
        data = []
        for index, text in enumerate(texts):
            vector = embedding(text, dim)
            encoded: list[float] | str = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(_tokens(t) for t in texts)
        payload = {
            "object": "list",
            "data": data,
            "model": body.get("model", self.model),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        await self._send_json(writer, 200, payload)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        """Record the request and resolve the next scripted (or default) reply."""
        with self._lock:
            self._requests.append(body)
            reply = self._script.popleft() if self._script else self.default
        if callable(reply):
            try:
                return reply(body)
            except Exception as exc:  # surface bugs in test callables as a visible 500
                return Error(500, f"scripted reply callable raised {exc!r}")
        return reply

    async def _chat(self, body: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        """Answer one chat completion request according to the next reply."""
        reply = self._next_reply(body)
        if isinstance(reply, Error):
            extra = {} if reply.retry_after is None else {"Retry-After": f"{reply.retry_after:g}"}
            await self._send_json(writer, reply.status, _error_body(reply.status, reply.message), extra)
            return
        if isinstance(reply, Hang):
            await asyncio.Event().wait()  # cancelled by stop()
        meta = {
            "id": f"chatcmpl-{next(self._ids)}",
            "created": int(time.time()),
            "model": body.get("model", self.model),
        }
        prompt_tokens = sum(_tokens(json.dumps(m.get("content"))) for m in body.get("messages", []))
        if body.get("stream"):
            include_usage = self.report_usage and bool((body.get("stream_options") or {}).get("include_usage"))
            await self._stream(reply, meta, prompt_tokens, include_usage, writer)
        else:
            await self._complete(reply, meta, prompt_tokens, writer)

    async def _complete(self, reply: Text | ToolCalls | Drop, meta: dict[str, Any], prompt_tokens: int, writer: asyncio.StreamWriter) -> None:
        """Non-streaming answer: a whole `chat.completion` object."""
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if isinstance(reply, ToolCalls):
            message["content"] = reply.content or None
            message["tool_calls"] = [
                {"id": c.id or f"call_{meta['id']}_{i}", "type": "function", "function": {"name": c.name, "arguments": _arguments(c)}}
                for i, c in enumerate(reply.calls)
            ]
            finish = "tool_calls"
        else:
            message["content"] = reply.text
            finish = reply.finish_reason if isinstance(reply, Text) else "stop"
        payload = {
            **meta,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": _usage(reply, prompt_tokens),
        }
        if isinstance(reply, Drop):
            body = json.dumps(payload).encode()
            writer.write(self._head(200, {"Content-Type": "application/json", "Content-Length": str(len(body))}) + body[: len(body) // 2])
            await self._abort(writer)
        await self._send_json(writer, 200, payload)

    @staticmethod
    def _deltas(reply: Text | ToolCalls | Drop, call_prefix: str) -> list[tuple[float, dict[str, Any]]]:
        """The (delay-before, delta) sequence for a streamed reply, excluding the finish chunk."""
        out: list[tuple[float, dict[str, Any]]] = [(0.0, {"role": "assistant", "content": ""})]
        if isinstance(reply, Drop):
            return out + [(0.0, {"content": p}) for p in _pieces(reply.text, 4)]
        content = reply.text if isinstance(reply, Text) else reply.content
        out += [(reply.delay, {"content": p}) for p in _pieces(content, reply.chunk_chars)]
        if isinstance(reply, ToolCalls):
            for index, call in enumerate(reply.calls):
                header = {"index": index, "type": "function", "function": {"name": call.name, "arguments": ""}}
                if reply.with_ids:
                    header["id"] = call.id or f"{call_prefix}_{index}"
                out.append((reply.delay, {"tool_calls": [header]}))
                out += [
                    (reply.delay, {"tool_calls": [{"index": index, "function": {"arguments": frag}}]})
                    for frag in _pieces(_arguments(call), reply.chunk_chars)
                ]
        return out

    async def _stream(self, reply: Text | ToolCalls | Drop, meta: dict[str, Any], prompt_tokens: int, include_usage: bool, writer: asyncio.StreamWriter) -> None:
        """Streaming answer: SSE `chat.completion.chunk` events over chunked transfer encoding."""
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Transfer-Encoding": "chunked"}
        writer.write(self._head(200, headers))

        async def event(data: str) -> None:
            payload = f"data: {data}\n\n".encode()
            writer.write(b"%x\r\n%s\r\n" % (len(payload), payload))
            await writer.drain()

        def chunk(delta: dict[str, Any], finish: str | None) -> str:
            obj: dict[str, Any] = {**meta, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            if include_usage:
                obj["usage"] = None
            return json.dumps(obj)

        for delay, delta in self._deltas(reply, f"call_{meta['id']}"):
            if delay:
                await asyncio.sleep(delay)
            await event(chunk(delta, None))
        if isinstance(reply, Drop):
            await self._abort(writer)
        await event(chunk({}, reply.finish_reason if isinstance(reply, Text) else "tool_calls"))
        if include_usage:
            await event(json.dumps({**meta, "object": "chat.completion.chunk", "choices": [], "usage": _usage(reply, prompt_tokens)}))
        await event("[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    @staticmethod
    async def _abort(writer: asyncio.StreamWriter) -> None:
        """Flush what was written, then drop the connection without finishing the response."""
        await writer.drain()
        await asyncio.sleep(0.05)  # let the client read the partial body before the connection dies
        writer.transport.abort()
        raise _Aborted
