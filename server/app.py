"""The gateway: one websockets server on one port, routing WebSocket and HTTP GET requests."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from contextlib import aclosing
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.frames import CloseCode
from websockets.typing import Subprotocol
from websockets.http11 import Request, Response

from audio.native_heap import Trimmer
from server.agent_names import resolve_agent
from memory.conversations import CallerIdError
from memory.redis_client import OUTAGE_ERRORS
from server.agents_api import agents_response, is_agents_path
from server.auth import SUBPROTOCOL_KEY_PREFIX, presented_key
from server.chat.routes import MODELS_PATH, ChatCompletions, is_chat_path
from server.http import json_response, text_response
from server.realtime.client_secrets import (
    CLIENT_SECRETS_PATH,
    ClientSecretGrant,
    ClientSecretRefused,
    ClientSecrets,
    client_secrets_response,
    granted_agent,
    is_client_secret,
    minted_session_frame,
    refusal_response,
)
from server.admission import Admission, AdmissionLimits, Refused
from server.metrics import exposition
from server.plain_http import HttpReply, HttpRequest, PlainHttp, error_body, json_reply
from server.realtime.protocol import ServerEventEncoder, error_event, refuse_audio_input
from server.realtime.session import RealtimeSession
from server.runtime import Runtime
from server.speech_api import SPEECH_API_PATHS, SpeechApi
from server.static_files import is_static_path, static_response
from server.twilio.connection import TWILIO_PATH, serve_call
from server.websocket_io import InboundLimits, close_reason, frames, sender
from server.twilio.voice_webhook import VOICE_WEBHOOK_PATH, VoiceWebhookRequest, answer_voice_webhook
from server.voice.conversation import MEMORY_UNAVAILABLE

log = logging.getLogger(__name__)

REALTIME_PATH = "/v1/realtime"
WEBSOCKET_PATHS = {REALTIME_PATH, TWILIO_PATH}
HEAD_TIMEOUT_S = 10.0


class Gateway:
    """Accepts connections, authenticates them and hands each to its protocol's session."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        s = runtime.settings
        self.admission = Admission(AdmissionLimits(
            s.max_sessions, s.max_sessions_per_owner, s.max_unauthenticated, s.max_unauthenticated_per_address,
        ))
        self.chat = ChatCompletions(runtime)
        self.plain_http = PlainHttp(self.http_request, max(runtime.settings.max_frame_bytes, runtime.settings.max_upload_bytes), HEAD_TIMEOUT_S)
        self._server: Server | None = None
        self._grants: weakref.WeakKeyDictionary[ServerConnection, ClientSecretGrant] = weakref.WeakKeyDictionary()
        self.speech_api = SpeechApi(runtime)
        self._trimmer = Trimmer()

    async def readiness(self) -> tuple[bool, dict[str, object]]:
        """Whether Redis and archival memory are reachable and a model is configured, with details."""
        checks: dict[str, object] = {}
        try:
            checks["redis"] = bool(await self.runtime.redis.ping())
        except Exception as exc:  # any failure means not ready; say which
            checks["redis"] = f"unreachable: {exc}"
        endpoint = self.runtime.default_endpoint()
        checks["llm"] = {"configured": endpoint.configured, "base_url": endpoint.base_url, "model": endpoint.model}
        archival = await self.runtime.memory.readiness()
        checks["archival"] = archival
        ready = checks["redis"] is True and endpoint.configured and archival["reachable"] is True
        if self.runtime.speech is not None:
            speech_ready, checks["speech"] = await self.runtime.speech.readiness()
            ready = ready and speech_ready
        return ready, checks

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """HTTP routes, and the authentication of WebSocket upgrades (refused with 401)."""
        path = urlsplit(request.path).path
        if path == "/healthz":
            return json_response(HTTPStatus.OK, {"status": "ok"})
        if path == "/readyz":
            ready, checks = await self.readiness()
            return json_response(HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE, {"ready": ready, **checks})
        if path == "/metrics":
            body, content_type = exposition()
            return text_response(HTTPStatus.OK, body.decode(), content_type)
        if is_static_path(path):
            return static_response(path)
        if is_agents_path(path):
            return await agents_response(self.runtime, request, path)
        if path == MODELS_PATH:
            return await self.chat.models(request)
        if is_chat_path(path) or path == CLIENT_SECRETS_PATH:
            return json_reply(HTTPStatus.METHOD_NOT_ALLOWED, error_body(HTTPStatus.METHOD_NOT_ALLOWED, "use POST", "method_not_allowed"))
        if path == VOICE_WEBHOOK_PATH:
            webhook = VoiceWebhookRequest.parse(
                "GET", request.path, request.headers, b"", self.runtime.settings.public_url
            )
            return await answer_voice_webhook(self.runtime, webhook)
        if path not in WEBSOCKET_PATHS:
            return text_response(HTTPStatus.NOT_FOUND, f"no route for {path}\n")
        if path == TWILIO_PATH:
            return None  # Twilio signs the upgrade and presents its token in the stream's `start` message
        if is_client_secret(presented_key(request.headers)):
            return await self._redeem_secret(connection, request)
        if self.runtime.keys.owner_of(presented_key(request.headers)) is None:
            return json_response(HTTPStatus.UNAUTHORIZED, {"error": {"code": "invalid_api_key", "message": "missing or invalid API key"}})
        return None

    async def _redeem_secret(self, connection: ServerConnection, request: Request) -> Response | None:
        """Use up the client secret an upgrade presents (401 when it opens nothing) and keep its grant for the session."""
        try:
            self._grants[connection] = await ClientSecrets(self.runtime.redis).redeem(presented_key(request.headers) or "")
        except ClientSecretRefused as exc:
            return refusal_response(exc)
        return None

    async def http_request(self, request: HttpRequest) -> HttpReply:
        """The routes that take a request body (POST)."""
        path = urlsplit(request.path).path
        if is_chat_path(path):
            return await self.chat.handle(request)
        if path in SPEECH_API_PATHS:
            return await self.speech_api.handle(request)
        if path == CLIENT_SECRETS_PATH:
            return await client_secrets_response(self.runtime, request)
        if is_agents_path(path):
            return await agents_response(self.runtime, request, path)
        if path == VOICE_WEBHOOK_PATH:
            webhook = VoiceWebhookRequest.parse(request.method, request.path, request.headers, request.body, self.runtime.settings.public_url)
            return await answer_voice_webhook(self.runtime, webhook)
        return json_reply(HTTPStatus.NOT_FOUND, error_body(HTTPStatus.NOT_FOUND, f"no route for {request.method} {path}", "not_found"))

    @staticmethod
    def select_subprotocol(connection: ServerConnection, subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
        """Accept the browser's `realtime` subprotocol; never echo the key-carrying one."""
        for protocol in subprotocols:
            if not protocol.startswith(SUBPROTOCOL_KEY_PREFIX):
                return protocol
        return None

    async def handle(self, connection: ServerConnection) -> None:
        """Run one WebSocket connection to its end; a connection beyond the limits is closed with the reason.

        Once it has ended, the memory its session's audio and models freed goes back to the OS.
        """
        try:
            await self._handle(connection)
        finally:
            self._trimmer.request()

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        if urlsplit(connection.request.path).path == TWILIO_PATH:
            await serve_call(self.runtime, connection, self.admission)
            return
        grant = self._grants.pop(connection, None)
        owner = grant.owner if grant is not None else self.runtime.keys.owner_of(presented_key(connection.request.headers))
        assert owner is not None  # the upgrade was refused otherwise
        try:
            with self.admission.session(owner, "realtime"):
                await self._realtime(connection, owner, grant)
        except Refused as exc:
            log.warning("realtime connection refused: %s", exc)
            await connection.close(exc.code, close_reason(str(exc)))
        except OUTAGE_ERRORS as exc:  # opening the session; once it runs, the session handles outages itself
            log.warning("realtime connection refused: %s (%s)", MEMORY_UNAVAILABLE, exc)
            await connection.close(CloseCode.TRY_AGAIN_LATER, f"{MEMORY_UNAVAILABLE}; try again later")

    async def _realtime(self, connection: ServerConnection, owner: str, grant: ClientSecretGrant | None) -> None:
        request = connection.request
        assert request is not None
        query = parse_qs(urlsplit(request.path).query, keep_blank_values=True)
        wanted = query.get("model", [None])[0] or None
        if grant is None:
            agent = await resolve_agent(self.runtime.agents, owner, wanted, self.runtime.settings.default_agent)
            reason = f"unknown agent {wanted!r}"
        else:
            agent, reason = await granted_agent(self.runtime.agents, grant, wanted)
        beta = "realtime=v1" in (request.headers.get("OpenAI-Beta") or "")
        if agent is None:
            await self._refuse(connection, beta, reason, "agent_not_found", "model")
            return
        asked_caller = query.get("caller", [None])[0]
        if grant is not None and asked_caller is not None and asked_caller != grant.caller:
            await self._refuse(connection, beta, "the client secret was minted for another caller", "invalid_caller", "caller")
            return
        try:
            conversation = await self.runtime.memory.conversations.open(agent, grant.caller if grant is not None else asked_caller)
        except CallerIdError as exc:
            await self._refuse(connection, beta, str(exc), "invalid_caller", "caller")
            return
        report_latency = query.get("latency", ["0"])[0] in ("1", "true")
        session = RealtimeSession(self.runtime.voice(), agent, conversation, sender(connection), beta=beta, report_latency=report_latency)
        await session.open()
        if grant is not None:
            await session.handle_frame(minted_session_frame(grant, beta))
        try:
            async with aclosing(frames(connection, self.runtime.settings.idle_timeout_s, InboundLimits.of(self.runtime.settings))) as incoming:
                async for incoming_frame in incoming:
                    refusal = None if self.runtime.speech is not None else refuse_audio_input(incoming_frame, beta)
                    if refusal is not None:
                        await session.error(refusal.message, refusal.code, refusal.event_id, refusal.param)
                    else:
                        await session.handle_frame(incoming_frame)
        finally:
            await session.close()

    @staticmethod
    async def _refuse(connection: ServerConnection, beta: bool, reason: str, code: str, param: str) -> None:
        """Tell the client why with an `error` event, then close the connection (1008)."""
        frame = ServerEventEncoder(beta).encode(error_event(reason, code, param=param))
        if frame is not None:
            await connection.send(frame)
        await connection.close(CloseCode.POLICY_VIOLATION, reason)

    async def start(self) -> Server:
        """Start listening."""
        settings = self.runtime.settings
        self._server = await serve(
            self.handle,
            settings.host,
            settings.port,
            process_request=self.process_request,
            select_subprotocol=self.select_subprotocol,
            max_size=settings.max_frame_bytes,
            max_queue=64,
            create_connection=self.plain_http.connection_class(),
            open_timeout=None,  # the connection class times out a request that does not arrive (HEAD_TIMEOUT_S)
        )
        return self._server

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop accepting, close every connection and wait for sessions to end."""
        if self._server is not None:
            self.plain_http.cancel_all()
            self._server.close()
            await self._server.wait_closed()
        await self._trimmer.close()
