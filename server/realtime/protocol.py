"""Sans-I/O adapter: Realtime wire frames in, typed events out, and typed server events back to frames.

Incoming frames are validated with openai-python's own `RealtimeClientEvent` union
(GA shapes); beta clients (`OpenAI-Beta: realtime=v1`) are first rewritten to GA
shapes. Outgoing events are openai-python's server event models, renamed to the
beta names for beta clients. Nothing here touches a socket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from openai.types.realtime import RealtimeClientEvent, RealtimeErrorEvent
from openai.types.realtime.realtime_error import RealtimeError
from pydantic import BaseModel, TypeAdapter, ValidationError

from server.ids import new_id

_CLIENT_EVENTS: TypeAdapter[Any] = TypeAdapter(RealtimeClientEvent)
_KNOWN_TYPES = {
    "session.update", "input_audio_buffer.append", "input_audio_buffer.commit", "input_audio_buffer.clear",
    "output_audio_buffer.clear", "conversation.item.create", "conversation.item.truncate",
    "conversation.item.delete", "conversation.item.retrieve", "response.create", "response.cancel",
}

_GA_TO_BETA = {
    "conversation.item.added": "conversation.item.created",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
}
_BETA_ONLY_DROPPED = {"conversation.item.done"}
_BETA_FORMATS = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "pcm16_16k": {"type": "audio/pcm", "rate": 16000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
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


def _beta_session_to_ga(session: dict[str, Any]) -> dict[str, Any]:
    ga: dict[str, Any] = {"type": "realtime"}
    audio_in: dict[str, Any] = {}
    audio_out: dict[str, Any] = {}
    for key, value in session.items():
        if key == "modalities":
            ga["output_modalities"] = ["audio"] if "audio" in value else ["text"]
        elif key == "input_audio_format":
            audio_in["format"] = _BETA_FORMATS.get(value, {"type": value})
        elif key == "output_audio_format":
            audio_out["format"] = _BETA_FORMATS.get(value, {"type": value})
        elif key == "turn_detection":
            audio_in["turn_detection"] = value
        elif key == "voice":
            audio_out["voice"] = value
        elif key in ("instructions", "tools", "tool_choice", "model"):
            ga[key] = value
    if audio_in or audio_out:
        ga["audio"] = {k: v for k, v in (("input", audio_in), ("output", audio_out)) if v}
    return ga


def _beta_to_ga(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("type") == "session.update" and isinstance(data.get("session"), dict):
        return {**data, "session": _beta_session_to_ga(data["session"])}
    if data.get("type") == "response.create" and isinstance(data.get("response"), dict):
        response = dict(data["response"])
        if "modalities" in response:
            response["output_modalities"] = ["audio"] if "audio" in response.pop("modalities") else ["text"]
        return {**data, "response": response}
    return data


EXTENSION_RATE = "confab_rate"


def _pcm_rate_extension(data: dict[str, Any]) -> dict[str, Any]:
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
    """Turn one incoming WebSocket frame into a typed client event, a plain-text turn or an error."""
    if isinstance(frame, bytes):
        return ProtocolError("binary frames are not part of the Realtime protocol; send JSON text frames", "invalid_frame")
    stripped = frame.strip()
    if not stripped.startswith("{"):
        if not stripped:
            return ProtocolError("empty frame", "invalid_frame")
        return PlainTextUtterance(stripped)
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        return ProtocolError(f"malformed JSON: {exc.msg} at position {exc.pos}", "invalid_json")
    if not isinstance(data, dict):
        return ProtocolError("an event must be a JSON object", "invalid_json")
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    kind = data.get("type")
    if kind not in _KNOWN_TYPES:
        return ProtocolError(f"unknown event type {kind!r}", "unknown_event_type", event_id, "type")
    if beta:
        data = _beta_to_ga(data)
    if kind == "session.update":
        data = _pcm_rate_extension(data)
    try:
        return _CLIENT_EVENTS.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or None
        return ProtocolError(f"invalid {kind}: {first['msg']} at {where}", "invalid_value", event_id, where)


@dataclass
class ServerEventEncoder:
    """Serialises server event models for one connection, in GA or beta naming."""

    beta: bool = False

    def encode(self, event: BaseModel) -> str | None:
        """The JSON text frame for `event`, or None when the client's dialect has no such event."""
        data = event.model_dump(mode="json", exclude_none=True)
        if self.beta:
            if data["type"] in _BETA_ONLY_DROPPED:
                return None
            data["type"] = _GA_TO_BETA.get(data["type"], data["type"])
        return json.dumps(data, separators=(",", ":"))


def error_event(message: str, code: str, event_id: str | None = None, param: str | None = None) -> RealtimeErrorEvent:
    """The `error` server event for a problem the client caused or should know about."""
    return RealtimeErrorEvent(
        type="error",
        event_id=new_id("event"),
        error=RealtimeError(type="invalid_request_error", code=code, message=message, event_id=event_id, param=param),
    )
