"""`/v1/twilio/voice`: the phone number's voice webhook, answering TwiML that streams the call to an agent.

Twilio calls it when a call comes in, with the form fields `From`, `To` and `CallSid`
(POST body, or the query string when the number is set to use GET), signed with
`X-Twilio-Signature`. The answer connects the call's Media Stream to `/v1/twilio` with
the agent, the API key and a caller token vouching for `From` on this CallSid, so the
stream's conversation is that number's. Query parameters of the webhook URL: `agent`
(default: the owner's default agent) and `token` (an API key, when keys are configured).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

from websockets.http11 import Response

from memory.conversations import CallerIdError, check_caller_id
from server.http import json_response, text_response
from server.runtime import Runtime
from server.twilio.caller_token import caller_tokens
from server.twilio.connection import TWILIO_PATH
from server.twilio.signature import valid_signature
from server.twilio.twiml import stream_twiml

log = logging.getLogger(__name__)

VOICE_WEBHOOK_PATH = "/v1/twilio/voice"
WITHHELD_NUMBERS = frozenset({"anonymous", "restricted", "unknown", "private", "unavailable", "+266696687"})
"""`From` values Twilio uses for callers who hide their number: such calls are anonymous."""


@dataclass(frozen=True)
class VoiceWebhookRequest:
    """One webhook request: the public base URL and path Twilio requested, its query, its form fields and its signature."""

    base: str
    path: str
    query: Mapping[str, str]
    form: Mapping[str, str]
    signature: str | None

    @classmethod
    def parse(cls, method: str, path: str, headers: Mapping[str, str], body: bytes, public_url: str | None) -> VoiceWebhookRequest:
        """From the raw request: the form is the POST body (`application/x-www-form-urlencoded`), or the query for GET."""
        query = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
        form = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)) if method == "POST" else {}
        return cls(public_base(headers, public_url), path, query, form, headers.get("X-Twilio-Signature"))

    @property
    def url(self) -> str:
        """The full URL Twilio signed."""
        return self.base + self.path

    @property
    def fields(self) -> Mapping[str, str]:
        """Twilio's parameters (`From`, `CallSid`, ...), wherever they came."""
        return self.form or self.query


def public_base(headers: Mapping[str, str], public_url: str | None) -> str:
    """The https:// base Twilio reaches this server at (`CONFAB_PUBLIC_URL` with its scheme made http, else the Host header)."""
    if public_url:
        parts = urlsplit(public_url.rstrip("/"))
        scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
        return f"{scheme}://{parts.netloc}{parts.path}"
    return f"https://{headers.get('Host', '')}"


def _stream_url(base: str) -> str:
    parts = urlsplit(base)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}{parts.path}{TWILIO_PATH}"


def caller_of(number: str | None) -> str | None:
    """The caller id of a `From` number, or None when it is withheld or not a valid caller id."""
    if not number or number.lower() in WITHHELD_NUMBERS:
        return None
    try:
        return check_caller_id(number)
    except CallerIdError:
        return None


def _error(status: HTTPStatus, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}})


async def answer_voice_webhook(runtime: Runtime, request: VoiceWebhookRequest) -> Response:
    """The TwiML for an incoming call, or a 4xx with the reason (bad signature, key, agent or fields)."""
    settings = runtime.settings
    if settings.twilio_auth_token and not valid_signature(settings.twilio_auth_token, request.url, request.signature, request.form):
        log.warning("Twilio voice webhook refused: invalid X-Twilio-Signature (check CONFAB_PUBLIC_URL)")
        return _error(HTTPStatus.FORBIDDEN, "invalid_signature", "invalid X-Twilio-Signature")
    key = request.query.get("token")
    owner = runtime.keys.owner_of(key)
    if owner is None:
        return _error(HTTPStatus.UNAUTHORIZED, "invalid_api_key", "missing or invalid token: add ?token=API_KEY to the webhook URL")
    call_sid = request.fields.get("CallSid")
    if not call_sid:
        return _error(HTTPStatus.BAD_REQUEST, "invalid_request", "the webhook needs Twilio's CallSid field")
    agent = await runtime.agents.resolve(owner, request.query.get("agent"))
    if agent is None:
        return _error(HTTPStatus.NOT_FOUND, "agent_not_found", f"unknown agent {request.query.get('agent')!r}")
    caller = caller_of(request.fields.get("From"))
    token = None
    if caller is not None:
        token = (await caller_tokens(runtime.redis, settings.caller_token_secret)).sign(owner, agent.id, caller, call_sid)
    twiml = stream_twiml(_stream_url(request.base), agent.name, key, token)
    return text_response(HTTPStatus.OK, twiml, "text/xml; charset=utf-8")
