"""Parsing streamed chunks: text deltas, fragmented tool calls and the early pre_exec_msg."""

import json

from openai.types.chat import ChatCompletionChunk

from agent.streaming import StreamParser, partial_pre_exec_msg


def _chunk(delta: dict, finish_reason: str | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate({
        "id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    })


def _call_fragment(index: int, arguments: str, name: str | None = None, call_id: str | None = None) -> dict:
    function = {"arguments": arguments} | ({"name": name} if name else {})
    return {"tool_calls": [{"index": index, "id": call_id, "type": "function", "function": function}]}


def test_pre_exec_msg_streams_out_while_its_argument_is_still_being_written() -> None:
    arguments = json.dumps({"pre_exec_msg": "Let me check the weather.", "city": "Oslo"})
    parser = StreamParser()
    parser.feed(_chunk(_call_fragment(0, "", "get_weather", "call_1")))
    spoken = []
    for i in range(0, len(arguments), 3):
        spoken += [d.text for d in parser.feed(_chunk(_call_fragment(0, arguments[i:i + 3]))) ]
    assert "".join(spoken) == "Let me check the weather."
    assert len(spoken) > 3, "the message should arrive in several pieces, not at the end"
    assert parser.calls[0].arguments == arguments and parser.calls[0].name == "get_weather"


def test_two_tool_calls_in_one_response_stay_separate() -> None:
    parser = StreamParser()
    parser.feed(_chunk(_call_fragment(0, '{"city": "Os', "get_weather", "call_a")))
    parser.feed(_chunk(_call_fragment(1, '{"timezone"', "get_time", "call_b")))
    parser.feed(_chunk(_call_fragment(0, 'lo"}')))
    parser.feed(_chunk(_call_fragment(1, ': "UTC"}'), finish_reason="tool_calls"))
    assert [(c.id, c.name, json.loads(c.arguments)) for c in parser.calls] == [
        ("call_a", "get_weather", {"city": "Oslo"}),
        ("call_b", "get_time", {"timezone": "UTC"}),
    ]
    assert parser.finish_reason == "tool_calls"


def test_content_deltas_pass_through_in_order() -> None:
    parser = StreamParser()
    out = [d.text for piece in ["Hel", "lo ", "there"] for d in parser.feed(_chunk({"content": piece}))]
    assert out == ["Hel", "lo ", "there"] and parser.content == "Hello there"


def test_partial_json_without_the_key_yet_says_nothing() -> None:
    assert partial_pre_exec_msg('{"pre_ex') == ""
    assert partial_pre_exec_msg('{"city": "Oslo"') == ""
