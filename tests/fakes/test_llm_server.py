"""Tests of the scripted LLM server through the real `openai` client (sync and async)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest

from .llm_server import Call, Drop, Error, Hang, ScriptedLLM, Text, ToolCalls, embedding

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLM]:
    """One server for the module; each test starts from an empty script and request log."""
    with ScriptedLLM() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(llm: ScriptedLLM) -> None:
    """Clear state left by the previous test."""
    llm.clear()
    llm.default = Text("ok")


@pytest.fixture
async def ac(llm: ScriptedLLM) -> AsyncIterator[openai.AsyncOpenAI]:
    """Async client without retries, closed after the test."""
    async with openai.AsyncOpenAI(base_url=llm.base_url, api_key="test", max_retries=0) as c:
        yield c


@pytest.fixture
def sc(llm: ScriptedLLM) -> Iterator[openai.OpenAI]:
    """Sync client without retries, closed after the test."""
    with client(llm) as c:
        yield c


def client(llm: ScriptedLLM) -> openai.OpenAI:
    """Sync client without retries."""
    return openai.OpenAI(base_url=llm.base_url, api_key="test", max_retries=0)


async def test_streamed_text_reassembles(llm: ScriptedLLM, ac: openai.AsyncOpenAI) -> None:
    """Content deltas arrive in several chunks and join into the scripted text."""
    llm.script(Text("Hello there, how can I help?", chunk_chars=5))
    stream = await ac.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    deltas, finish = [], None
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.choices[0].delta.content:
            deltas.append(chunk.choices[0].delta.content)
        finish = chunk.choices[0].finish_reason or finish
    assert "".join(deltas) == "Hello there, how can I help?"
    assert len(deltas) == 6
    assert finish == "stop"


async def test_tool_calls_reassemble(llm: ScriptedLLM, ac: openai.AsyncOpenAI) -> None:
    """Two tool calls with fragmented arguments reassemble by index into valid JSON."""
    llm.script(
        ToolCalls(
            [Call("get_weather", {"city": "Paris", "unit": "C"}, id="call_a"), Call("remember", {"fact": "likes tea"})],
            content="Let me check.",
        )
    )
    stream = await ac.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    calls: dict[int, dict[str, str]] = {}
    fragments, content, finish = 0, "", None
    async for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for tc in delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            if tc.id:
                entry["id"] = tc.id
                assert tc.type == "function"
            if tc.function and tc.function.name:
                entry["name"] = tc.function.name
            if tc.function and tc.function.arguments:
                entry["arguments"] += tc.function.arguments
                fragments += 1
        finish = chunk.choices[0].finish_reason or finish
    assert content == "Let me check."
    assert finish == "tool_calls"
    assert fragments > 6
    assert calls[0]["id"] == "call_a" and calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris", "unit": "C"}
    assert calls[1]["id"] and calls[1]["name"] == "remember"
    assert json.loads(calls[1]["arguments"]) == {"fact": "likes tea"}


async def test_rate_limit_error(llm: ScriptedLLM, ac: openai.AsyncOpenAI) -> None:
    """429 maps to RateLimitError with the OpenAI error body and Retry-After header."""
    llm.script(Error(429, "slow down", retry_after=2))
    with pytest.raises(openai.RateLimitError) as info:
        await ac.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.code == "rate_limit_exceeded"
    assert "slow down" in info.value.message


def test_server_error_sync(llm: ScriptedLLM, sc: openai.OpenAI) -> None:
    """500 maps to InternalServerError with the sync client."""
    llm.script(Error(500, "boom"))
    with pytest.raises(openai.InternalServerError):
        sc.chat.completions.create(model="m", messages=MESSAGES)


async def test_drop_mid_stream(llm: ScriptedLLM, ac: openai.AsyncOpenAI) -> None:
    """A dropped stream delivers some content and then raises a connection error."""
    llm.script(Drop("partial answer that never ends"))
    stream = await ac.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    received = ""
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            received += chunk.choices[0].delta.content or ""
    assert received.startswith("part")
    # The client recovers on a fresh connection.
    reply = await ac.chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].message.content == "ok"


async def test_hang_times_out(llm: ScriptedLLM, ac: openai.AsyncOpenAI) -> None:
    """A hanging reply makes the client time out."""
    llm.script(Hang())
    with pytest.raises(openai.APITimeoutError):
        await ac.with_options(timeout=0.3).chat.completions.create(model="m", messages=MESSAGES, stream=True)


async def test_slow_tokens(llm: ScriptedLLM, ac: openai.AsyncOpenAI) -> None:
    """`delay` spaces the content chunks out in time."""
    llm.script(Text("abcdefgh", chunk_chars=2, delay=0.05))
    start = time.monotonic()
    stream = await ac.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "abcdefgh"
    assert time.monotonic() - start >= 0.2


async def test_requests_recorded_and_keepalive(llm: ScriptedLLM, ac: openai.AsyncOpenAI) -> None:
    """Bodies are recorded in order; script is FIFO then falls back to `default`; one client reuses its connection."""
    llm.script(Text("first"), Text("second"))
    answers = []
    for i in range(3):
        reply = await ac.chat.completions.create(model=f"m{i}", messages=[{"role": "user", "content": f"q{i}"}])
        answers.append(reply.choices[0].message.content)
    assert answers == ["first", "second", "ok"]
    assert [r["model"] for r in llm.requests] == ["m0", "m1", "m2"]
    assert llm.requests[2]["messages"] == [{"role": "user", "content": "q2"}]


async def test_callable_reply_sees_request(llm: ScriptedLLM, ac: openai.AsyncOpenAI) -> None:
    """A callable reply gets the request body, e.g. to echo the last user message."""
    llm.default = lambda body: Text("echo: " + body["messages"][-1]["content"])
    stream = await ac.chat.completions.create(model="m", messages=[{"role": "user", "content": "ping"}], stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream]) == "echo: ping"


def test_non_streaming_tool_calls_and_usage(llm: ScriptedLLM, sc: openai.OpenAI) -> None:
    """Non-streaming requests get a whole chat.completion; include_usage adds a final usage chunk."""
    llm.script(ToolCalls([Call("f", '{"x": 1}', id="c1")]), Text("done"))
    reply = sc.chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].finish_reason == "tool_calls"
    call = reply.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == ("c1", "f", '{"x": 1}')
    chunks = list(sc.chat.completions.create(model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_embeddings_and_models(llm: ScriptedLLM, sc: openai.OpenAI) -> None:
    """Embeddings are deterministic unit vectors (also via the client's default base64 path); models lists one."""
    first = sc.embeddings.create(model="e", input=["alpha", "beta"])
    again = sc.embeddings.create(model="e", input="alpha", encoding_format="float")
    a, b = first.data[0].embedding, first.data[1].embedding
    assert len(a) == 384 and math.isclose(sum(v * v for v in a), 1.0, rel_tol=1e-5)
    assert a == pytest.approx(embedding("alpha"), abs=1e-6)
    assert again.data[0].embedding == pytest.approx(a, abs=1e-6)
    assert a != pytest.approx(b)
    assert [m.id for m in sc.models.list()] == ["scripted-llm"]


def test_restart_and_hang_released_by_stop() -> None:
    """stop() releases hanging requests with a connection error, and a server can be started again."""
    server = ScriptedLLM(default=Hang()).start()
    c = client(server)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            c.chat.completions.create(model="m", messages=MESSAGES)
        except openai.APIError as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    server.stop()
    worker.join(timeout=5)
    c.close()
    assert len(errors) == 1 and isinstance(errors[0], openai.APIConnectionError)
    with server, client(server) as c2:
        server.default = Text("back")
        assert c2.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == "back"
