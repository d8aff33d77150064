"""The socket side of `WS /v1/twilio`: signature check, the receive loop, and closing with a clear reason."""

from __future__ import annotations

import logging

from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode

from server.runtime import Runtime
from server.twilio.call import CallRefused, TwilioCall
from server.twilio.protocol import ProtocolViolation
from server.twilio.signature import request_is_from_twilio
from server.websocket_io import frames, sender

log = logging.getLogger(__name__)

TWILIO_PATH = "/v1/twilio"
_MAX_REASON_BYTES = 123  # RFC 6455: a close reason fits in a control frame


def _close_reason(text: str) -> str:
    return text.encode()[:_MAX_REASON_BYTES].decode(errors="ignore")


async def serve_call(runtime: Runtime, connection: ServerConnection) -> None:
    """Run one Twilio Media Stream to its end; a bad stream is closed with 1008 and the reason."""
    settings = runtime.settings
    request = connection.request
    assert request is not None
    if settings.twilio_auth_token and not request_is_from_twilio(settings.twilio_auth_token, request, settings.public_url):
        log.warning("Twilio stream refused: invalid X-Twilio-Signature (check CONFAB_PUBLIC_URL)")
        await connection.close(CloseCode.POLICY_VIOLATION, "invalid X-Twilio-Signature")
        return

    call = TwilioCall(runtime.voice(), sender(connection))
    try:
        async for frame in frames(connection, settings.idle_timeout_s):
            await call.handle_frame(frame)
            if call.ended:
                break
    except ProtocolViolation as exc:
        log.warning("Twilio stream closed: protocol error: %s", exc)
        await connection.close(CloseCode.POLICY_VIOLATION, _close_reason(f"protocol error: {exc}"))
    except CallRefused as exc:
        log.warning("Twilio stream refused: %s", exc)
        await connection.close(exc.code, _close_reason(str(exc)))
    finally:
        await call.close()
    await connection.close()
