"""The gateway: one websockets server on one port, routing WebSocket and HTTP GET requests."""

from __future__ import annotations

import logging
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from server.agents_api import agents_response, is_agents_path
from server.auth import SUBPROTOCOL_KEY_PREFIX, presented_key
from server.http import json_response, text_response
from server.http_post import PostRequest, PostResponse, post_connection_class
from server.metrics import ACTIVE_SESSIONS, exposition
from server.realtime.protocol import ServerEventEncoder, error_event
from server.realtime.session import RealtimeSession
from server.runtime import Runtime
from server.speech_api import SPEECH_API_PATHS, SpeechApi, refused
from server.static_files import is_static_path, static_response
from server.twilio.connection import TWILIO_PATH, serve_call
from server.websocket_io import frames, sender

log = logging.getLogger(__name__)

REALTIME_PATH = "/v1/realtime"
WEBSOCKET_PATHS = {REALTIME_PATH, TWILIO_PATH}


class Gateway:
    """Accepts connections, authenticates them and hands each to its protocol's session."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sessions = 0
        self._server: Server | None = None
        self.speech_api = SpeechApi(runtime)

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
        if path not in WEBSOCKET_PATHS:
            return text_response(HTTPStatus.NOT_FOUND, f"no route for {path}\n")
        if path == TWILIO_PATH:
            return None  # Twilio signs the upgrade and presents its token in the stream's `start` message
        if self.runtime.keys.owner_of(presented_key(request.headers)) is None:
            return json_response(HTTPStatus.UNAUTHORIZED, {"error": {"code": "invalid_api_key", "message": "missing or invalid API key"}})
        return None

    async def post(self, request: PostRequest) -> PostResponse:
        """POST routes (request bodies cannot go through a WebSocket handshake; see server.http_post)."""
        if request.path in SPEECH_API_PATHS:
            return await self.speech_api.handle(request)
        return refused(HTTPStatus.NOT_FOUND, f"no POST route for {request.path}")

    @staticmethod
    def select_subprotocol(connection: ServerConnection, subprotocols: list[str]) -> str | None:
        """Accept the browser's `realtime` subprotocol; never echo the key-carrying one."""
        for protocol in subprotocols:
            if not protocol.startswith(SUBPROTOCOL_KEY_PREFIX):
                return protocol
        return None

    async def handle(self, connection: ServerConnection) -> None:
        """Run one WebSocket connection to its end."""
        assert connection.request is not None
        if self.sessions >= self.runtime.settings.max_sessions:
            await connection.close(CloseCode.TRY_AGAIN_LATER, "too many sessions; try again later")
            return
        self.sessions += 1
        protocol = "twilio" if urlsplit(connection.request.path).path == TWILIO_PATH else "realtime"
        ACTIVE_SESSIONS.labels(protocol).inc()
        try:
            if protocol == "twilio":
                await serve_call(self.runtime, connection)
            else:
                await self._realtime(connection)
        finally:
            self.sessions -= 1
            ACTIVE_SESSIONS.labels(protocol).dec()

    async def _realtime(self, connection: ServerConnection) -> None:
        request = connection.request
        assert request is not None
        owner = self.runtime.keys.owner_of(presented_key(request.headers))
        assert owner is not None
        wanted = parse_qs(urlsplit(request.path).query).get("model", [None])[0]
        agent = await self.runtime.agents.resolve(owner, wanted)
        beta = "realtime=v1" in (request.headers.get("OpenAI-Beta") or "")
        if agent is None:
            reason = f"unknown agent {wanted!r}"
            frame = ServerEventEncoder(beta).encode(error_event(reason, "agent_not_found", param="model"))
            if frame is not None:
                await connection.send(frame)
            await connection.close(CloseCode.POLICY_VIOLATION, reason)
            return
        report_latency = parse_qs(urlsplit(request.path).query).get("latency", ["0"])[0] in ("1", "true")
        session = RealtimeSession(self.runtime, agent, sender(connection), beta=beta, report_latency=report_latency)
        await session.open()
        try:
            async for frame in frames(connection, self.runtime.settings.idle_timeout_s):
                await session.handle_frame(frame)
        finally:
            await session.close()

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
            create_connection=post_connection_class(self.post, refused, settings.max_upload_bytes),
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
            self._server.close()
            await self._server.wait_closed()
