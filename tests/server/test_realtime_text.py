"""A text conversation over /v1/realtime, through a real socket and the scripted model."""

import asyncio
import json

import openai
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from memory.agents import AgentStore
from memory.records import AgentRecord
from server.config import Settings
from tests import sample_tools
from tests.conftest import conversation_history, running_server, ws_url
from tests.fakes.llm_server import Call, Drop, Error, ScriptedLLM, Text, ToolCalls
from tests.realtime_client import RealtimeTestClient, text_of


async def _history(redis_url: str, agent_name: str = "default", owner: str = "local") -> list[tuple[str, str | None]]:
    return [(m.role, m.content) for m in await conversation_history(redis_url, agent_name, owner)]


async def _create_agent(redis_url: str, **fields: object) -> AgentRecord:
    redis = Redis.from_url(redis_url)
    try:
        return await AgentStore(redis).create(AgentRecord(owner="local", **fields))  # type: ignore[arg-type]
    finally:
        await redis.aclose()


def _user_texts(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


async def test_a_multi_turn_conversation_survives_a_server_restart(settings: Settings, llm: ScriptedLLM) -> None:
    llm.script(Text("Hi Ada, nice to meet you."), Text("You like tea."), Text("Your name is Ada."))
    async with running_server(settings) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway, caller="ada@example.com"))
        assert (await client.ask("Hi, I'm Ada."))[0] == "Hi Ada, nice to meet you."
        assert (await client.ask("I like tea."))[0] == "You like tea."
        await client.close()
    async with running_server(settings) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway, caller="ada@example.com"))
        reply, _ = await client.ask("What's my name?")
        await client.close()
    assert reply == "Your name is Ada."
    assert _user_texts(llm.requests[-1]) == ["Hi, I'm Ada.", "I like tea.", "What's my name?"]
    assert [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "assistant"] == ["Hi Ada, nice to meet you.", "You like tea."]


async def test_a_response_streams_the_realtime_event_sequence(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Hello there, how can I help?", chunk_chars=3))
    client = await RealtimeTestClient.open(ws_url(server))
    _, events = await client.ask("Hello")
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["conversation.item.added", "conversation.item.done"]
    assert kinds.index("response.created") < kinds.index("response.output_item.added") < kinds.index("response.output_text.delta")
    assert kinds[-5:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "conversation.item.done", "response.done"]
    assert kinds.count("response.output_text.delta") > 3, "text must stream, not arrive whole"
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["output"][0]["content"][0]["text"] == "Hello there, how can I help?"
    response_id = events[kinds.index("response.created")]["response"]["id"]
    assert all(e["response_id"] == response_id for e in events if e["type"].startswith("response.output"))
    await client.close()


async def test_openai_python_realtime_client_holds_a_text_conversation(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Paris is the capital of France."), Text("About two million people."))
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused")
    replies = []
    async with client.realtime.connect(model="default") as connection:
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        for question in ["What is the capital of France?", "How many people live there?"]:
            await connection.conversation.item.create(item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": question}]})
            await connection.response.create()
            text = ""
            async for event in connection:
                if event.type == "response.output_text.delta":
                    text += event.delta
                if event.type == "response.done":
                    break
            replies.append(text)
    assert replies == ["Paris is the capital of France.", "About two million people."]


async def test_pre_exec_message_reaches_the_client_before_the_tool_runs(settings: Settings, llm: ScriptedLLM) -> None:
    await _create_agent(settings.redis_url, name="waiter", tools=["tests.sample_tools:wait_for_go"])
    sample_tools.go.clear()
    llm.script(ToolCalls([Call("wait_for_go", {"pre_exec_msg": "One moment, let me check."})]), Text("All done."))
    async with running_server(settings) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway, model="waiter"))
        await client.say("Please check.")
        heard = await client.until(lambda e: "check." in text_of(client.received))
        sample_tools.go.set()
        events = await client.until_type("response.done")
    assert text_of(heard).endswith("One moment, let me check.")
    assert text_of(heard + events) == "One moment, let me check.All done."
    tool_message = next(m for m in llm.requests[-1]["messages"] if m["role"] == "tool")
    assert json.loads(tool_message["content"]) == {"result": "done"}, "the tool ran only after the client heard the message"


async def test_two_tool_calls_in_one_step_both_run_and_both_results_reach_the_model(settings: Settings, llm: ScriptedLLM) -> None:
    await _create_agent(settings.redis_url, name="helper", tools=["tests.sample_tools:get_weather", "tests.sample_tools:get_time"])
    llm.script(
        ToolCalls([
            Call("get_weather", {"pre_exec_msg": "Checking the weather.", "city": "Oslo"}, id="call_w"),
            Call("get_time", {"pre_exec_msg": "And the time.", "timezone": "Europe/Oslo"}, id="call_t"),
        ]),
        Text("It is sunny and 14:05 in Oslo."),
    )
    async with running_server(settings) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway, model="helper"))
        reply, _ = await client.ask("Weather and time in Oslo?")
    assert reply.endswith("It is sunny and 14:05 in Oslo.")
    followup = llm.requests[-1]["messages"]
    calls = next(m for m in followup if m.get("tool_calls"))["tool_calls"]
    assert [c["id"] for c in calls] == ["call_w", "call_t"]
    results = {m["tool_call_id"]: json.loads(m["content"]) for m in followup if m["role"] == "tool"}
    assert results["call_w"]["result"]["sky"] == "sunny" and results["call_t"] == {"result": "14:05"}
    assert followup[-1]["content"].startswith("[This is an automated system message hidden from the user]")
    assert "pre_exec_msg" in json.dumps(llm.requests[0]["tools"][0]["function"]["parameters"]["required"][0])


async def test_a_tool_that_raises_gives_the_model_an_error_and_the_caller_an_answer(settings: Settings, llm: ScriptedLLM) -> None:
    await _create_agent(settings.redis_url, name="booker", tools=["tests.sample_tools:explode"])
    llm.script(ToolCalls([Call("explode", {"pre_exec_msg": "Booking now.", "reason": "test"})]), Text("Sorry, booking failed."))
    async with running_server(settings) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway, model="booker"))
        reply, events = await client.ask("Book a table.")
    assert reply == "Booking now.Sorry, booking failed."
    assert events[-1]["response"]["status"] == "completed"
    tool_result = next(m for m in llm.requests[-1]["messages"] if m["role"] == "tool")
    assert "booking system is down" in json.loads(tool_result["content"])["error"]


async def test_a_cancelled_response_ends_with_response_done_cancelled_and_keeps_what_was_said(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text("This is a very long answer that goes on and on and on.", chunk_chars=2, delay=0.05))
    client = await RealtimeTestClient.open(ws_url(server))
    await client.say("Tell me a story.")
    await client.until_type("response.output_text.delta")
    await client.send({"type": "response.cancel"})
    events = await client.until_type("response.done")
    assert events[-1]["response"]["status"] == "cancelled"
    said = text_of(client.received)
    assert 0 < len(said) < len("This is a very long answer that goes on and on and on.")
    history = await _history(redis_url)
    assert history[0] == ("user", "Tell me a story.")
    assert history[-1][0] == "assistant" and said.startswith(history[-1][1] or "")
    await client.send({"type": "response.cancel"})
    assert (await client.next_event())["error"]["code"] == "response_cancel_not_active"


async def test_every_response_create_gets_created_then_done_even_when_cancelled_at_once(server, llm: ScriptedLLM) -> None:
    llm.script(Text("slow", delay=0.5))
    client = await RealtimeTestClient.open(ws_url(server))
    await client.send({"type": "response.create"})
    await client.send({"type": "response.cancel"})
    events = await client.until_type("response.done")
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created" and events[-1]["response"]["status"] == "cancelled"


async def test_a_second_response_create_while_one_runs_is_an_error(server, llm: ScriptedLLM) -> None:
    llm.script(Text("first answer", delay=0.1))
    client = await RealtimeTestClient.open(ws_url(server))
    await client.say("Hello")
    await client.until_type("response.created")
    await client.send({"type": "response.create"})
    error = (await client.until_type("error"))[-1]
    assert error["error"]["code"] == "conversation_already_has_active_response"
    await client.until_type("response.done")


async def test_a_429_then_success_is_retried_transparently(server, llm: ScriptedLLM) -> None:
    llm.script(Error(429, retry_after=0.1), Text("Here you go."))
    client = await RealtimeTestClient.open(ws_url(server))
    reply, events = await client.ask("Hello?")
    assert reply == "Here you go." and events[-1]["response"]["status"] == "completed"
    assert len(llm.requests) == 2


async def test_a_model_that_keeps_failing_gives_an_apology_an_error_and_keeps_the_question(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.default = Error(500)
    client = await RealtimeTestClient.open(ws_url(server))
    reply, events = await client.ask("Are you there?")
    assert "sorry" in reply.lower()
    assert any(e["type"] == "error" and e["error"]["code"] == "llm_error" for e in events)
    assert events[-1]["response"]["status"] == "failed"
    assert len(llm.requests) > 1, "500s are retried before giving up"
    assert (await _history(redis_url))[0] == ("user", "Are you there?")


async def test_a_dropped_stream_ends_the_response_with_an_error_and_keeps_the_question(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Drop("The answer is"))
    client = await RealtimeTestClient.open(ws_url(server))
    reply, events = await client.ask("What is the answer?")
    assert reply.startswith("The answer is")
    assert any(e["type"] == "error" and e["error"]["code"] == "llm_stream_broken" for e in events)
    history = await _history(redis_url)
    assert history[0] == ("user", "What is the answer?")


async def test_plain_text_mode_answers_in_plain_text_ending_with_a_newline(server, llm: ScriptedLLM) -> None:
    llm.script(Text("It is noon."))
    async with connect(ws_url(server)) as ws:
        json.loads(await ws.recv())  # session.created
        json.loads(await ws.recv())  # conversation.created
        await ws.send("what time is it?")
        reply = ""
        while not reply.endswith("\n"):
            reply += await asyncio.wait_for(ws.recv(), 10)
    assert reply == "It is noon.\n"
    assert _user_texts(llm.requests[-1]) == ["what time is it?"]


async def test_an_unknown_agent_is_refused_with_a_clear_error(server) -> None:
    async with connect(ws_url(server, model="nobody")) as ws:
        event = json.loads(await ws.recv())
        assert event["type"] == "error" and event["error"]["code"] == "agent_not_found"
        with pytest.raises(Exception):
            await ws.recv()
        assert ws.close_code == 1008 and "nobody" in (ws.close_reason or "")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_a_missing_or_wrong_api_key_is_refused(settings: Settings, headers: dict[str, str]) -> None:
    settings.api_keys = ["acme:right-key"]
    async with running_server(settings) as gateway:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(gateway), additional_headers=headers):
                pass
        assert refused.value.response.status_code == 401


async def test_a_valid_key_by_header_or_browser_subprotocol_is_accepted(settings: Settings, llm: ScriptedLLM) -> None:
    settings.api_keys = ["acme:right-key"]
    llm.script(Text("hi"))
    async with running_server(settings) as gateway:
        by_header = await RealtimeTestClient.open(ws_url(gateway), additional_headers={"Authorization": "Bearer right-key"})
        await by_header.close()
        by_protocol = await RealtimeTestClient.open(ws_url(gateway), subprotocols=["realtime", "openai-insecure-api-key.right-key"])
        assert by_protocol.connection.subprotocol == "realtime"
        await by_protocol.close()


async def test_malformed_and_unknown_events_get_errors_and_the_session_lives_on(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Still here."))
    client = await RealtimeTestClient.open(ws_url(server))
    for frame, code in [('{"type": "response.create"', "invalid_json"), ('{"type": "nonsense.event"}', "unknown_event_type"), ('{"type": "conversation.item.create", "item": 7}', "invalid_value")]:
        await client.connection.send(frame)
        assert (await client.next_event())["error"]["code"] == code
    assert (await client.ask("Are you alive?"))[0] == "Still here."


async def test_an_oversize_frame_closes_that_connection_with_a_reason_and_the_server_lives_on(settings: Settings, llm: ScriptedLLM) -> None:
    settings.max_frame_bytes = 64 * 1024
    llm.script(Text("fine"))
    async with running_server(settings) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway))
        await client.connection.send("x" * (settings.max_frame_bytes + 1))
        await client.connection.wait_closed()
        assert client.connection.close_code == 1009
        other = await RealtimeTestClient.open(ws_url(gateway))
        assert (await other.ask("still up?"))[0] == "fine"
