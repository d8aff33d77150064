"""The socket side of `WS /v1/twilio`: signature check, authentication, the receive loop, and closing with a clear reason.

A stream authenticates with the token in its `start` message. Until then it holds no
session slot, only one of its address's few unauthenticated ones, and it must send
`start` within `auth_timeout_s`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing

from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode

from memory.redis_client import OUTAGE_ERRORS
from server.admission import Admission, Refused
from server.runtime import Runtime
from server.twilio.call import CallRefused, TwilioCall
from server.twilio.caller_token import caller_tokens
from server.twilio.protocol import MediaStream, ProtocolViolation, Start
from server.twilio.signature import request_is_from_twilio
from server.voice.conversation import MEMORY_UNAVAILABLE
from server.websocket_io import InboundLimits, close_reason, frames, peer_address, sender

log = logging.getLogger(__name__)

TWILIO_PATH = "/v1/twilio"
async def _wait_for_start(runtime: Runtime, incoming: AsyncIterator[str | bytes]) -> tuple[str | bytes, str] | None:
    """The stream's `start` frame and the owner its token belongs to; None when the peer left first."""
    timeout = runtime.settings.auth_timeout_s
    stream = MediaStream()
    try:
        async with asyncio.timeout(timeout):
            async for frame in incoming:
                if isinstance(stream.receive(frame), Start):
                    assert stream.info is not None
                    owner = runtime.keys.owner_of(stream.info.custom_parameters.get("token"))
                    if owner is None:
                        raise CallRefused("missing or invalid token: customParameters.token must be one of the server's API keys")
                    return frame, owner
    except TimeoutError:
        raise CallRefused(f"no start message within {timeout:g} s") from None
    return None


async def serve_call(runtime: Runtime, connection: ServerConnection, admission: Admission) -> None:
    """Run one Twilio Media Stream to its end; a bad stream is closed with 1008 and the reason."""
    settings = runtime.settings
    request = connection.request
    assert request is not None
    if settings.twilio_auth_token and not request_is_from_twilio(settings.twilio_auth_token, request, settings.public_url):
        log.warning("Twilio stream refused: invalid X-Twilio-Signature (check CONFAB_PUBLIC_URL)")
        await connection.close(CloseCode.POLICY_VIOLATION, "invalid X-Twilio-Signature")
        return

    try:
        async with aclosing(frames(connection, settings.idle_timeout_s, InboundLimits.of(settings))) as incoming:
            with admission.unauthenticated(peer_address(connection)):
                started = await _wait_for_start(runtime, incoming)
            if started is not None:
                start, owner = started
                with admission.session(owner, "twilio"):
                    await _run_call(runtime, connection, start, incoming)
    except ProtocolViolation as exc:
        log.warning("Twilio stream closed: protocol error: %.300r", str(exc))
        await connection.close(CloseCode.POLICY_VIOLATION, close_reason(f"protocol error: {exc}"))
    except (CallRefused, Refused) as exc:
        log.warning("Twilio stream refused: %.300r", str(exc))
        await connection.close(exc.code, close_reason(str(exc)))
    except OUTAGE_ERRORS as exc:  # before the call started; once it runs, the call handles outages itself
        log.warning("Twilio stream refused: %s (%s)", MEMORY_UNAVAILABLE, exc)
        await connection.close(CloseCode.TRY_AGAIN_LATER, f"{MEMORY_UNAVAILABLE}; call again later")
    await connection.close()


async def _run_call(runtime: Runtime, connection: ServerConnection, start: str | bytes, incoming: AsyncIterator[str | bytes]) -> None:
    tokens = await caller_tokens(runtime.redis, runtime.settings.caller_token_secret)
    call = TwilioCall(runtime.voice(), tokens, sender(connection))
    try:
        await call.handle_frame(start)
        async for frame in incoming:
            await call.handle_frame(frame)
            if call.ended:
                break
    finally:
        await call.close()
