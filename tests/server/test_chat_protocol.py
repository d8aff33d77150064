"""The sans-I/O halves of chat completions: reading a request, and writing the agent's events as chunks."""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest

from agent.events import ClientToolCall, ModelUsage, TextDelta, ToolStarted, TurnDone, TurnFailed
from server.chat.chunks import ChunkEncoder
from server.chat.request import InvalidRequest, ToolOutput, caller_of, parse_request, turn_input
from server.chat.turn import heard_part
from server.plain_http import HttpRequest, RequestReader


def _request(messages: list[dict], **fields: object) -> bytes:
    return json.dumps({"model": "default", "messages": messages, **fields}).encode()


def test_the_new_turn_is_the_last_user_message_after_the_last_assistant_message() -> None:
    turn = turn_input(parse_request(_request([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "old question"},
        {"role": "assistant", "content": "old answer"},
        {"role": "user", "content": "first try"},
        {"role": "user", "content": [{"type": "text", "text": "What time "}, {"type": "text", "text": "is it?"}]},
    ])))
    assert (turn.user_text, turn.heard, turn.instructions, turn.tool_outputs) == ("What time is it?", "old answer", "Be brief.", ())


def test_tool_messages_after_the_last_assistant_message_are_the_platforms_results() -> None:
    turn = turn_input(parse_request(_request([
        {"role": "user", "content": "Where am I?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "Lyon"},
    ])))
    assert (turn.user_text, turn.tool_outputs, turn.heard) == (None, (ToolOutput("c1", "Lyon"),), None)


def test_a_request_with_only_a_system_message_asks_the_agent_to_speak_first() -> None:
    turn = turn_input(parse_request(_request([{"role": "system", "content": "Greet the caller."}])))
    assert (turn.user_text, turn.tool_outputs, turn.instructions) == (None, (), "Greet the caller.")


def test_a_tool_message_without_its_call_id_is_refused() -> None:
    with pytest.raises(InvalidRequest) as refused:
        turn_input(parse_request(_request([{"role": "user", "content": "x"}, {"role": "tool", "content": "r"}])))
    assert refused.value.param == "messages.1.tool_call_id"


@pytest.mark.parametrize(
    ("fields", "header", "caller"),
    [
        ({"user": "ann", "call": {"customer": {"number": "+331"}}}, "bob", "ann"),
        ({"call": {"customer": {"number": "+331"}}}, "bob", "bob"),
        ({"call": {"customer": {"number": "+33123"}}, "customer": {"number": "+1"}}, None, "+33123"),
        ({"customer": {"number": "+1555"}}, None, "+1555"),
        ({}, None, None),
    ],
)
def test_the_caller_is_the_user_field_then_the_header_then_vapis_customer_number(fields: dict, header: str | None, caller: str | None) -> None:
    assert caller_of(parse_request(_request([{"role": "user", "content": "x"}], **fields)), header) == caller


@pytest.mark.parametrize("bad", ["a b", "x" * 129, "ann;DROP", "*", "ann\n"])
def test_a_malformed_caller_id_is_refused(bad: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        caller_of(parse_request(_request([{"role": "user", "content": "x"}], user=bad)), None)
    assert refused.value.param == "user"


@pytest.mark.parametrize(
    ("said", "heard", "cut"),
    [
        ("The museum opens at nine and closes at six.", "The museum opens at ni", True),
        ("The museum opens at nine and closes at six.", "the museum, opens at nine", True),
        ("The museum opens at nine.", "The museum opens at nine.", False),
        ("The museum opens at nine.", "Something else entirely", False),
        ("The museum opens at nine.", "", False),
    ],
)
def test_a_shorter_beginning_of_the_answer_means_the_caller_heard_only_part(said: str, heard: str, cut: bool) -> None:
    assert heard_part(said, heard) is cut


def test_text_streams_as_content_and_server_tools_stay_internal() -> None:
    encoder = ChunkEncoder("chatcmpl-1", "default")
    events = [
        TextDelta("Let me check."),
        ToolStarted("c1", "lookup"),
        TextDelta("It is one."),
        TurnDone("completed"),
    ]
    chunks = [c for e in events for c in encoder.feed(e)]
    assert [c.choices[0].delta.content for c in chunks[:-1]] == ["Let me check.", " It is one."]
    assert chunks[-1].choices[0].finish_reason == "stop" and encoder.text == "Let me check. It is one."


def test_a_platform_tool_call_becomes_delta_tool_calls_and_finishes_with_tool_calls() -> None:
    encoder = ChunkEncoder("chatcmpl-1", "default")
    chunks = [c for e in [ClientToolCall("c9", "get_location", '{"precision": "city"}'), TurnDone("client_tools")] for c in encoder.feed(e)]
    call = chunks[0].choices[0].delta.tool_calls[0]
    assert (call.index, call.id, call.function.name, call.function.arguments) == (0, "c9", "get_location", '{"precision": "city"}')
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    whole = encoder.completion().choices[0]
    assert (whole.finish_reason, [c.id for c in whole.message.tool_calls or []]) == ("tool_calls", ["c9"])


def test_the_usage_is_the_turns_token_counts_summed_over_its_model_calls() -> None:
    encoder = ChunkEncoder("chatcmpl-1", "default")
    for event in (ModelUsage(100, 5, reported=True), ModelUsage(20, 3, reported=True), TurnDone("completed")):
        encoder.feed(event)
    usage = encoder.usage_chunk()
    assert usage.choices == [] and usage.usage is not None
    assert (usage.usage.prompt_tokens, usage.usage.completion_tokens, usage.usage.total_tokens) == (120, 8, 128)


def test_a_failed_model_is_an_apology_and_running_out_of_steps_is_length() -> None:
    encoder = ChunkEncoder("chatcmpl-1", "default")
    chunks = [c for e in [TurnFailed("down", "llm_error", "Sorry, I can't answer now."), TurnDone("max_steps")] for c in encoder.feed(e)]
    assert chunks[0].choices[0].delta.content == "Sorry, I can't answer now."
    assert chunks[-1].choices[0].finish_reason == "length"


def _read(reader: RequestReader, *pieces: bytes) -> object:
    outcome = None
    for piece in pieces:
        outcome = reader.feed(piece) or reader.length_refusal()
    return outcome


def test_a_request_arriving_in_pieces_is_read_whole() -> None:
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
    outcome = _read(RequestReader(max_body=100), head[:10], head[10:] + b"hello", b" world")
    assert isinstance(outcome, HttpRequest)
    assert (outcome.method, outcome.path, outcome.body, outcome.headers["Host"]) == ("POST", "/v1/chat/completions", b"hello world", "x")


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /x HTTP/1.1\r\nContent-Length: 500\r\n\r\n", HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
        (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", HTTPStatus.LENGTH_REQUIRED),
        (b"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", HTTPStatus.BAD_REQUEST),
        (b"NONSENSE\r\n\r\n", HTTPStatus.BAD_REQUEST),
        (b"POST /x HTTP/1.1\r\nbad header\r\n\r\n", HTTPStatus.BAD_REQUEST),
    ],
)
def test_a_request_that_cannot_be_read_is_refused_with_its_status(raw: bytes, status: HTTPStatus) -> None:
    outcome = _read(RequestReader(max_body=100), raw)
    assert getattr(outcome, "status", None) == status
