"""The sans-I/O Realtime adapter: frames in, typed events or errors out, no socket involved."""

import json

import pytest
from openai.types.realtime import ConversationItemCreateEvent, SessionUpdateEvent

from server.realtime import items
from server.realtime.protocol import PlainTextUtterance, ProtocolError, ServerEventEncoder, parse_client_frame, refuse_audio_input


def test_a_user_text_item_parses_into_openais_event_model() -> None:
    frame = json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}})
    event = parse_client_frame(frame)
    assert isinstance(event, ConversationItemCreateEvent)
    assert event.item.content[0].text == "hi"  # type: ignore[union-attr]


def test_text_that_is_not_json_is_a_plain_text_turn() -> None:
    assert parse_client_frame("what's the time?\n") == PlainTextUtterance("what's the time?")


def test_malformed_json_is_an_invalid_json_error() -> None:
    error = parse_client_frame('{"type": "response.create",')
    assert isinstance(error, ProtocolError) and error.code == "invalid_json"


def test_unknown_event_types_are_named_in_the_error() -> None:
    error = parse_client_frame('{"type": "response.explode", "event_id": "e1"}')
    assert isinstance(error, ProtocolError)
    assert error.code == "unknown_event_type" and "response.explode" in error.message and error.event_id == "e1"


def test_a_wrongly_shaped_known_event_is_an_invalid_value_error() -> None:
    error = parse_client_frame('{"type": "conversation.item.create", "item": "hello"}')
    assert isinstance(error, ProtocolError) and error.code == "invalid_value"


def test_binary_frames_are_refused() -> None:
    assert isinstance(parse_client_frame(b"\x00\x01"), ProtocolError)


def test_beta_session_update_is_read_as_ga() -> None:
    frame = json.dumps({"type": "session.update", "session": {"modalities": ["text"], "input_audio_format": "g711_ulaw", "instructions": "be brief"}})
    event = parse_client_frame(frame, beta=True)
    assert isinstance(event, SessionUpdateEvent)
    assert event.session.output_modalities == ["text"]  # type: ignore[union-attr]
    assert event.session.audio.input.format.type == "audio/pcmu"  # type: ignore[union-attr]


def test_beta_clients_get_beta_event_names() -> None:
    delta = items.text_delta("resp_1", "item_1", "hi")
    assert json.loads(ServerEventEncoder(beta=True).encode(delta) or "")["type"] == "response.text.delta"
    assert json.loads(ServerEventEncoder(beta=False).encode(delta) or "")["type"] == "response.output_text.delta"


def _deep(levels: int) -> str:
    return '{"type": "response.create", "x": ' + "[" * levels + "]" * levels + "}"


@pytest.mark.parametrize("frame, code", [
    ('{"type": {}}', "invalid_value"),
    ('{"type": []}', "invalid_value"),
    ('{"type": 5}', "invalid_value"),
    (_deep(5000), "invalid_json"),
    (_deep(40), "invalid_json"),
    ('{"type": "response.create", "n": ' + "9" * 5000 + "}", "invalid_json"),
    ('{"type": "response.create", "n": 1e999}', "invalid_json"),
    ('{"type": "response.create", "n": NaN}', "invalid_json"),
    ('{"type": "response.create", "event_id": "\\ud800"}', "invalid_json"),
    ('{"type": "response.create", "\\udfff": 1}', "invalid_json"),
])
def test_frames_that_would_break_the_server_are_invalid_requests(frame: str, code: str) -> None:
    error = parse_client_frame(frame)
    assert isinstance(error, ProtocolError) and error.code == code


def _session_update(**session: object) -> str:
    return json.dumps({"type": "session.update", "session": {"type": "realtime", **session}})


def test_instructions_with_a_lone_surrogate_are_refused() -> None:
    error = parse_client_frame('{"type": "session.update", "session": {"type": "realtime", "instructions": "hi \\ud800"}}')
    assert isinstance(error, ProtocolError) and "not valid Unicode" in error.message


def test_instructions_must_be_text() -> None:
    error = parse_client_frame(_session_update(instructions=["x"]))
    assert isinstance(error, ProtocolError) and error.code == "invalid_value" and error.param == "session.instructions"


def test_a_field_a_transcription_session_does_not_have_is_refused_by_name() -> None:
    frame = json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"output": {"voice": "x"}}}})
    error = parse_client_frame(frame)
    assert isinstance(error, ProtocolError) and error.code == "unknown_parameter" and error.param == "session.audio.output"


def test_a_session_type_other_than_realtime_or_transcription_is_refused_by_name() -> None:
    error = parse_client_frame(json.dumps({"type": "session.update", "session": {"type": "translation"}}))
    assert isinstance(error, ProtocolError) and error.param == "session.type"


def test_a_tool_schema_nested_300_deep_is_refused() -> None:
    schema: dict = {"type": "string"}
    for _ in range(300):
        schema = {"type": "object", "properties": {"x": schema}}
    error = parse_client_frame(_session_update(tools=[{"type": "function", "name": "deep", "parameters": schema}]))
    assert isinstance(error, ProtocolError) and "nested deeper than" in error.message


@pytest.mark.parametrize("detection, param", [
    ({"type": "server_vad", "prefix_padding_ms": 1_000_000_000}, "prefix_padding_ms"),
    ({"type": "server_vad", "silence_duration_ms": -1}, "silence_duration_ms"),
    ({"type": "server_vad", "threshold": 7}, "threshold"),
])
def test_vad_settings_out_of_range_are_refused(detection: dict, param: str) -> None:
    error = parse_client_frame(_session_update(audio={"input": {"turn_detection": detection}}))
    assert isinstance(error, ProtocolError) and error.param == f"session.audio.input.turn_detection.{param}"


def test_sane_vad_settings_are_accepted() -> None:
    detection = {"type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 300, "silence_duration_ms": 700}
    assert isinstance(parse_client_frame(_session_update(audio={"input": {"turn_detection": detection}})), SessionUpdateEvent)


def test_an_oversized_tool_output_is_refused() -> None:
    item = {"type": "function_call_output", "call_id": "call_1", "output": "x" * 100_001}
    error = parse_client_frame(json.dumps({"type": "conversation.item.create", "item": item}))
    assert isinstance(error, ProtocolError) and error.param == "item.output" and "100000 characters" in error.message


def test_too_many_tools_are_refused() -> None:
    tools = [{"type": "function", "name": f"t{i}", "parameters": {"type": "object"}} for i in range(65)]
    error = parse_client_frame(_session_update(tools=tools))
    assert isinstance(error, ProtocolError) and error.param == "session.tools"


@pytest.mark.parametrize("session", [{"modalities": 5}, {"input_audio_format": {}}, {"output_audio_format": [1]}])
def test_beta_sessions_of_the_wrong_shape_are_invalid_values(session: dict) -> None:
    error = parse_client_frame(json.dumps({"type": "session.update", "session": session}), beta=True)
    assert isinstance(error, ProtocolError) and error.code == "invalid_value"


def test_audio_appends_are_refused_on_a_text_only_server() -> None:
    frame = json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA", "event_id": "e7"})
    error = refuse_audio_input(frame)
    assert isinstance(error, ProtocolError) and error.code == "audio_unavailable" and error.event_id == "e7"
    assert refuse_audio_input('{"type": "response.create"}') is None


@pytest.mark.parametrize("parameters, says", [
    ("x", "parameters must be an object"),
    ({"type": "object", "properties": "x"}, "properties must be an object"),
    ({"type": "object", "properties": {"a": 1e308}}, "properties.a must be an object"),
    ({"type": "object", "required": [1]}, "required must be a list of property names"),
    ({"type": "object", "properties": {"a": {"anyOf": {}}}}, "anyOf must be a list"),
])
def test_a_client_tool_whose_parameters_are_not_a_schema_is_refused(parameters: object, says: str) -> None:
    error = parse_client_frame(_session_update(tools=[{"type": "function", "name": "f", "parameters": parameters}]))
    assert isinstance(error, ProtocolError) and says in error.message and error.param == "session.tools.0.parameters"
