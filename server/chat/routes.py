"""The HTTP side of chat completions: `POST /v1/chat/completions` (and the reference's
`/v1/voice-beta/{agent_id}/chat/completions`), `GET /v1/models`.

Thin: authenticate, read the body (`server.chat.request`), apply the turn to the agent's
memory (`server.chat.turn`), then stream the agent's events as chunks (`server.chat.chunks`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from openai.types.chat import ChatCompletion
from openai.types.realtime import RealtimeFunctionTool
from websockets.http11 import Request, Response

from agent.events import AgentEvent
from memory.records import AgentRecord
from server.auth import presented_key
from server.chat.chunks import DONE, ChunkEncoder, new_completion_id, sse
from server.chat.request import CALLER_HEADER, ChatRequest, InvalidRequest, caller_of, parse_request, turn_input
from server.chat.turn import apply_input
from server.metrics import ACTIVE_SESSIONS
from server.agent_names import resolve_agent
from server.plain_http import HttpReply, HttpRequest, StreamingResponse, error_body, json_reply
from server.realtime.client_tools import ClientTools
from server.runtime import Runtime

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
_VOICE_BETA_PATH = re.compile(r"/v1/voice-beta/([^/]+)/chat/completions")


def is_chat_path(path: str) -> bool:
    """Whether `path` is one of the chat-completions routes."""
    return path == CHAT_PATH or _VOICE_BETA_PATH.fullmatch(path) is not None


class _Refused(Exception):
    def __init__(self, status: HTTPStatus, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.reply = json_reply(status, error_body(status, message, code, param))


class ChatCompletions:
    """Serves chat completions for every owner; one request is one turn of one caller.

    A request for a conversation whose previous turn still runs in this process cancels that
    turn first (the platform has moved on: the caller spoke again), so turns never interleave.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._running: dict[str, asyncio.Task[Any]] = {}

    async def models(self, request: Request) -> Response:
        """`GET /v1/models`: the owner's agents as OpenAI model objects."""
        owner = self.runtime.keys.owner_of(presented_key(request.headers))
        if owner is None:
            return _unauthorized()
        agents = await self.runtime.agents.list(owner)
        return json_reply(HTTPStatus.OK, {"object": "list", "data": [_model_object(a) for a in agents]})

    async def handle(self, request: HttpRequest) -> HttpReply:
        """Answer one `POST` to a chat-completions route."""
        try:
            return await self._handle(request)
        except InvalidRequest as exc:
            return json_reply(HTTPStatus.BAD_REQUEST, error_body(HTTPStatus.BAD_REQUEST, str(exc), "invalid_request", exc.param))
        except _Refused as refused:
            return refused.reply

    async def _handle(self, request: HttpRequest) -> HttpReply:
        if request.method != "POST":
            raise _Refused(HTTPStatus.METHOD_NOT_ALLOWED, f"{request.method} is not allowed here; POST a chat request", "method_not_allowed")
        owner = self.runtime.keys.owner_of(presented_key(request.headers))
        if owner is None:
            return _unauthorized()
        if len(self._running) >= self.runtime.settings.max_sessions:  # claims are dropped when their request ends
            raise _Refused(HTTPStatus.TOO_MANY_REQUESTS, "too many turns in progress; try again shortly", "rate_limit_exceeded")
        body = parse_request(request.body)
        beta = _VOICE_BETA_PATH.fullmatch(urlsplit(request.path).path)
        wanted = unquote(beta[1]) if beta else body.model
        agent = await resolve_agent(self.runtime.agents, owner, wanted, self.runtime.settings.default_agent)
        if agent is None:
            raise _Refused(HTTPStatus.NOT_FOUND, f"unknown agent {wanted!r}", "model_not_found", "model")
        caller = caller_of(body, request.headers.get(CALLER_HEADER))
        turn = turn_input(body)
        conversation = await self.runtime.memory.conversations.open(agent, caller)
        voice_agent = self.runtime.voice_agent(agent, conversation, turn.instructions, client_tools=_platform_tools(body))
        await self._take_over(conversation.id)
        await apply_input(voice_agent, turn)
        encoder = ChunkEncoder(new_completion_id(), body.model or agent.name)
        events = voice_agent.step_stream(encoder.completion_id)
        if body.stream:
            return StreamingResponse(HTTPStatus.OK, "text/event-stream", self._stream(events, encoder, body.include_usage))
        return json_reply(HTTPStatus.OK, (await self._complete(events, encoder)).model_dump(mode="json", exclude_none=True))

    async def _take_over(self, key: str) -> None:
        """Claim the conversation for this request's task (until it ends), cancelling the turn
        still running in it and waiting until that turn is persisted."""
        previous = self._running.get(key)
        current = asyncio.current_task()
        assert current is not None
        self._running[key] = current
        ACTIVE_SESSIONS.labels("chat").inc()

        def release(task: asyncio.Task[Any]) -> None:
            ACTIVE_SESSIONS.labels("chat").dec()
            if self._running.get(key) is task:
                del self._running[key]

        current.add_done_callback(release)
        if previous is not None and not previous.done():
            previous.cancel()
            await asyncio.wait([previous])

    @staticmethod
    async def _stream(events: AsyncGenerator[AgentEvent, None], encoder: ChunkEncoder, include_usage: bool) -> AsyncGenerator[bytes, None]:
        yield sse(encoder.role())
        async with aclosing(events):  # a client that leaves closes it: the step is persisted at once
            async for event in events:
                for chunk in encoder.feed(event):
                    yield sse(chunk)
        if include_usage:
            yield sse(encoder.usage_chunk())
        yield DONE

    @staticmethod
    async def _complete(events: AsyncGenerator[AgentEvent, None], encoder: ChunkEncoder) -> ChatCompletion:
        async with aclosing(events):
            async for event in events:
                encoder.feed(event)
        return encoder.completion()


def _platform_tools(body: ChatRequest) -> ClientTools | None:
    """The tools the platform declared, offered to the model next to the agent's; the platform runs them."""
    if not body.tools:
        return None
    tools = ClientTools()
    tools.declare([
        RealtimeFunctionTool(type="function", name=t.function.name, description=t.function.description, parameters=t.function.parameters)
        for t in body.tools
    ])
    return tools


def _model_object(agent: AgentRecord) -> dict[str, Any]:
    return {"id": agent.name, "object": "model", "created": int(agent.created_at.timestamp()), "owned_by": agent.owner}


def _unauthorized() -> Response:
    return json_reply(HTTPStatus.UNAUTHORIZED, error_body(HTTPStatus.UNAUTHORIZED, "missing or invalid API key", "invalid_api_key"))

