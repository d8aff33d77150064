"""Read-only JSON routes for the browser client: the caller's agents and an agent's memory blocks.

`GET /v1/agents` -> `{"agents": [{"id", "name"}]}` and `GET /v1/agents/NAME/memory` ->
`{"agent": NAME, "blocks": [{"label", "value", "limit"}]}`: the blocks one caller's conversation sees with
`?caller=ID`, else only the blocks the agent shares with every caller. `DELETE /v1/agents/NAME/memory?caller=ID`
forgets that caller (history, own blocks, archival passages, queued jobs) and answers what it erased. Both take the same API key as
`/v1/realtime` (`Authorization: Bearer KEY`) and answer 401 without a valid one, which is how the
page tells a bad key from an unreachable server before it opens the WebSocket.
"""

from __future__ import annotations

import dataclasses
from http import HTTPStatus
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.http11 import Request, Response

from memory.conversations import CallerIdError, Conversation
from memory.records import AgentRecord
from server.auth import presented_key
from server.plain_http import HttpRequest
from server.http import json_response
from server.runtime import Runtime

AGENTS_PATH = "/v1/agents"
UNAUTHORIZED = {"error": {"code": "invalid_api_key", "message": "missing or invalid API key"}}


def is_agents_path(path: str) -> bool:
    """Whether `path` belongs to these routes."""
    return path == AGENTS_PATH or path.startswith(AGENTS_PATH + "/")


async def agents_response(runtime: Runtime, request: Request | HttpRequest, path: str) -> Response:
    """Answer one `/v1/agents...` request for the key's owner (401 without a valid key)."""
    owner = runtime.keys.owner_of(presented_key(request.headers))
    if owner is None:
        return json_response(HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
    if path == AGENTS_PATH:
        agents = await runtime.agents.list(owner)
        return json_response(HTTPStatus.OK, {"agents": [{"id": a.id, "name": a.name} for a in agents]})
    name, _, rest = path[len(AGENTS_PATH) + 1:].partition("/")
    if rest != "memory":
        return json_response(HTTPStatus.NOT_FOUND, {"error": {"code": "not_found", "message": f"no route for {path}"}})
    agent = await runtime.agents.get(owner, unquote(name))
    if agent is None:
        return json_response(HTTPStatus.NOT_FOUND, {"error": {"code": "agent_not_found", "message": f"unknown agent {unquote(name)!r}"}})
    caller = parse_qs(urlsplit(request.path).query, keep_blank_values=True).get("caller", [None])[0]
    try:
        conversation = Conversation.of(agent, caller) if caller is not None else None
    except CallerIdError as exc:
        return json_response(HTTPStatus.BAD_REQUEST, {"error": {"code": "invalid_caller", "message": str(exc)}})
    if isinstance(request, HttpRequest) and request.method == "DELETE":  # an upgrade-style `Request` is always a GET
        return await _forget(runtime, agent, caller)
    blocks = await runtime.memory.blocks.list(agent, conversation)
    return json_response(HTTPStatus.OK, {"agent": agent.name, "blocks": [b.model_dump() for b in blocks]})


async def _forget(runtime: Runtime, agent: AgentRecord, caller: str | None) -> Response:
    """`DELETE /v1/agents/NAME/memory?caller=ID`: erase that caller's conversation; says what was erased."""
    if caller is None:
        return json_response(HTTPStatus.BAD_REQUEST, {"error": {"code": "invalid_caller", "message": "say which caller to forget: ?caller=ID"}})
    conversation = await runtime.memory.conversations.find(agent, caller)
    if conversation is None:
        return json_response(HTTPStatus.NOT_FOUND, {"error": {"code": "caller_not_found", "message": "this agent has no conversation with that caller"}})
    archive = runtime.memory.archive
    if archive is None:
        return json_response(HTTPStatus.SERVICE_UNAVAILABLE, {"error": {"code": "archive_unavailable", "message": "archival memory is not open"}})
    erased = await runtime.memory.forget_caller(conversation, archive)
    return json_response(HTTPStatus.OK, {"agent": agent.name, "forgotten": caller, "erased": dataclasses.asdict(erased)})
