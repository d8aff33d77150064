"""`POST /v1/chat/completions` for voice platforms, driven by openai-python against a real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from redis.asyncio import Redis

from memory.agents import AgentStore
from memory.conversations import ConversationStore
from memory.messages import MessageStore
from memory.records import AgentRecord, MessageRecord
from server.app import Gateway
from server.config import Settings
from tests import sample_tools
from tests.conftest import conversation_history, running_server
from tests.fakes.llm_server import Call, ScriptedLLM, Text, ToolCalls

GET_LOCATION = {
    "type": "function",
    "function": {
        "name": "get_location",
        "description": "Where the caller's phone is.",
        "parameters": {"type": "object", "properties": {"precision": {"type": "string"}}, "required": ["precision"]},
    },
}


@pytest.fixture
async def chat_server(settings: Settings) -> AsyncIterator[Gateway]:
    """A text-only Confab server (chat completions need no speech models)."""
    async with running_server(settings.model_copy(update={"speech": False})) as gateway:
        yield gateway


def _client(gateway: Gateway, api_key: str = "unused") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{gateway.port}/v1", api_key=api_key, max_retries=0)


async def _create_agent(redis_url: str | None, **fields: Any) -> AgentRecord:
    redis = Redis.from_url(redis_url or "")
    try:
        return await AgentStore(redis).create(AgentRecord(owner="local", **fields))
    finally:
        await redis.aclose()


async def _history(redis_url: str | None, caller: str | None = None, agent_name: str = "default") -> list[MessageRecord]:
    """The stored history of `caller`'s conversation (None: the agent's one conversation)."""
    if caller is None:
        return await conversation_history(redis_url or "", agent_name)
    redis = Redis.from_url(redis_url or "")
    try:
        agent = await AgentStore(redis).get("local", agent_name)
        assert agent is not None
        conversation = await ConversationStore(redis).find(agent, caller)
        assert conversation is not None
        return await MessageStore(redis).history(conversation.id)
    finally:
        await redis.aclose()


async def _stream(client: openai.AsyncOpenAI, messages: list[dict[str, Any]], **extra: Any) -> list[Any]:
    stream = await client.chat.completions.create(model=extra.pop("model", "default"), messages=messages, stream=True, **extra)  # type: ignore[call-overload]
    return [chunk async for chunk in stream]


def _content(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


async def test_a_streamed_turn_is_a_role_chunk_content_deltas_a_finish_reason_then_done(chat_server: Gateway, llm: ScriptedLLM) -> None:
    llm.script(Text("Hello there, how can I help you today?", chunk_chars=5))
    chunks = await _stream(_client(chat_server), [{"role": "user", "content": "Hi"}])
    assert chunks[0].choices[0].delta.role == "assistant" and not chunks[0].choices[0].delta.content
    assert _content(chunks) == "Hello there, how can I help you today?"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 3, "text streams, it does not arrive whole"
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)


async def test_the_conversation_comes_from_memory_not_from_the_resent_history(chat_server: Gateway, llm: ScriptedLLM) -> None:
    llm.script(Text("Nice to meet you, Ada."), Text("Your name is Ada."))
    client = _client(chat_server)
    await _stream(client, [{"role": "user", "content": "I'm Ada."}], user="ada")
    resent = [
        {"role": "system", "content": "You are a phone agent."},
        {"role": "user", "content": "something the platform misheard"},
        {"role": "assistant", "content": "Nice to meet you, Ada."},
        {"role": "user", "content": "What's my name?"},
    ]
    assert _content(await _stream(client, resent, user="ada")) == "Your name is Ada."
    seen = [(m["role"], m["content"]) for m in llm.requests[-1]["messages"] if m["role"] != "system"]
    assert seen == [("user", "I'm Ada."), ("assistant", "Nice to meet you, Ada."), ("user", "What's my name?")]
    assert "You are a phone agent." in llm.requests[-1]["messages"][0]["content"], "the platform's system prompt extends the persona"


async def test_a_request_without_stream_gets_one_chat_completion(chat_server: Gateway, llm: ScriptedLLM) -> None:
    llm.script(Text("It is sunny."))
    completion = await _client(chat_server).chat.completions.create(model="default", messages=[{"role": "user", "content": "Weather?"}])
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "It is sunny." and completion.choices[0].finish_reason == "stop"


async def test_a_server_tool_says_its_pre_execution_line_as_content_before_it_runs(settings: Settings, llm: ScriptedLLM) -> None:
    await _create_agent(settings.redis_url, name="waiter", tools=["tests.sample_tools:wait_for_go"])
    sample_tools.go.clear()
    llm.script(ToolCalls([Call("wait_for_go", {"pre_exec_msg": "One moment, let me check."})]), Text("All done."))
    async with running_server(settings.model_copy(update={"speech": False})) as gateway:
        stream = await _client(gateway).chat.completions.create(model="waiter", messages=[{"role": "user", "content": "Check."}], stream=True)
        chunks = []
        async for chunk in stream:
            chunks.append(chunk)
            if _content(chunks).endswith("let me check."):
                break
        assert not sample_tools.go.is_set()
        sample_tools.go.set()
        chunks += [chunk async for chunk in stream]
    assert _content(chunks) == "One moment, let me check. All done."
    assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks), "server tools never leak as tool calls"
    assert chunks[-1].choices[0].finish_reason == "stop"
    tool_message = next(m for m in llm.requests[-1]["messages"] if m["role"] == "tool")
    assert json.loads(tool_message["content"]) == {"result": "done"}


async def test_a_platform_tool_is_streamed_as_a_tool_call_and_its_result_continues_the_turn(chat_server: Gateway, llm: ScriptedLLM) -> None:
    llm.script(
        ToolCalls([Call("get_location", {"pre_exec_msg": "Let me see where you are.", "precision": "city"}, id="call_loc")]),
        Text("You are in Lyon."),
    )
    client = _client(chat_server)
    asked = [{"role": "user", "content": "Where am I?"}]
    first = await _stream(client, asked, tools=[GET_LOCATION])
    assert _content(first) == "Let me see where you are."
    [call] = [tc for c in first if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == ("call_loc", "get_location", {"precision": "city"})
    assert first[-1].choices[0].finish_reason == "tool_calls"

    answered = asked + [
        {"role": "assistant", "content": "Let me see where you are.", "tool_calls": [
            {"id": "call_loc", "type": "function", "function": {"name": "get_location", "arguments": call.function.arguments}}
        ]},
        {"role": "tool", "tool_call_id": "call_loc", "content": json.dumps({"city": "Lyon"})},
    ]
    second = await _stream(client, answered, tools=[GET_LOCATION])
    assert _content(second) == "You are in Lyon." and second[-1].choices[0].finish_reason == "stop"
    offered = [t["function"]["name"] for t in llm.requests[0]["tools"]]
    assert "get_location" in offered and "search_memory" in offered, "the platform's tools are offered next to the agent's"
    result = next(m for m in llm.requests[1]["messages"] if m["role"] == "tool")
    assert result["tool_call_id"] == "call_loc" and json.loads(result["content"]) == {"result": {"city": "Lyon"}}


async def test_usage_closes_the_stream_when_asked_for(chat_server: Gateway, llm: ScriptedLLM) -> None:
    llm.script(Text("Sure."), Text("Sure again."))
    client = _client(chat_server)
    with_usage = await _stream(client, [{"role": "user", "content": "Hi"}], stream_options={"include_usage": True})
    without = await _stream(client, [{"role": "user", "content": "Hi again"}])
    usage = with_usage[-1].usage
    assert with_usage[-1].choices == [] and usage is not None
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert all(c.usage is None for c in without)


async def test_a_client_that_leaves_mid_stream_cancels_the_turn_and_keeps_what_was_streamed(chat_server: Gateway, llm: ScriptedLLM, redis_url: str) -> None:
    whole = "This is a very long answer that goes on and on for quite a while."
    llm.script(Text(whole, chunk_chars=2, delay=0.05))
    stream = await _client(chat_server).chat.completions.create(model="default", messages=[{"role": "user", "content": "Tell me a story."}], stream=True)
    received = []
    async for chunk in stream:
        received.append(chunk)
        if len(_content(received)) >= 10:
            break
    await stream.close()
    for _ in range(100):
        history = await _history(redis_url)
        if history[-1].role == "assistant":
            break
        await asyncio.sleep(0.05)
    answer = history[-1]
    assert answer.role == "assistant" and answer.interrupted
    assert (answer.content or "").startswith(_content(received)) and len(answer.content or "") < len(whole)


async def test_an_answer_the_platform_cut_on_barge_in_is_cut_in_memory_too(chat_server: Gateway, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text("The museum opens at nine and closes at six on weekdays."), Text("On weekends it opens at ten."))
    client = _client(chat_server)
    await _stream(client, [{"role": "user", "content": "When is the museum open?"}], user="ada")
    await _stream(client, [
        {"role": "user", "content": "When is the museum open?"},
        {"role": "assistant", "content": "The museum opens at ni"},
        {"role": "user", "content": "And on weekends?"},
    ], user="ada")
    answer = next(m for m in await _history(redis_url, "ada") if m.role == "assistant")
    assert (answer.content, answer.interrupted) == ("The museum opens at nine", True)
    assert [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "assistant"] == ["The museum opens at nine"]


async def test_a_resent_answer_heard_in_full_leaves_memory_alone(chat_server: Gateway, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text("The museum opens at nine."), Text("Yes, every day."))
    client = _client(chat_server)
    await _stream(client, [{"role": "user", "content": "When is the museum open?"}], user="ada")
    await _stream(client, [
        {"role": "assistant", "content": "The museum opens at nine."},
        {"role": "user", "content": "Every day?"},
    ], user="ada")
    answer = next(m for m in await _history(redis_url, "ada") if m.role == "assistant")
    assert (answer.content, answer.interrupted) == ("The museum opens at nine.", False)


async def test_unknown_body_fields_are_ignored(chat_server: Gateway, llm: ScriptedLLM) -> None:
    llm.script(Text("Hello caller."))
    body = {
        "model": "gpt-4o", "stream": False, "messages": [{"role": "user", "content": "Hello"}],
        "call": {"id": "c1", "customer": {"number": "+14155550123"}, "type": "inboundPhoneCall"},
        "metadata": {"x": 1}, "phoneNumber": {"number": "+1800"}, "temperature": 0.3, "max_tokens": 250,
    }
    async with httpx.AsyncClient() as http:
        response = await http.post(f"http://127.0.0.1:{chat_server.port}/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Hello caller."


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b'["a", "list"]', None),
        (b'{"model": "default"}', "messages"),
        (b'{"model": "default", "messages": []}', "messages"),
        (b'{"model": "default", "messages": [{"role": "narrator", "content": "x"}]}', "messages.0.role"),
        (b'{"model": "default", "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}', "messages.1"),
        (b'{"model": "default", "user": "bad caller id!", "messages": [{"role": "user", "content": "x"}]}', "user"),
        (b'{"model": "default", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}', "tools.0.function"),
    ],
)
async def test_a_body_that_is_not_a_chat_request_gets_a_400_naming_the_problem(chat_server: Gateway, llm: ScriptedLLM, body: bytes, param: str | None) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"http://127.0.0.1:{chat_server.port}/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"] and error["param"] == param
    assert llm.requests == [], "nothing reaches the model"


async def test_an_unknown_agent_is_a_404(chat_server: Gateway, llm: ScriptedLLM) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        await _client(chat_server).chat.completions.create(model="nobody", messages=[{"role": "user", "content": "Hi"}])
    assert raised.value.code == "model_not_found"


async def test_a_wrong_key_is_a_401(settings: Settings, llm: ScriptedLLM) -> None:
    async with running_server(settings.model_copy(update={"speech": False, "api_keys": ["acme:secret"]})) as gateway:
        with pytest.raises(openai.AuthenticationError):
            await _client(gateway, api_key="wrong").chat.completions.create(model="default", messages=[{"role": "user", "content": "Hi"}])
        llm.script(Text("Welcome."))
        ok = await _client(gateway, api_key="secret").chat.completions.create(model="default", messages=[{"role": "user", "content": "Hi"}])
    assert ok.choices[0].message.content == "Welcome."


async def test_too_many_turns_at_once_is_a_429(settings: Settings, llm: ScriptedLLM) -> None:
    llm.script(Text("A slow answer.", delay=0.3))
    async with running_server(settings.model_copy(update={"speech": False, "max_sessions": 1})) as gateway:
        client = _client(gateway)
        slow = asyncio.create_task(client.chat.completions.create(model="default", messages=[{"role": "user", "content": "One"}], user="ann"))
        while not llm.requests:
            await asyncio.sleep(0.01)
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model="default", messages=[{"role": "user", "content": "Two"}], user="bob")
        assert (await slow).choices[0].message.content == "A slow answer."


async def test_models_lists_the_owners_agents(settings: Settings, llm: ScriptedLLM) -> None:
    await _create_agent(settings.redis_url, name="support")
    await _create_agent(settings.redis_url, name="sales")
    async with running_server(settings.model_copy(update={"speech": False})) as gateway:
        models = await _client(gateway).models.list()
    assert sorted(m.id for m in models.data) == ["sales", "support"]
    assert all(m.object == "model" and m.owned_by == "local" for m in models.data)


async def test_an_openai_model_name_picks_the_default_agent(chat_server: Gateway, llm: ScriptedLLM) -> None:
    llm.script(Text("Default here."))
    completion = await _client(chat_server).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert completion.choices[0].message.content == "Default here." and completion.model == "gpt-4o-mini"
    assert [m.content for m in await _history(chat_server.runtime.settings.redis_url)] == ["Hi", "Default here."]


async def test_the_reference_voice_beta_route_answers_for_the_agent_in_its_path(settings: Settings, llm: ScriptedLLM) -> None:
    agent = await _create_agent(settings.redis_url, name="concierge")
    llm.script(Text("Concierge speaking."))
    async with running_server(settings.model_copy(update={"speech": False})) as gateway:
        client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{gateway.port}/v1/voice-beta/{agent.id}", api_key="x", max_retries=0)
        chunks = await _stream(client, [{"role": "user", "content": "Hello?"}], model="gpt-4o")
    assert _content(chunks) == "Concierge speaking."
    assert [m.content for m in await _history(settings.redis_url, agent_name="concierge")] == ["Hello?", "Concierge speaking."]


async def test_a_new_turn_of_the_same_caller_cancels_the_one_still_running(chat_server: Gateway, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text("A long answer that is still being written when the caller speaks again.", chunk_chars=2, delay=0.05), Text("Sure."))
    client = _client(chat_server)
    first = await client.chat.completions.create(model="default", messages=[{"role": "user", "content": "Tell me everything."}], stream=True, user="ann")
    async for chunk in first:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    second = await _stream(client, [{"role": "user", "content": "Stop, just say sure."}], user="ann")
    with pytest.raises(openai.APIError):
        async for _ in first:
            pass
    assert _content(second) == "Sure."
    history = await _history(redis_url, "ann")
    assert [(m.role, m.interrupted) for m in history] == [("user", False), ("assistant", True), ("user", False), ("assistant", False)]


async def test_two_callers_of_one_agent_never_see_each_others_conversation(chat_server: Gateway, llm: ScriptedLLM) -> None:
    llm.script(Text("Noted, Ann."), Text("I don't know yet."), Text("You love jazz."))
    client = _client(chat_server)
    await _stream(client, [{"role": "user", "content": "I'm Ann and I love jazz."}], user="ann")
    vapi_call = {"call": {"customer": {"number": "+14155550123"}}}
    await _stream(client, [{"role": "user", "content": "What do I love?"}], extra_body=vapi_call)
    await _stream(client, [{"role": "user", "content": "What do I love?"}], user="ann")
    bobs, anns = llm.requests[1]["messages"], llm.requests[2]["messages"]
    assert [m["content"] for m in bobs if m["role"] != "system"] == ["What do I love?"]
    assert "jazz" not in json.dumps(bobs)
    assert [m["content"] for m in anns if m["role"] != "system"] == ["I'm Ann and I love jazz.", "Noted, Ann.", "What do I love?"]


async def test_an_anonymous_caller_has_no_memory_and_the_resent_history_is_the_context(chat_server: Gateway, llm: ScriptedLLM) -> None:
    llm.script(Text("Hi Ada."), Text("Your name is Ada."))
    client = _client(chat_server)
    await _stream(client, [{"role": "user", "content": "I'm Ada."}])
    await _stream(client, [
        {"role": "user", "content": "I'm Ada."}, {"role": "assistant", "content": "Hi Ada."}, {"role": "user", "content": "What's my name?"},
    ])
    assert [(m["role"], m["content"]) for m in llm.requests[1]["messages"] if m["role"] != "system"] == [
        ("user", "I'm Ada."), ("assistant", "Hi Ada."), ("user", "What's my name?"),
    ]
    redis = Redis.from_url(chat_server.runtime.settings.redis_url or "")
    try:
        agent = await AgentStore(redis).get("local", "default")
        assert agent is not None
        assert len(await ConversationStore(redis).all(agent)) == 2, "each anonymous request is a conversation of its own"
    finally:
        await redis.aclose()


async def _raw_exchange(gateway: Gateway, request: bytes) -> tuple[int, dict[str, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(request)
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"POST /v1/nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 404),
        (b"GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    ],
)
async def test_a_request_the_server_cannot_take_gets_an_http_error_in_json(chat_server: Gateway, head: bytes, status: int) -> None:
    code, body = await _raw_exchange(chat_server, head)
    assert code == status and body["error"]["message"]


async def test_a_client_that_leaves_during_the_pre_execution_line_never_starts_the_tool(settings: Settings, llm: ScriptedLLM) -> None:
    await _create_agent(settings.redis_url, name="forecaster", tools=["tests.sample_tools:get_weather"])
    sample_tools.calls.clear()
    llm.script(ToolCalls([Call("get_weather", {"pre_exec_msg": "Checking the weather.", "city": "Oslo", "unit": "celsius"})], delay=0.05))
    async with running_server(settings.model_copy(update={"speech": False})) as gateway:
        stream = await _client(gateway).chat.completions.create(model="forecaster", messages=[{"role": "user", "content": "Weather?"}], stream=True, user="ada")
        received = []
        async for chunk in stream:
            received.append(chunk)
            if _content(received).endswith("weather."):
                break
        await stream.close()
        await asyncio.sleep(1.5)
        history = await _history(settings.redis_url, "ada", agent_name="forecaster")
    assert sample_tools.calls == [] and len(llm.requests) == 1
    assert [(m.role, m.content, m.interrupted, m.tool_calls) for m in history] == [
        ("user", "Weather?", False, []), ("assistant", "Checking the weather.", True, []),
    ]
