"""Short-lived client secrets: `POST /v1/realtime/client_secrets`, then one Realtime session with the value.

A server holding a real API key mints a secret for a browser (or any client it should not
give its key to), as with OpenAI: the answer is `{"value", "expires_at", "session"}`
(openai-python's `ClientSecretCreateResponse`). The value opens ONE `/v1/realtime` session,
for the agent (`session.model`), the caller (`?caller=`) and the session config it was
minted for, until it expires (`expires_after.seconds`, 10 to 7200, default 600).

Secrets live in Redis, keyed by the SHA-256 of the value (the value itself is never
stored), so any server process can redeem one and a single Lua call makes redeeming it
atomic: a second use fails on every process. An expired secret is remembered for an hour
after it expired, so the refusal can say why.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from openai.types.realtime import ClientSecretCreateResponse, RealtimeSessionCreateRequest, RealtimeTranscriptionSessionCreateRequest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.asyncio import Redis
from websockets.http11 import Response

from memory.agents import AgentStore
from memory.conversations import CallerIdError, check_caller_id
from memory.records import AgentRecord
from server.agent_names import is_openai_model_name, resolve_agent
from server.auth import presented_key
from server.http import json_response
from server.plain_http import HttpRequest
from server.realtime.beta import session_to_beta
from server.realtime.protocol import pcm_rate_extension
from server.realtime.transcription import Transcription, unknown_field
from server.realtime.voice_config import VoiceConfig
from server.runtime import Runtime

CLIENT_SECRETS_PATH = "/v1/realtime/client_secrets"
SECRET_PREFIX = "ek_"
_REMEMBER_EXPIRED_S = 3600
_REDEEM = """
local grant = redis.call('HGET', KEYS[1], 'grant')
if not grant then return false end
return {grant, redis.call('HINCRBY', KEYS[1], 'uses', 1)}
"""


class ExpiresAfter(BaseModel):
    """When a secret stops opening sessions: `seconds` after it was created."""

    model_config = ConfigDict(extra="forbid")
    anchor: Literal["created_at"] = "created_at"
    seconds: int = Field(default=600, ge=10, le=7200)


class ClientSecretRequest(BaseModel):
    """The body of `POST /v1/realtime/client_secrets` (openai-python's `ClientSecretCreateParams`)."""

    model_config = ConfigDict(extra="forbid")
    expires_after: ExpiresAfter = Field(default_factory=ExpiresAfter)
    session: dict[str, Any] = Field(default_factory=lambda: {"type": "realtime"})


class ClientSecretGrant(BaseModel):
    """What a secret opens: one session of this owner's agent, for this caller, with this session config."""

    model_config = ConfigDict(frozen=True)
    owner: str
    agent_id: str
    caller: str | None
    session: dict[str, Any]
    expires_at: int


class ClientSecretRefused(Exception):
    """A presented secret opens nothing; `code` says why (`client_secret_expired`, `_used`, `_unknown`)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class RequestRefused(Exception):
    """A mint request that cannot be honoured, answered with `status` and an OpenAI-style error naming `param`."""

    def __init__(self, status: HTTPStatus, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param


def is_client_secret(key: str | None) -> bool:
    """Whether a presented key is a client secret (`ek_...`) rather than an API key."""
    return key is not None and key.startswith(SECRET_PREFIX)


def _redis_key(value: str) -> str:
    return "confab:client_secret:" + hashlib.sha256(value.encode()).hexdigest()


class ClientSecrets:
    """Minting and redeeming secrets in Redis (shared by every server process)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def mint(self, grant: ClientSecretGrant) -> str:
        """Store `grant` under a new secret value, kept until an hour after it expires; the value."""
        value = SECRET_PREFIX + secrets.token_urlsafe(32)
        keep_s = max(1, grant.expires_at - int(time.time())) + _REMEMBER_EXPIRED_S
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(_redis_key(value), mapping={"grant": grant.model_dump_json(), "uses": 0})
            pipe.expire(_redis_key(value), keep_s)
            await pipe.execute()
        return value

    async def redeem(self, value: str) -> ClientSecretGrant:
        """The grant `value` opens, used up by this call; ClientSecretRefused when expired, used or unknown."""
        found = await self._redis.eval(_REDEEM, 1, _redis_key(value))
        if not found:
            raise ClientSecretRefused("unknown client secret", "client_secret_unknown")
        raw, uses = found
        grant = ClientSecretGrant.model_validate_json(raw)
        if grant.expires_at <= time.time():
            raise ClientSecretRefused("the client secret expired; mint a new one", "client_secret_expired")
        if int(uses) > 1:
            raise ClientSecretRefused("the client secret was already used; a secret opens one session", "client_secret_used")
        return grant


def _error_body(message: str, code: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code, "param": param}}


def refusal_response(exc: ClientSecretRefused) -> Response:
    """The 401 a WebSocket upgrade presenting a refused secret gets."""
    return json_response(HTTPStatus.UNAUTHORIZED, _error_body(str(exc), exc.code))


def _parse_request(body: bytes) -> ClientSecretRequest:
    try:
        data = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestRefused(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {exc}", "invalid_json") from exc
    try:
        return ClientSecretRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RequestRefused(HTTPStatus.BAD_REQUEST, f"invalid {where or 'body'}: {first['msg']}", "invalid_value", where or None) from exc


def _located(data: Any, loc: tuple[int | str, ...]) -> tuple[str, Any]:
    """The dotted path of a validation error's location within `data` (union member names left out) and the value there."""
    parts: list[str] = []
    for step in loc:
        if isinstance(data, dict) and step in data:
            parts.append(str(step))
            data = data[step]
        elif isinstance(data, list) and isinstance(step, int) and step < len(data):
            parts.append(str(step))
            data = data[step]
    return ".".join(parts), data


def _session_config(runtime: Runtime, session: dict[str, Any]) -> tuple[RealtimeSessionCreateRequest | RealtimeTranscriptionSessionCreateRequest, VoiceConfig]:
    """The requested session as openai-python reads it (16 kHz PCM allowed, as in `session.update`) and the voice settings it implies."""
    kind = session.get("type")
    if kind not in ("realtime", "transcription"):
        raise RequestRefused(HTTPStatus.BAD_REQUEST, f"session.type {kind!r} is not supported; use \"realtime\" or \"transcription\"",
                             "invalid_value", "session.type")
    extended = pcm_rate_extension({"session": session})["session"]
    model = RealtimeSessionCreateRequest if kind == "realtime" else RealtimeTranscriptionSessionCreateRequest
    try:
        config = model.model_validate(extended)
    except ValidationError as exc:
        where, value = _located(extended, exc.errors()[0]["loc"])
        param = "session." + where if where else "session"
        raise RequestRefused(HTTPStatus.BAD_REQUEST, f"invalid {param}: {value!r}", "invalid_value", param) from exc
    if (unknown := unknown_field(config) if kind == "transcription" else None) is not None:
        raise RequestRefused(HTTPStatus.BAD_REQUEST, f"a transcription session has no field {unknown}", "unknown_parameter", unknown)
    speech = runtime.speech
    transcription, refused = (Transcription(speech.transcriber.name) if speech else Transcription(enabled=False)).updated(
        getattr(config.audio, "input", None), speech.transcriber.languages if speech else None)
    if refused:
        raise RequestRefused(HTTPStatus.BAD_REQUEST, refused[0].message, refused[0].code, refused[0].param)
    try:
        return config, VoiceConfig(kind=config.type, transcription=transcription).updated(config)
    except ValueError as exc:
        raise RequestRefused(HTTPStatus.BAD_REQUEST, str(exc), "invalid_value", "session.audio") from exc


def _caller(request: HttpRequest) -> str | None:
    values = parse_qs(urlsplit(request.path).query).get("caller")
    if not values:
        return None
    if len(values) > 1:
        raise RequestRefused(HTTPStatus.BAD_REQUEST, "name one caller", "invalid_caller", "caller")
    try:
        return check_caller_id(values[0])
    except CallerIdError as exc:
        raise RequestRefused(HTTPStatus.BAD_REQUEST, str(exc), "invalid_caller", "caller") from None


async def mint(runtime: Runtime, request: HttpRequest) -> dict[str, Any]:
    """Mint a secret for the request's owner; the `ClientSecretCreateResponse` JSON, or RequestRefused."""
    key = presented_key(request.headers)
    owner = None if is_client_secret(key) else runtime.keys.owner_of(key)
    if owner is None:
        raise RequestRefused(HTTPStatus.UNAUTHORIZED, "missing or invalid API key (a client secret cannot mint secrets)", "invalid_api_key")
    parsed = _parse_request(request.body)
    caller = _caller(request)
    config, voice = _session_config(runtime, parsed.session)
    model = getattr(config, "model", None) if isinstance(getattr(config, "model", None), str) else None
    agent = await resolve_agent(runtime.agents, owner, model, runtime.settings.default_agent)
    if agent is None:
        raise RequestRefused(HTTPStatus.NOT_FOUND, f"unknown agent {model!r}", "agent_not_found", "session.model")
    requested = config.model_dump(mode="json", exclude_unset=True)
    requested.pop("model", None)
    expires_at = int(time.time()) + parsed.expires_after.seconds
    value = await ClientSecrets(runtime.redis).mint(ClientSecretGrant(
        owner=owner, agent_id=agent.id, caller=caller, session=requested, expires_at=expires_at
    ))
    session: dict[str, Any] = {**requested, "id": f"sess_{uuid.uuid4().hex[:20]}", "expires_at": expires_at}
    if voice.kind == "transcription":
        session |= {"object": "realtime.transcription_session", "audio": {"input": voice.input_config()}}
    else:
        session |= {"object": "realtime.session", "model": agent.name, "output_modalities": [voice.modality],
                    "audio": voice.audio_config().model_dump(mode="json", exclude_none=True)}
    answer = ClientSecretCreateResponse.model_validate({"value": value, "expires_at": expires_at, "session": session})
    return answer.model_dump(mode="json", exclude_none=True)


async def client_secrets_response(runtime: Runtime, request: HttpRequest) -> Response:
    """Answer `POST /v1/realtime/client_secrets`."""
    try:
        return json_response(HTTPStatus.OK, await mint(runtime, request))
    except RequestRefused as exc:
        return json_response(exc.status, _error_body(str(exc), exc.code, exc.param))


async def granted_agent(agents: AgentStore, grant: ClientSecretGrant, wanted: str | None) -> tuple[AgentRecord | None, str]:
    """The agent a redeemed secret opens, or None and why: deleted since, or not the one the URL's `?model=` names.

    An OpenAI model name in `?model=` (openai-python always sends one) defers to the secret.
    """
    agent = await agents.get(grant.owner, grant.agent_id)
    if agent is None:
        return None, "the agent this client secret was minted for no longer exists"
    if wanted and not is_openai_model_name(wanted) and wanted not in (agent.name, agent.id):
        return None, f"this client secret opens agent {agent.name!r}, not {wanted!r}"
    return agent, ""


def minted_session_frame(grant: ClientSecretGrant, beta: bool) -> str:
    """The `session.update` frame that applies a grant's session config to the session it opens, in the client's dialect."""
    session = session_to_beta(grant.session) if beta else grant.session
    return json.dumps({"type": "session.update", "session": session})
