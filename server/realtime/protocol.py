"""Sans-I/O adapter: Realtime wire frames in, typed events out, and typed server events back to frames.

Incoming frames are checked as JSON first (depth, number ranges, text encoding: see
`server.wire_json`), then validated with openai-python's own model for their `type`
(GA shapes) and held to the bounds of `server.realtime.bounds`; beta clients
(`OpenAI-Beta: realtime=v1`) are first rewritten to GA shapes. Outgoing events are
openai-python's server event models, rewritten to the beta dialect for beta clients
(`server.realtime.beta`). Nothing here touches a socket.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, get_args

from openai.types.realtime import InputAudioBufferAppendEvent, RealtimeClientEvent, RealtimeErrorEvent, SessionUpdateEvent
from openai.types.realtime.realtime_error import RealtimeError
from pydantic import BaseModel, TypeAdapter, ValidationError

from server.realtime import bounds
from server.realtime.beta import BetaFieldError, client_event_to_ga, server_event_to_beta
from server.realtime.transcription import unknown_field
from server.wire_json import UnsafeJson, load_checked
from server.ids import new_id

log = logging.getLogger(__name__)

_EVENT_MODELS: dict[str, TypeAdapter[Any]] = {
    get_args(model.model_fields["type"].annotation)[0]: TypeAdapter(model)
    for model in get_args(get_args(RealtimeClientEvent)[0])
}

@dataclass(frozen=True)
class PlainTextUtterance:
    """A text frame that is not a JSON object: the wscat plain-text mode's user turn."""

    text: str


@dataclass(frozen=True)
class ProtocolError:
    """A frame that could not be understood; becomes an `error` event, the session lives on."""

    message: str
    code: str
    event_id: str | None = None
    param: str | None = None


EXTENSION_RATE = "confab_rate"
ITEM_REFERENCE = "confab_item_reference"
"""Marks an `item_reference` of `response.input`, carried as an empty system message (openai-python's
`ConversationItem` union has no reference type; `server.realtime.response_input` resolves it)."""


def mark_item_references(data: dict[str, Any]) -> dict[str, Any]:
    """Let `{"type": "item_reference", "id": ...}` entries of `response.input` through validation, marked."""
    response = data.get("response")
    entries = response.get("input") if isinstance(response, dict) else None
    if isinstance(response, dict) and isinstance(entries, list):
        response["input"] = [
            {"type": "message", "role": "system", "content": [], "id": entry.get("id"), ITEM_REFERENCE: True}
            if isinstance(entry, dict) and entry.get("type") == "item_reference" else entry
            for entry in entries
        ]
    return data


def pcm_rate_extension(data: dict[str, Any]) -> dict[str, Any]:
    """Let `audio/pcm` at 16 kHz through (an extension: the GA schema only allows 24 kHz).

    The rate moves to an extra `confab_rate` field, which openai-python's models keep.
    """
    audio = data.get("session", {}).get("audio") if isinstance(data.get("session"), dict) else None
    if not isinstance(audio, dict):
        return data
    for direction in ("input", "output"):
        fmt = audio.get(direction, {}).get("format") if isinstance(audio.get(direction), dict) else None
        if isinstance(fmt, dict) and fmt.get("type") == "audio/pcm" and fmt.get("rate") not in (None, 24000):
            fmt[EXTENSION_RATE] = fmt.pop("rate")
    return data


def parse_client_frame(frame: str | bytes, beta: bool = False) -> BaseModel | PlainTextUtterance | ProtocolError:
    """Turn one incoming WebSocket frame into a typed client event, a plain-text turn or an error.

    Every refusal is logged once and returned as a ProtocolError; nothing a client
    sends makes this raise.
    """
    parsed = _parse(frame, beta)
    if isinstance(parsed, ProtocolError):
        log.info("realtime frame refused (%s): %.300s", parsed.code, parsed.message)
    return parsed


def _parse(frame: str | bytes, beta: bool) -> BaseModel | PlainTextUtterance | ProtocolError:
    if isinstance(frame, bytes):
        return ProtocolError("binary frames are not part of the Realtime protocol; send JSON text frames", "invalid_frame")
    stripped = frame.strip()
    if not stripped.startswith("{"):
        if not stripped:
            return ProtocolError("empty frame", "invalid_frame")
        if len(stripped) > bounds.MAX_TEXT_CHARS:
            return ProtocolError(f"a plain-text turn is limited to {bounds.MAX_TEXT_CHARS} characters", "invalid_value")
        return PlainTextUtterance(stripped)
    try:
        data = load_checked(stripped, bounds.MAX_DEPTH)
    except UnsafeJson as exc:
        return ProtocolError(str(exc), "invalid_json")
    if not isinstance(data, dict):
        return ProtocolError("an event must be a JSON object", "invalid_json")
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    kind = data.get("type")
    if not isinstance(kind, str):
        return ProtocolError("an event needs a string `type`", "invalid_value", event_id, "type")
    model = _EVENT_MODELS.get(kind)
    if model is None:
        return ProtocolError(f"unknown event type {kind[:64]!r}", "unknown_event_type", event_id, "type")
    if beta:
        try:
            data = client_event_to_ga(data)
        except BetaFieldError as exc:
            return ProtocolError(str(exc), exc.code, event_id, exc.param)
    if kind == "session.update":
        session = data.get("session")
        if isinstance(session, dict) and session.get("type") not in ("realtime", "transcription"):
            return ProtocolError("a session's type is `realtime` or `transcription`", "invalid_value", event_id, "session.type")
        data = pcm_rate_extension(data)
    if kind == "response.create":
        data = mark_item_references(data)
    try:
        event = model.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if not str(p)[:1].isupper()) or None
        return ProtocolError(f"invalid {kind}: {first['msg']} at {where}", "invalid_value", event_id, where)
    unknown = unknown_field(event.session) if isinstance(event, SessionUpdateEvent) and event.session.type == "transcription" else None
    if unknown is not None:
        return ProtocolError(f"a transcription session has no field {unknown}", "unknown_parameter", event_id, unknown)
    problem = bounds.check(event)
    if problem is not None:
        return ProtocolError(f"invalid {kind}: {problem.message}", "invalid_value", event_id, problem.param)
    return event


def refuse_audio_input(frame: str | bytes, beta: bool = False) -> ProtocolError | None:
    """On a server without speech models: the refusal of a frame that appends audio (None for any other frame)."""
    event = _parse(frame, beta)
    if not isinstance(event, InputAudioBufferAppendEvent):
        return None
    log.info("realtime frame refused (audio_unavailable): audio input on a text-only server")
    return ProtocolError(
        "this server runs without speech models (CONFAB_SPEECH=false): send text", "audio_unavailable", event.event_id, "type"
    )


@dataclass
class ServerEventEncoder:
    """Serialises server event models for one connection, in GA or beta naming."""

    beta: bool = False

    def encode(self, event: BaseModel) -> str | None:
        """The JSON text frame for `event`, or None when the client's dialect has no such event."""
        data = event.model_dump(mode="json", exclude_none=True)
        response = data.get("response")
        if isinstance(response, dict) and "id" in response and "conversation_id" not in response:
            response["conversation_id"] = None  # an out-of-band response says so, as OpenAI's does
        sent = server_event_to_beta(data) if self.beta else data
        return None if sent is None else json.dumps(sent, separators=(",", ":"))


def error_event(message: str, code: str, event_id: str | None = None, param: str | None = None) -> RealtimeErrorEvent:
    """The `error` server event for a problem the client caused or should know about."""
    return RealtimeErrorEvent(
        type="error",
        event_id=new_id("event"),
        error=RealtimeError(type="invalid_request_error", code=code, message=message, event_id=event_id, param=param),
    )
