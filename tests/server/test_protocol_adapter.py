"""The sans-I/O Realtime adapter: frames in, typed events or errors out, no socket involved."""

import json

from openai.types.realtime import ConversationItemCreateEvent, SessionUpdateEvent

from server.realtime import items
from server.realtime.protocol import PlainTextUtterance, ProtocolError, ServerEventEncoder, parse_client_frame


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
