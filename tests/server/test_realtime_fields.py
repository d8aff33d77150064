"""Realtime fields a client sends are honoured or refused by name, and echoes show what is in force.

Each test drives the server with openai-python's realtime client over a real socket, against the scripted model.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import openai
from openai.resources.realtime.realtime import AsyncRealtimeConnection

from server.config import Settings
from tests.conftest import running_server
from tests.fakes.llm_server import Call, ScriptedLLM, Text, ToolCalls
from tests.server.test_realtime_text import _create_agent

_QUESTION = "What is the weather in Oslo?"


@asynccontextmanager
async def _connect(server, model: str = "default") -> AsyncIterator[AsyncRealtimeConnection]:
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused")
    async with client.realtime.connect(model=model) as connection:
        await _until(connection, "session.created")
        yield connection


@asynccontextmanager
async def _text_session(server, model: str = "default", **session: Any) -> AsyncIterator[AsyncRealtimeConnection]:
    async with _connect(server, model) as connection:
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"], **session})
        await _until(connection, "session.updated")
        yield connection


@asynccontextmanager
async def _weather_session(settings: Settings, **session: Any) -> AsyncIterator[AsyncRealtimeConnection]:
    """A text session with an agent that has a weather tool."""
    await _create_agent(settings.redis_url, name="forecaster", tools=["tests.sample_tools:get_weather"])
    async with running_server(settings) as gateway, _text_session(gateway, "forecaster", **session) as connection:
        yield connection


async def _until(connection: AsyncRealtimeConnection, kind: str) -> list[Any]:
    events = []
    async for event in connection:
        events.append(event)
        if event.type == kind:
            return events
    raise AssertionError(f"the connection closed before {kind}")


async def _ask(connection: AsyncRealtimeConnection, question: str, **response: Any) -> list[Any]:
    await connection.conversation.item.create(item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": question}]})
    await connection.response.create(**({"response": response} if response else {}))
    return await _until(connection, "response.done")


async def test_response_done_reports_the_tokens_the_model_used(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Forty-two.", usage=(123, 7)))
    async with _text_session(server) as connection:
        done = (await _ask(connection, "What is the answer?"))[-1]
    usage = done.response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (123, 7, 130)
    assert usage.output_token_details.text_tokens == 7 and usage.output_token_details.audio_tokens == 0


async def test_a_refused_response_field_names_itself_and_no_response_starts(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Sunny."))
    async with _text_session(server) as connection:
        await connection.response.create(response={"prompt": {"id": "pmpt_1"}})
        error = (await _until(connection, "error"))[-1].error
        events = await _ask(connection, _QUESTION)
    assert (error.param, error.code) == ("response.prompt", "unknown_parameter")
    assert [e.type for e in events].count("response.created") == 1 and len(llm.requests) == 1


async def test_a_refused_session_field_names_itself_and_the_echo_keeps_what_is_in_force(server) -> None:
    async with _connect(server) as connection:
        await connection.session.update(session={"type": "realtime", "audio": {"output": {"voice": "hal9000"}}})
        events = await _until(connection, "session.updated")
    error = next(e.error for e in events if e.type == "error")
    assert (error.param, error.code) == ("session.audio.output.voice", "invalid_value")
    assert events[-1].session.audio.output.voice == "joe"


async def test_per_response_instructions_change_that_answer_only(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Ensoleillé."), Text("Sunny."))
    async with _text_session(server) as connection:
        await _ask(connection, _QUESTION, instructions="Answer in French.")
        await _ask(connection, "And tomorrow?")
    systems = [r["messages"][0]["content"] for r in llm.requests]
    assert "Answer in French." in systems[0] and "Answer in French." not in systems[1]


async def test_response_metadata_is_echoed_in_response_created_and_done(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Sunny."))
    async with _text_session(server) as connection:
        events = await _ask(connection, _QUESTION, metadata={"topic": "weather"})
    created = next(e for e in events if e.type == "response.created")
    assert created.response.metadata == {"topic": "weather"} and events[-1].response.metadata == {"topic": "weather"}


async def test_a_text_only_response_on_an_audio_session_streams_text_and_no_audio(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Sunny and mild."))
    async with _connect(server) as connection:
        events = await _ask(connection, _QUESTION, output_modalities=["text"])
    kinds = {e.type for e in events}
    assert "response.output_text.delta" in kinds and "response.output_audio.delta" not in kinds
    assert events[-1].response.output_modalities == ["text"]
    assert events[-1].response.output[0].content[0].text == "Sunny and mild."


async def test_session_tool_choice_required_reaches_the_model(settings: Settings, llm: ScriptedLLM) -> None:
    llm.script(ToolCalls([Call("get_weather", {"pre_exec_msg": "Checking.", "city": "Oslo"})]), Text("Sunny."))
    async with _weather_session(settings, tool_choice="required") as connection:
        await _ask(connection, _QUESTION)
    assert llm.requests[0]["tool_choice"] == "required"


async def test_response_tool_choice_naming_a_function_reaches_the_model(settings: Settings, llm: ScriptedLLM) -> None:
    llm.script(ToolCalls([Call("get_weather", {"pre_exec_msg": "Checking.", "city": "Oslo"})]), Text("Sunny."))
    async with _weather_session(settings) as connection:
        await _ask(connection, _QUESTION, tool_choice={"type": "function", "name": "get_weather"})
    assert llm.requests[0]["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


async def test_session_max_output_tokens_reaches_the_model_and_is_echoed(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Sunny."))
    async with _connect(server) as connection:
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"], "max_output_tokens": 50})
        updated = (await _until(connection, "session.updated"))[-1]
        await _ask(connection, _QUESTION)
    assert updated.session.max_output_tokens == 50 and llm.requests[0]["max_tokens"] == 50


async def test_response_max_output_tokens_caps_that_answer_only(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Sunny."), Text("Mild."))
    async with _text_session(server) as connection:
        await _ask(connection, _QUESTION, max_output_tokens=20)
        await _ask(connection, "And tomorrow?")
    assert llm.requests[0]["max_tokens"] == 20 and "max_tokens" not in llm.requests[1]


async def _add_user_item(connection: AsyncRealtimeConnection, item_id: str, text: str) -> None:
    await connection.conversation.item.create(item={"type": "message", "role": "user", "id": item_id, "content": [{"type": "input_text", "text": text}]})
    await _until(connection, "conversation.item.done")


async def test_a_session_opens_with_session_created_then_conversation_created(server) -> None:
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused")
    async with client.realtime.connect(model="default") as connection:
        first, second = await connection.recv(), await connection.recv()
    assert (first.type, second.type) == ("session.created", "conversation.created")
    assert second.conversation.id == "conv_default"


async def test_a_retrieved_item_is_the_item_as_created(server) -> None:
    async with _text_session(server) as connection:
        await _add_user_item(connection, "item_q1", _QUESTION)
        await connection.conversation.item.retrieve(item_id="item_q1")
        retrieved = (await _until(connection, "conversation.item.retrieved"))[-1]
    assert retrieved.item.id == "item_q1" and retrieved.item.content[0].text == _QUESTION


async def test_retrieving_an_item_the_session_does_not_have_is_an_error_naming_it(server) -> None:
    async with _text_session(server) as connection:
        await connection.conversation.item.retrieve(item_id="item_nowhere")
        error = (await _until(connection, "error"))[-1].error
    assert (error.code, error.param) == ("item_not_found", "item_id") and "item_nowhere" in error.message


async def test_a_deleted_user_item_is_gone_from_the_models_next_context(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Sunny."))
    async with _text_session(server) as connection:
        await _add_user_item(connection, "item_pin", "My PIN is 4321.")
        await connection.conversation.item.delete(item_id="item_pin")
        deleted = (await _until(connection, "conversation.item.deleted"))[-1]
        await _ask(connection, _QUESTION)
    user_texts = [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "user"]
    assert deleted.item_id == "item_pin" and user_texts == [_QUESTION]


async def test_a_deleted_answer_is_gone_from_the_models_next_context(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Your PIN is 4321."), Text("Sunny."))
    async with _text_session(server) as connection:
        answer = (await _ask(connection, "What is my PIN?"))[-1].response.output[0].id
        await connection.conversation.item.delete(item_id=answer)
        await _until(connection, "conversation.item.deleted")
        await _ask(connection, _QUESTION)
    assert [m for m in llm.requests[-1]["messages"] if m["role"] == "assistant"] == []
