"""What one `response.create` can ask for: out-of-band answers, its own context and tools; and the idle timeout.

Each test drives the server with openai-python's realtime client over a real socket, against the
scripted model; every server event received is validated against openai-python's `RealtimeServerEvent`.
"""

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import openai
from openai.resources.realtime.realtime import AsyncRealtimeConnection

from audio.codecs import AudioFormat
from tests.audio.speech_data import read_wav, silence
from tests.conftest import conversation_history
from tests.fakes.llm_server import Call, ScriptedLLM, Text, ToolCalls
from tests.realtime_client import until_validated
from tests.voice_client import encode_for

_QUESTION = "What is the weather in Oslo?"
_CLASSIFY = "Classify the caller's mood in one word."


def _tool(name: str) -> dict[str, Any]:
    return {"type": "function", "name": name, "description": f"{name} for the client.", "parameters": {"type": "object", "properties": {}}}


@asynccontextmanager
async def _session(server, **session: Any) -> AsyncIterator[AsyncRealtimeConnection]:
    """A text session with `session` applied."""
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused")
    async with client.realtime.connect(model="default") as connection:
        await until_validated(connection, "conversation.created")
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"], **session})
        await until_validated(connection, "session.updated")
        yield connection


async def _say(connection: AsyncRealtimeConnection, text: str, item_id: str | None = None) -> None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    await connection.conversation.item.create(item=item | ({"id": item_id} if item_id else {}))
    await until_validated(connection, "conversation.item.done")


async def _respond(connection: AsyncRealtimeConnection, **response: Any) -> list[Any]:
    await connection.response.create(**({"response": response} if response else {}))
    return await until_validated(connection, "response.done")


def _texts(request: dict[str, Any], role: str) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == role]


async def test_an_out_of_band_answer_is_not_in_the_next_responses_context(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Sunny."), Text("Curious."), Text("Mild."))
    async with _session(server) as connection:
        await _say(connection, _QUESTION)
        await _respond(connection)
        await _respond(connection, conversation="none", instructions=_CLASSIFY)
        await _say(connection, "And tomorrow?")
        await _respond(connection)
    assert "Curious." not in _texts(llm.requests[2], "assistant") and _CLASSIFY not in llm.requests[2]["messages"][0]["content"]


async def test_an_out_of_band_response_has_no_conversation_and_adds_no_items(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Curious."))
    async with _session(server) as connection:
        await _say(connection, _QUESTION)
        events = await _respond(connection, conversation="none", metadata={"purpose": "mood"})
    created = next(e for e in events if e.type == "response.created")
    assert created.response.conversation_id is None and events[-1].response.conversation_id is None
    assert not [e for e in events if e.type.startswith("conversation.item")]
    assert events[-1].response.output[0].content[0].text == "Curious." and events[-1].response.metadata == {"purpose": "mood"}


async def test_an_out_of_band_response_created_says_its_conversation_id_is_null(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Curious."))
    async with _session(server) as connection:
        await connection.response.create(response={"conversation": "none"})
        while (created := json.loads(await connection.recv_bytes()))["type"] != "response.created":
            pass
        await until_validated(connection, "response.done")
    assert "conversation_id" in created["response"] and created["response"]["conversation_id"] is None


async def test_an_out_of_band_response_sees_the_conversation_when_given_no_input(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Curious."))
    async with _session(server) as connection:
        await _say(connection, _QUESTION)
        await _respond(connection, conversation="none")
    assert _texts(llm.requests[0], "user") == [_QUESTION]


async def test_an_out_of_band_answer_is_not_stored_in_memory(server, redis_url: str, llm: ScriptedLLM) -> None:
    llm.script(Text("Sunny."), Text("Curious."))
    async with _session(server) as connection:
        await _say(connection, _QUESTION)
        await _respond(connection)
        await _respond(connection, conversation="none", input=[], instructions=_CLASSIFY)
    stored = [m.content for m in await conversation_history(redis_url)]
    assert stored == [_QUESTION, "Sunny."]


async def test_an_out_of_band_response_runs_while_the_conversations_own_is_answering(server, llm: ScriptedLLM) -> None:
    llm.script(Text("It is sunny and mild in Oslo today, with a light breeze from the west.", delay=0.05), Text("Curious."))
    async with _session(server) as connection:
        await _say(connection, _QUESTION)
        await connection.response.create()
        await until_validated(connection, "response.output_text.delta")
        await connection.response.create(response={"conversation": "none", "metadata": {"purpose": "mood"}})
        events = await until_validated(connection, "response.done")
        rest = await until_validated(connection, "response.done")
    assert events[-1].response.metadata == {"purpose": "mood"} and events[-1].response.status == "completed"
    assert not [e for e in events if e.type == "error"] and rest[-1].response.conversation_id is not None


async def test_response_input_replaces_the_conversation_as_the_models_context(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Rude."))
    async with _session(server) as connection:
        await _say(connection, _QUESTION)
        await _respond(connection, conversation="none", input=[
            {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Answer rude or polite."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Go away, you fool."}]},
        ])
    assert [(m["role"], m["content"]) for m in llm.requests[0]["messages"][1:]] == [
        ("system", "Answer rude or polite."), ("user", "Go away, you fool."),
    ]


async def test_function_calls_of_one_step_in_input_reach_the_model_as_one_assistant_message(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Both shown."))
    calls = [{"type": "function_call", "call_id": f"call_{n}", "name": "open_map", "arguments": "{}"} for n in (1, 2)]
    outputs = [{"type": "function_call_output", "call_id": f"call_{n}", "output": "shown"} for n in (1, 2)]
    async with _session(server) as connection:
        await _respond(connection, conversation="none", input=[*calls, *outputs])
    messages = llm.requests[0]["messages"][1:]
    assert [m["role"] for m in messages] == ["assistant", "tool", "tool"]
    assert [c["id"] for c in messages[0]["tool_calls"]] == ["call_1", "call_2"]


async def test_an_empty_input_leaves_the_model_only_the_instructions(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Hello."))
    async with _session(server) as connection:
        await _say(connection, _QUESTION)
        await _respond(connection, conversation="none", input=[])
    assert [m["role"] for m in llm.requests[0]["messages"]] == ["system"]


async def test_an_item_reference_in_input_gives_the_model_that_item(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Weather."))
    async with _session(server) as connection:
        await _say(connection, "My name is Ada.", "item_name")
        await _say(connection, _QUESTION, "item_question")
        await _respond(connection, conversation="none", input=[{"type": "item_reference", "id": "item_question"}])
    assert _texts(llm.requests[0], "user") == [_QUESTION]


async def test_an_item_reference_to_an_unknown_item_is_refused_by_name(server, llm: ScriptedLLM) -> None:
    async with _session(server) as connection:
        await connection.response.create(response={"conversation": "none", "input": [{"type": "item_reference", "id": "item_nowhere"}]})
        error = (await until_validated(connection, "error"))[-1].error
    assert (error.param, error.code) == ("response.input.0.id", "invalid_value") and llm.requests == []


async def test_per_response_tools_reach_the_model_for_that_response_only(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Sunny."), Text("Mild."))
    async with _session(server, tools=[_tool("open_map")]) as connection:
        await _say(connection, _QUESTION)
        await _respond(connection, tools=[_tool("flag_content")])
        await _say(connection, "And tomorrow?")
        await _respond(connection)
    offered = [{t["function"]["name"] for t in r.get("tools", [])} for r in llm.requests]
    assert "flag_content" in offered[0] and "open_map" not in offered[0]
    assert "open_map" in offered[1] and "flag_content" not in offered[1]


async def test_an_out_of_band_call_of_a_response_tool_reaches_the_client(server, llm: ScriptedLLM) -> None:
    llm.script(ToolCalls([Call("flag_content", {"category": "none"})]))
    async with _session(server) as connection:
        await _say(connection, _QUESTION)
        events = await _respond(connection, conversation="none", tools=[_tool("flag_content")], tool_choice="required")
    [call] = events[-1].response.output
    assert (call.type, call.name) == ("function_call", "flag_content") and llm.requests[0]["tool_choice"] == "required"


async def test_the_idle_timeout_commits_an_empty_turn_and_prompts_a_response(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Sunny."), Text("Are you still there?"))
    turn_detection = {"type": "server_vad", "idle_timeout_ms": 300}
    async with _session(server, audio={"input": {"turn_detection": turn_detection}}) as connection:
        await _say(connection, _QUESTION)
        await _respond(connection)
        events = await until_validated(connection, "response.done")
    kinds = [e.type for e in events]
    assert kinds[:2] == ["input_audio_buffer.timeout_triggered", "input_audio_buffer.committed"]
    assert events[0].item_id == events[1].item_id and events[-1].response.output[0].content[0].text == "Are you still there?"


async def test_the_idle_timeout_waits_while_the_client_runs_its_tool(server, llm: ScriptedLLM) -> None:
    llm.script(ToolCalls([Call("open_map", {"city": "Oslo"}, id="call_map")]), Text("Here is Oslo."))
    turn_detection = {"type": "server_vad", "idle_timeout_ms": 200}
    async with _session(server, tools=[_tool("open_map")], audio={"input": {"turn_detection": turn_detection}}) as connection:
        await _say(connection, _QUESTION)
        await _respond(connection)
        await asyncio.sleep(0.6)
        await connection.conversation.item.create(item={"type": "function_call_output", "call_id": "call_map", "output": "shown"})
        events = await _respond(connection)
    assert "input_audio_buffer.timeout_triggered" not in [e.type for e in events]
    assert [m["content"] for m in llm.requests[1]["messages"] if m["role"] == "tool"] == ['{"result": "shown"}']


async def test_an_idle_timeout_with_semantic_vad_is_refused_by_name(server) -> None:
    async with _session(server) as connection:
        await connection.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad", "idle_timeout_ms": 6000}}}})
        error = (await until_validated(connection, "error"))[-1].error
    assert (error.param, error.code) == ("session.audio.input.turn_detection.idle_timeout_ms", "invalid_value")


async def test_the_idle_timeout_is_echoed_in_session_updated(server) -> None:
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused")
    async with client.realtime.connect(model="default") as connection:
        await connection.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 6000}}}})
        updated = (await until_validated(connection, "session.updated"))[-1]
    assert updated.session.audio.input.turn_detection.idle_timeout_ms == 6000


async def test_a_response_audio_format_other_than_the_sessions_is_refused_by_name(server, llm: ScriptedLLM) -> None:
    async with _session(server) as connection:
        await connection.response.create(response={"audio": {"output": {"format": {"type": "audio/pcmu"}}}})
        error = (await until_validated(connection, "error"))[-1].error
    assert (error.param, error.code) == ("response.audio.output.format", "invalid_value") and llm.requests == []


async def test_a_truncation_retention_ratio_is_refused_by_name(server) -> None:
    async with _session(server) as connection:
        await connection.session.update(session={"type": "realtime", "truncation": {"type": "retention_ratio", "retention_ratio": 0.5}})
        error = (await until_validated(connection, "error"))[-1].error
    assert (error.param, error.code) == ("session.truncation", "invalid_value")


async def test_truncation_disabled_is_refused_by_name(server) -> None:
    async with _session(server) as connection:
        await connection.session.update(session={"type": "realtime", "truncation": "disabled"})
        error = (await until_validated(connection, "error"))[-1].error
    assert (error.param, error.code) == ("session.truncation", "invalid_value")


async def test_an_out_of_band_response_on_an_audio_session_is_spoken(server, llm: ScriptedLLM) -> None:
    llm.script(Text("All calm here."))
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused")
    async with client.realtime.connect(model="default") as connection:
        await until_validated(connection, "conversation.created")
        events = await _respond(connection, conversation="none")
    audio = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")
    assert len(audio) > 24_000 * 2 * 0.3 and events[-1].response.output[0].content[0].transcript == "All calm here."


async def test_the_idle_timeout_counts_the_callers_silence_after_the_answer_played(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Sunny."), Text("Are you still there?"))
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused")
    async with client.realtime.connect(model="default") as connection:
        await connection.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 1000}}}})
        await until_validated(connection, "session.updated")
        streaming = asyncio.create_task(_stream(connection, silence(30_000)))
        try:
            await _say(connection, _QUESTION)
            await _respond(connection)
            timeout = (await until_validated(connection, "input_audio_buffer.timeout_triggered"))[-1]
        finally:
            streaming.cancel()
    assert 800 <= timeout.audio_end_ms - timeout.audio_start_ms <= 1300


async def test_caller_speech_before_the_idle_timeout_gets_an_answer_and_no_idle_prompt(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Sunny."), Text("Yes, open until four."))
    turn_detection = {"type": "server_vad", "idle_timeout_ms": 1500}
    async with _session(server, audio={"input": {"turn_detection": turn_detection}}) as connection:
        await _say(connection, _QUESTION)
        await _respond(connection)
        speaking = asyncio.create_task(_stream(connection, np.concatenate([silence(300), read_wav("speech05.wav"), silence(1500)])))
        try:
            events = await until_validated(connection, "response.done")
        finally:
            speaking.cancel()
    kinds = [e.type for e in events]
    assert "input_audio_buffer.timeout_triggered" not in kinds and "conversation.item.input_audio_transcription.completed" in kinds


async def _stream(connection: AsyncRealtimeConnection, samples_16k: np.ndarray) -> None:
    """Caller audio at 24 kHz in real time, 100 ms a chunk."""
    data = encode_for(AudioFormat("audio/pcm", 24000), samples_16k)
    for offset in range(0, len(data), 4800):
        await connection.input_audio_buffer.append(audio=base64.b64encode(data[offset:offset + 4800]).decode())
        await asyncio.sleep(0.1)


async def test_a_response_voice_the_session_cannot_speak_is_refused_by_name(server, llm: ScriptedLLM) -> None:
    async with _session(server) as connection:
        await connection.response.create(response={"audio": {"output": {"voice": "no_such_voice"}}})
        error = (await until_validated(connection, "error"))[-1].error
    assert (error.param, error.code) == ("response.audio.output.voice", "invalid_value") and llm.requests == []
