"""What the voice agent sends the model and keeps, step by step: tool call ids, cut-off replies, the prompt's cacheable prefix.

A real server on loopback, real Redis; only the model is scripted.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from agent.prompts import METADATA_TAG
from memory.agents import AgentStore
from memory.records import AgentRecord
from server.app import Gateway
from server.config import Settings
from tests.conftest import conversation_history, running_server, ws_url
from tests.fakes.llm_server import Call, ScriptedLLM, Text, ToolCalls
from tests.memory.memory_helpers import open_redis
from tests.realtime_client import RealtimeTestClient


async def _agent(settings: Settings, **fields: object) -> AgentRecord:
    async with open_redis(settings) as redis:
        return await AgentStore(redis).create(AgentRecord(owner="local", **fields))  # type: ignore[arg-type]


@asynccontextmanager
async def _talking(settings: Settings, agent: str = "default") -> AsyncIterator[tuple[Gateway, RealtimeTestClient]]:
    async with running_server(settings.model_copy(update={"speech": False})) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway, model=agent))
        try:
            yield gateway, client
        finally:
            await client.close()


async def test_two_tool_calls_streamed_without_ids_both_get_their_own_result(settings: Settings, llm: ScriptedLLM) -> None:
    await _agent(settings, name="helper", tools=["tests.sample_tools:get_weather", "tests.sample_tools:get_time"])
    llm.script(
        ToolCalls([
            Call("get_weather", {"pre_exec_msg": "Checking.", "city": "Oslo"}),
            Call("get_time", {"pre_exec_msg": "And the time.", "timezone": "Europe/Oslo"}),
        ], with_ids=False),
        Text("Sunny, and it is 14:05."),
    )
    async with _talking(settings, "helper") as (_, client):
        await client.ask("Weather and time in Oslo?")
    followup = llm.requests[-1]["messages"]
    calls = next(m for m in followup if m.get("tool_calls"))["tool_calls"]
    results = {m["tool_call_id"]: json.loads(m["content"])["result"] for m in followup if m["role"] == "tool"}
    assert len({c["id"] for c in calls}) == 2
    assert results[calls[0]["id"]]["sky"] == "sunny" and results[calls[1]["id"]] == "14:05"


async def test_a_reply_cut_off_by_the_output_limit_is_stored_as_interrupted(settings: Settings, llm: ScriptedLLM) -> None:
    await _agent(settings, name="talker")
    llm.script(Text("The three reasons are, first, that the", finish_reason="length"))
    async with _talking(settings, "talker") as (_, client):
        await client.ask("Why?")
    [_, reply] = await conversation_history(settings.redis_url or "", "talker")
    assert reply.content == "The three reasons are, first, that the" and reply.interrupted


async def test_steps_minutes_apart_send_the_same_persona_and_memory_prefix(settings: Settings, llm: ScriptedLLM) -> None:
    now = [datetime(2026, 12, 4, 9, 0, tzinfo=UTC)]
    llm.script(Text("Hello Ada."), Text("Noted."))
    async with _talking(settings) as (gateway, client):
        gateway.runtime.memory.clock = lambda: now[0]
        await client.ask("Hi, I'm Ada.")
        now[0] += timedelta(minutes=3)
        await client.ask("I like tea.")
    first, second = (r["messages"][0]["content"] for r in llm.requests)
    stable, volatile = first.split(f"<{METADATA_TAG}>")
    assert stable.startswith("You are a helpful voice assistant") and "<human characters=" in stable
    assert second.startswith(stable)
    assert "09:00" in volatile and "09:03" in second.split(f"<{METADATA_TAG}>")[1]
    assert first.endswith(f"</{METADATA_TAG}>") and second.endswith(f"</{METADATA_TAG}>")
