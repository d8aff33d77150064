"""The beta dialect (`OpenAI-Beta: realtime=v1`), sans-I/O: GA server events out in beta shapes, beta client events in as GA.

Every beta event is checked against openai-python's beta models (`openai.types.beta.realtime`),
strictly: those models accept unknown fields, so a GA field left unconverted is caught too.
"""

import json
from typing import Any

import pytest
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.realtime import ConversationItemCreateEvent, RealtimeServerEvent, ResponseCreateEvent, SessionUpdateEvent
from pydantic import BaseModel, TypeAdapter
from websockets.asyncio.client import connect

from server.realtime.protocol import ProtocolError, ServerEventEncoder, parse_client_frame
from tests.conftest import ws_url
from tests.fakes.llm_server import ScriptedLLM, Text
from tests.realtime_client import RealtimeTestClient

GA_EVENTS: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)
BETA_EVENTS: TypeAdapter[Any] = TypeAdapter(BetaServerEvent)

_SESSION = {
    "type": "realtime", "object": "realtime.session", "id": "sess_1", "model": "default", "instructions": "Be brief.",
    "output_modalities": ["audio"], "max_output_tokens": 400, "tool_choice": "auto",
    "tools": [{"type": "function", "name": "get_weather", "description": "Weather.", "parameters": {"type": "object", "properties": {}}}],
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {"model": "tiny.en", "language": "en"},
            "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500,
                               "create_response": True, "interrupt_response": True, "idle_timeout_ms": 6000},
        },
        "output": {"format": {"type": "audio/pcmu"}, "voice": "joe", "speed": 1.1},
    },
    "truncation": "auto",
}
_USER_ITEM = {"id": "item_u", "object": "realtime.item", "type": "message", "role": "user", "status": "completed",
              "content": [{"type": "input_text", "text": "Weather in Oslo?"}]}
_AUDIO_ITEM = {"id": "item_a", "object": "realtime.item", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "output_audio", "transcript": "It is sunny."}]}
_TEXT_ITEM = {"id": "item_t", "object": "realtime.item", "type": "message", "role": "assistant", "status": "completed",
              "content": [{"type": "output_text", "text": "It is sunny."}]}
_CALL_ITEM = {"id": "item_c", "object": "realtime.item", "type": "function_call", "status": "completed",
              "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}
_AT = {"response_id": "resp_1", "item_id": "item_a", "output_index": 0, "content_index": 0}
_USAGE = {"total_tokens": 130, "input_tokens": 120, "output_tokens": 10, "confab_usage_reported": True,
          "input_token_details": {"text_tokens": 120, "audio_tokens": 0, "cached_tokens": 64, "image_tokens": 0,
                                  "cached_tokens_details": {"text_tokens": 64, "audio_tokens": 0, "image_tokens": 0}},
          "output_token_details": {"text_tokens": 10, "audio_tokens": 0}}

# A session's worth of GA server events: created, a spoken turn, a text answer, a client tool call, errors.
GA_STREAM: list[dict[str, Any]] = [
    {"type": "session.created", "session": _SESSION},
    {"type": "session.updated", "session": {**_SESSION, "output_modalities": ["text"]}},
    {"type": "input_audio_buffer.speech_started", "audio_start_ms": 100, "item_id": "item_u"},
    {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900, "item_id": "item_u"},
    {"type": "input_audio_buffer.committed", "item_id": "item_u", "previous_item_id": None},
    {"type": "input_audio_buffer.timeout_triggered", "audio_start_ms": 900, "audio_end_ms": 6900, "item_id": "item_x"},
    {"type": "conversation.item.added", "item": _USER_ITEM, "previous_item_id": None},
    {"type": "conversation.item.done", "item": _USER_ITEM},
    {"type": "conversation.item.input_audio_transcription.delta", "item_id": "item_u", "content_index": 0, "delta": "Weather"},
    {"type": "conversation.item.input_audio_transcription.completed", "item_id": "item_u", "content_index": 0,
     "transcript": "Weather in Oslo?", "usage": {"type": "duration", "seconds": 0.8}, "languages": [{"code": "en"}]},
    {"type": "conversation.item.input_audio_transcription.failed", "item_id": "item_x", "content_index": 0,
     "error": {"type": "transcription_error", "code": "speech_unavailable", "message": "remote speech-to-text failed"}},
    {"type": "response.created", "response": {"id": "resp_1", "object": "realtime.response", "status": "in_progress", "output": [],
                                              "conversation_id": "conv_1", "output_modalities": ["audio"],
                                              "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "joe"}},
                                              "max_output_tokens": "inf", "metadata": {"topic": "weather"}}},
    {"type": "response.output_item.added", "response_id": "resp_1", "output_index": 0, "item": {**_AUDIO_ITEM, "status": "in_progress", "content": []}},
    {"type": "response.content_part.added", **_AT, "part": {"type": "audio", "transcript": ""}},
    {"type": "response.output_audio.delta", **_AT, "delta": "AAAA"},
    {"type": "response.output_audio_transcript.delta", **_AT, "delta": "It is sunny."},
    {"type": "response.output_audio.done", **_AT},
    {"type": "response.output_audio_transcript.done", **_AT, "transcript": "It is sunny."},
    {"type": "response.content_part.done", **_AT, "part": {"type": "audio", "transcript": "It is sunny."}},
    {"type": "response.output_item.done", "response_id": "resp_1", "output_index": 0, "item": _AUDIO_ITEM},
    {"type": "response.done", "response": {"id": "resp_1", "object": "realtime.response", "status": "completed",
                                           "output": [_AUDIO_ITEM], "output_modalities": ["audio"], "usage": _USAGE}},
    {"type": "conversation.item.truncated", "item_id": "item_a", "content_index": 0, "audio_end_ms": 400},
    {"type": "response.output_text.delta", **_AT, "item_id": "item_t", "delta": "It is "},
    {"type": "response.output_text.done", **_AT, "item_id": "item_t", "text": "It is sunny."},
    {"type": "response.output_item.done", "response_id": "resp_1", "output_index": 0, "item": _TEXT_ITEM},
    {"type": "response.function_call_arguments.delta", "response_id": "resp_1", "item_id": "item_c", "output_index": 1,
     "call_id": "call_1", "delta": "{\"city\""},
    {"type": "response.function_call_arguments.done", "response_id": "resp_1", "item_id": "item_c", "output_index": 1,
     "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"},
    {"type": "response.done", "response": {"id": "resp_2", "object": "realtime.response", "status": "cancelled",
                                           "status_details": {"type": "cancelled", "reason": "turn_detected"}, "output": [_CALL_ITEM]}},
    {"type": "error", "error": {"type": "invalid_request_error", "code": "invalid_value", "message": "bad", "param": "session.audio"}},
]


def _ga_models() -> list[BaseModel]:
    return [GA_EVENTS.validate_python({"event_id": f"event_{i}", **event}) for i, event in enumerate(GA_STREAM)]


def _beta_frames() -> list[dict[str, Any]]:
    encoder = ServerEventEncoder(beta=True)
    return [json.loads(frame) for frame in (encoder.encode(m) for m in _ga_models()) if frame is not None]


def _unknown_fields(model: Any, where: str = "") -> list[str]:
    """Every field of a validated model tree that its class does not declare (Confab's `confab_*` extensions aside)."""
    if isinstance(model, list):
        return [f for i, m in enumerate(model) for f in _unknown_fields(m, f"{where}[{i}]")]
    if not isinstance(model, BaseModel):
        return []
    found = [f"{where}.{k}" for k in (model.model_extra or {}) if not k.startswith("confab_")]
    for name in type(model).model_fields:
        found += _unknown_fields(getattr(model, name), f"{where}.{name}")
    return found


def _beta(kind: str) -> dict[str, Any]:
    return next(f for f in _beta_frames() if f["type"] == kind)


def test_every_beta_server_event_validates_strictly_against_openais_beta_models() -> None:
    frames = _beta_frames()
    assert len(frames) == len(GA_STREAM) - 2, "only the two GA-only events are left out"
    for frame in frames:
        model = BETA_EVENTS.validate_python(frame)
        assert _unknown_fields(model, frame["type"]) == [], frame


def test_ga_event_names_become_beta_names() -> None:
    kinds = {f["type"] for f in _beta_frames()}
    assert {"conversation.item.created", "response.text.delta", "response.text.done", "response.audio.delta",
            "response.audio.done", "response.audio_transcript.delta", "response.audio_transcript.done"} <= kinds
    assert not any(k.startswith("response.output_text") or k.startswith("response.output_audio") or k == "conversation.item.added" for k in kinds)


def test_events_the_beta_dialect_lacks_are_not_sent() -> None:
    kinds = {f["type"] for f in _beta_frames()}
    assert "conversation.item.done" not in kinds and "input_audio_buffer.timeout_triggered" not in kinds


def test_session_created_is_in_the_beta_session_shape() -> None:
    session = _beta("session.created")["session"]
    assert session["modalities"] == ["audio", "text"]
    assert session["input_audio_format"] == "pcm16" and session["output_audio_format"] == "g711_ulaw"
    assert session["voice"] == "joe" and session["speed"] == 1.1
    assert session["input_audio_transcription"] == {"model": "tiny.en", "language": "en"}
    assert session["turn_detection"]["silence_duration_ms"] == 500
    assert session["max_response_output_tokens"] == 400 and session["tool_choice"] == "auto"
    assert session["tools"][0]["name"] == "get_weather"
    assert "audio" not in session and "output_modalities" not in session and "type" not in session


def test_assistant_content_is_audio_and_text_in_beta() -> None:
    audio_answer = _beta("response.done")["response"]["output"][0]
    assert [c["type"] for c in audio_answer["content"]] == ["audio"]
    text_answer = [f for f in _beta_frames() if f["type"] == "response.output_item.done"][1]["item"]
    assert text_answer["content"] == [{"type": "text", "text": "It is sunny."}]


def test_response_echoes_are_in_the_beta_response_shape() -> None:
    created = _beta("response.created")["response"]
    assert created["modalities"] == ["audio", "text"] and created["output_audio_format"] == "pcm16" and created["voice"] == "joe"
    assert created["metadata"] == {"topic": "weather"} and "audio" not in created
    usage = _beta("response.done")["response"]["usage"]
    assert usage["input_token_details"]["cached_tokens"] == 64 and usage["confab_usage_reported"] is True


def test_a_beta_session_update_is_read_as_its_ga_equivalent() -> None:
    frame = json.dumps({"type": "session.update", "session": {
        "modalities": ["text", "audio"], "voice": "joe", "input_audio_format": "g711_alaw", "output_audio_format": "pcm16",
        "input_audio_transcription": {"model": "tiny.en"}, "turn_detection": None, "max_response_output_tokens": "inf",
        "tool_choice": "required", "instructions": "Be brief.",
    }})
    event = parse_client_frame(frame, beta=True)
    assert isinstance(event, SessionUpdateEvent)
    session: Any = event.session
    assert session.output_modalities == ["audio"] and session.instructions == "Be brief."
    assert session.audio.input.format.type == "audio/pcma" and session.audio.output.format.type == "audio/pcm"
    assert session.audio.output.voice == "joe" and session.audio.input.transcription.model == "tiny.en"
    assert "turn_detection" in session.audio.input.model_fields_set and session.audio.input.turn_detection is None
    assert session.max_output_tokens == "inf" and session.tool_choice == "required"


def test_a_beta_turn_detection_without_a_type_is_server_vad() -> None:
    event = parse_client_frame(json.dumps({"type": "session.update", "session": {"turn_detection": {"silence_duration_ms": 300}}}), beta=True)
    assert isinstance(event, SessionUpdateEvent)
    detection: Any = event.session.audio.input.turn_detection  # type: ignore[union-attr]
    assert (detection.type, detection.silence_duration_ms) == ("server_vad", 300)


def test_a_beta_tool_choice_naming_a_function_is_a_ga_function_choice() -> None:
    event = parse_client_frame(json.dumps({"type": "session.update", "session": {"tool_choice": "get_weather"}}), beta=True)
    assert isinstance(event, SessionUpdateEvent)
    choice: Any = event.session.tool_choice
    assert (choice.type, choice.name) == ("function", "get_weather")


def test_a_beta_response_create_is_read_as_its_ga_equivalent() -> None:
    frame = json.dumps({"type": "response.create", "response": {
        "modalities": ["text"], "voice": "joe", "output_audio_format": "g711_ulaw", "max_response_output_tokens": 50,
        "conversation": "none", "metadata": {"purpose": "classify"}, "instructions": "One word.",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Is this spam?"}]}],
    }})
    event = parse_client_frame(frame, beta=True)
    assert isinstance(event, ResponseCreateEvent)
    response: Any = event.response
    assert response.output_modalities == ["text"] and response.max_output_tokens == 50 and response.conversation == "none"
    assert response.audio.output.voice == "joe" and response.audio.output.format.type == "audio/pcmu"
    assert response.input[0].content[0].text == "Is this spam?" and response.metadata == {"purpose": "classify"}


def test_beta_assistant_content_types_are_read_as_ga_ones() -> None:
    frame = json.dumps({"type": "conversation.item.create", "item": {
        "type": "message", "role": "assistant", "content": [{"type": "text", "text": "Hello, how can I help?"}]}})
    event = parse_client_frame(frame, beta=True)
    assert isinstance(event, ConversationItemCreateEvent)
    assert event.item.content[0].type == "output_text"  # type: ignore[union-attr]


@pytest.mark.parametrize(("session", "param"), [
    ({"temperature": 0.8}, "session.temperature"),
    ({"modalities": ["text"], "client_secret": {"expires_after": {"anchor": "created_at"}}}, "session.client_secret"),
    ({"input_audio_format": "flac"}, "session.input_audio_format"),
    ({"modalities": ["video"]}, "session.modalities"),
])
def test_a_beta_field_with_no_ga_equivalent_is_refused_by_name(session: dict[str, Any], param: str) -> None:
    error = parse_client_frame(json.dumps({"type": "session.update", "event_id": "e7", "session": session}), beta=True)
    assert isinstance(error, ProtocolError)
    assert error.param == param and param in error.message and error.event_id == "e7"


def test_a_beta_response_temperature_is_refused_by_name() -> None:
    error = parse_client_frame(json.dumps({"type": "response.create", "response": {"temperature": 0.7}}), beta=True)
    assert isinstance(error, ProtocolError) and error.param == "response.temperature"


async def test_a_beta_client_holds_a_text_turn_in_beta_shapes_over_a_real_socket(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Paris is the capital of France.", usage=(42, 8)))
    headers = {"OpenAI-Beta": "realtime=v1"}
    async with connect(ws_url(server, model="gpt-4o-realtime-preview"), additional_headers=headers) as ws:
        client = RealtimeTestClient(ws)
        received = await client.until_type("session.created")
        await client.send({"type": "session.update", "session": {"modalities": ["text"], "instructions": "Be brief."}})
        received += await client.until_type("session.updated")
        await client.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Capital of France?"}]}})
        await client.send({"type": "response.create"})
        received += await client.until_type("response.done")
    for frame in received:
        assert _unknown_fields(BETA_EVENTS.validate_python(frame), frame["type"]) == [], frame
    assert next(f for f in received if f["type"] == "session.updated")["session"]["modalities"] == ["text"]
    assert "".join(f["delta"] for f in received if f["type"] == "response.text.delta") == "Paris is the capital of France."
    assert received[-1]["response"]["output"][0]["content"][0]["type"] == "text"
