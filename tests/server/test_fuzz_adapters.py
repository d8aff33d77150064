"""Property-based fuzzing of both protocol adapters, without sockets: whatever arrives, the answer is a typed
event or a clear refusal, never an exception. Seeded (derandomized) and bounded to a few seconds."""

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from server.realtime.protocol import PlainTextUtterance, ProtocolError, ServerEventEncoder, error_event, parse_client_frame
from server.twilio.protocol import MediaStream, ProtocolViolation
from server.websocket_io import close_reason

FUZZ = settings(max_examples=300, derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)  # lone surrogates included
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _any_text)
json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_any_text, inner, max_size=4)),
    max_leaves=20,
)

REALTIME_TEMPLATES: list[dict[str, Any]] = [
    {"type": "session.update", "session": {"type": "realtime", "instructions": "be brief", "output_modalities": ["text"],
     "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}, "turn_detection": {"type": "server_vad", "threshold": 0.5}}},
     "tools": [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}]}},
    {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}},
    {"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "call_1", "output": "{}"}},
    {"type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, "audio_end_ms": 100},
    {"type": "input_audio_buffer.append", "audio": "AAAA"},
    {"type": "input_audio_buffer.commit"},
    {"type": "response.create", "response": {"output_modalities": ["text"]}},
    {"type": "response.cancel"},
]
TWILIO_SID = "MZ0123"
TWILIO_TEMPLATES: list[dict[str, Any]] = [
    {"event": "connected", "protocol": "Call", "version": "1.0.0"},
    {"event": "start", "streamSid": TWILIO_SID, "start": {"streamSid": TWILIO_SID, "callSid": "CA1", "customParameters": {"token": "k"},
     "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}},
    {"event": "media", "streamSid": TWILIO_SID, "media": {"payload": "AAAA", "track": "inbound"}},
    {"event": "dtmf", "streamSid": TWILIO_SID, "dtmf": {"digit": "1"}},
    {"event": "mark", "streamSid": TWILIO_SID, "mark": {"name": "m"}},
    {"event": "stop", "streamSid": TWILIO_SID, "stop": {"callSid": "CA1"}},
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            paths += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths += _paths(child, (*prefix, index))
    return paths


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return copy


@st.composite
def mutated(draw: st.DrawFn, templates: list[dict[str, Any]]) -> str:
    """A valid frame with one value anywhere in it replaced by arbitrary JSON (keys and `type` included)."""
    template = draw(st.sampled_from(templates))
    path = draw(st.sampled_from(_paths(template)))
    return json.dumps(_replaced(template, path, draw(json_values)))


def _frames(templates: list[dict[str, Any]]) -> st.SearchStrategy[str | bytes]:
    return st.one_of(
        mutated(templates),
        st.builds(json.dumps, json_values),
        _any_text.map(lambda t: t.encode("utf-8", "surrogatepass").decode("utf-8", "replace")),
        st.binary(max_size=16),
        st.integers(1, 3000).map(lambda depth: '{"type": "response.create", "x": ' + "[" * depth + "]" * depth + "}"),
    )


@FUZZ
@given(frame=_frames(REALTIME_TEMPLATES), beta=st.booleans())
def test_every_realtime_frame_becomes_an_event_a_turn_or_an_error_event(frame: str | bytes, beta: bool) -> None:
    result = parse_client_frame(frame, beta)
    assert isinstance(result, (BaseModel, PlainTextUtterance, ProtocolError))
    if isinstance(result, ProtocolError):
        encoded = ServerEventEncoder(beta).encode(error_event(result.message, result.code, result.event_id, result.param))
        assert encoded is not None and json.loads(encoded)["type"] == "error"


@FUZZ
@given(frames=st.lists(_frames(TWILIO_TEMPLATES), min_size=1, max_size=6), start_first=st.booleans())
def test_every_twilio_frame_is_a_message_or_a_violation_with_a_sendable_reason(frames: list[str | bytes], start_first: bool) -> None:
    stream = MediaStream()
    if start_first:
        stream.receive(json.dumps(TWILIO_TEMPLATES[1]))
    for frame in frames:
        try:
            stream.receive(frame)
        except ProtocolViolation as exc:
            assert len(close_reason(f"protocol error: {exc}").encode()) <= 123
            return
