"""Caller tokens: Confab's signed, expiring proof of who is on a Twilio call.

A Media Stream does not carry the caller's number, and its `<Parameter>`s are whatever the
TwiML said, so the voice webhook (which Twilio signs and which gets `From`) puts the number
in a token: owner, agent, caller and CallSid, an expiry, and an HMAC-SHA256 over them. The
stream's caller is the token's only if the token verifies, has not expired and names this
owner, agent and call; anything else is an anonymous caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from memory import keys
from memory.conversations import CallerIdError, check_caller_id

TOKEN_TTL_S = 300.0
"""Long enough for Twilio to open the stream after fetching the TwiML, short enough to be useless later."""


class CallerClaim(BaseModel):
    """What a caller token vouches for."""

    owner: str
    agent_id: str
    caller_id: str
    call_sid: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class CallerTokens:
    """Signs and verifies caller tokens with one secret (shared by every server process)."""

    secret: bytes
    ttl_s: float = TOKEN_TTL_S

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, payload.encode(), hashlib.sha256).digest())

    def sign(self, owner: str, agent_id: str, caller_id: str, call_sid: str, now: float | None = None) -> str:
        """A token vouching that `caller_id` is on call `call_sid` to `agent_id` of `owner`, valid for `ttl_s`."""
        claim = CallerClaim(
            owner=owner, agent_id=agent_id, caller_id=check_caller_id(caller_id), call_sid=call_sid,
            expires_at=(time.time() if now is None else now) + self.ttl_s,
        )
        payload = _b64(claim.model_dump_json().encode())
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str | None, now: float | None = None) -> CallerClaim | None:
        """The claim of a genuine, unexpired token; None for anything else (missing, forged, expired, malformed)."""
        if not token or token.count(".") != 1:
            return None
        payload, mac = token.split(".")
        if not hmac.compare_digest(self._mac(payload).encode(), mac.encode()):
            return None
        try:
            claim = CallerClaim.model_validate(json.loads(_unb64(payload)))
            check_caller_id(claim.caller_id)
        except (binascii.Error, ValueError, ValidationError, CallerIdError):
            return None
        return claim if claim.expires_at > (time.time() if now is None else now) else None

    def vouched_caller(self, token: str | None, owner: str, agent_id: str, call_sid: str) -> str | None:
        """The caller a stream's token vouches for on this owner's agent and call, or None (anonymous)."""
        claim = self.verify(token)
        if claim is None or (claim.owner, claim.agent_id, claim.call_sid) != (owner, agent_id, call_sid):
            return None
        return claim.caller_id


async def caller_tokens(redis: Redis, configured_secret: str | None) -> CallerTokens:
    """The tokens of this deployment: `CONFAB_CALLER_TOKEN_SECRET`, else a random secret kept in Redis
    (created by the first process that needs it, so every process of one deployment shares it)."""
    if configured_secret:
        return CallerTokens(configured_secret.encode())
    await redis.set(keys.caller_token_secret(), secrets.token_hex(32), nx=True)
    stored = await redis.get(keys.caller_token_secret())
    assert stored is not None
    return CallerTokens(stored if isinstance(stored, bytes) else stored.encode())
