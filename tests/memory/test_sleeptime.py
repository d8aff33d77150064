"""Conversations through a real server: the buffer, the sleeptime agent, archival memory and search_memory.

Real Redis, real Qdrant Edge, the real embedding model; the only fake is the language model.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from memory.agents import AgentStore
from memory.archival import Passage
from memory.blocks import BlockStore
from memory.conversations import Conversation
from memory.embedders import SentenceTransformerEmbedder
from memory.jobs import JobQueue
from memory.messages import MessageStore
from memory.records import AgentRecord, utc_now
from server.app import Gateway
from server.config import Settings
from tests.conftest import running_server, ws_url
from tests.fakes.llm_server import Call, Error, Hang, ScriptedLLM, Text, ToolCalls
from tests.memory.memory_helpers import SleeptimeScript, is_sleeptime, memory_settings, older_and_newer, tool_result, wait_until
from tests.realtime_client import RealtimeTestClient

FACT = "Hi, I'm Ada and my dog is called Biscuit."
ADA = "+15550001111"


@pytest.fixture(autouse=True)
def _model_loaded(embedder: SentenceTransformerEmbedder) -> None:
    """Load the embedding model once for the session (servers share the loaded model)."""


@pytest.fixture
async def redis(redis_url: str):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _converse(gateway: Gateway, *utterances: str, caller: str = ADA) -> None:
    client = await RealtimeTestClient.open(ws_url(gateway, caller=caller))
    for text in utterances:
        await client.ask(text)
    await client.close()


def _turns(count: int) -> list[str]:
    return [FACT] + [f"Small talk number {i}." for i in range(1, count)]


async def _default_agent(redis: Redis) -> AgentRecord:
    agent = await AgentStore(redis).get("local", "default")
    assert agent is not None
    return agent


async def _conversation_of(redis: Redis, caller: str = ADA) -> tuple[AgentRecord, Conversation]:
    agent = await _default_agent(redis)
    return agent, Conversation.of(agent, caller)


async def _jobs_done(redis: Redis) -> bool:
    return not await JobQueue(redis).queued()


@asynccontextmanager
async def _conversation(
    settings: Settings, llm: ScriptedLLM, redis: Redis, turns: int, script: SleeptimeScript | None = None, **overrides: Any
) -> AsyncIterator[tuple[Gateway, SleeptimeScript]]:
    """A server where the default agent has had `turns` turns and every sleeptime job has finished."""
    script = script or SleeptimeScript()
    llm.default = script
    async with running_server(memory_settings(settings, **overrides)) as gateway:
        await _converse(gateway, *_turns(turns))
        await wait_until(lambda: _jobs_done(redis), 30, "the sleeptime jobs")
        yield gateway, script


async def test_forty_turns_keep_the_context_to_the_system_message_and_at_most_15_messages_after_each_trim(
    settings: Settings, llm: ScriptedLLM, redis: Redis
) -> None:
    async with _conversation(settings, llm, redis, 40) as (_, script):
        pass
    voice = [r for r in llm.requests if not is_sleeptime(r)]
    assert len(voice) == 40
    for request in voice:
        system, *context = request["messages"]
        assert system["role"] == "system" and context[0]["role"] == "user" and len(context) <= 31
    for run in script.runs:  # what each trim kept, as the sleeptime agent saw it
        _, kept = older_and_newer(run)
        assert len(kept) <= 15 and kept[0].startswith("user: ")
    _, ada = await _conversation_of(redis)
    buffer = await MessageStore(redis).buffer(ada.id)
    assert buffer[0].role == "user" and len(buffer) == 26  # 14 kept at the last trim (turn 34) + 6 turns
    assert await MessageStore(redis).count(ada.id) == 80


async def test_the_sleeptime_agent_runs_once_per_eviction_and_its_memories_are_kept(
    settings: Settings, llm: ScriptedLLM, redis: Redis
) -> None:
    async with _conversation(settings, llm, redis, 40) as (gateway, script):
        agent, ada = await _conversation_of(redis)
        archive = gateway.runtime.memory.archive
        assert archive is not None
        assert await archive.count(agent.id, ada.scopes) == 3
        [best] = await archive.search(agent.id, "What is the name of Ada's dog?", scopes=ada.scopes, limit=1)
        prompt = await gateway.runtime.memory.system_prompt(agent, ada)
    assert len(script.runs) == 3  # evictions after turns 16, 25 and 34
    older, _ = older_and_newer(script.runs[0])
    assert older[0] == f"user: {FACT}" and len(older) == 18
    assert best.passage.text.startswith("Ada told the assistant about her dog\nuser: Hi, I'm Ada and my dog is called Biscuit.")
    human = await BlockStore(redis).get(agent, ada, "human")
    assert human is not None and human.value == "Name: Ada. Her dog is Biscuit. (memory run 3)"
    assert f"<human characters=\"{len(human.value)}/5000\">\n{human.value}\n</human>" in prompt
    assert "3 passages are stored in archival memory" in prompt


async def test_a_later_question_brings_the_archived_fact_back_within_the_time_window(
    settings: Settings, llm: ScriptedLLM, redis: Redis
) -> None:
    async with _conversation(settings, llm, redis, 5, min_message_buffer_length=5, max_message_buffer_length=8) as (gateway, script):
        agent, ada = await _conversation_of(redis)
        archive = gateway.runtime.memory.archive
        assert archive is not None
        three_days_ago = utc_now() - timedelta(days=3)
        await archive.insert([Passage(agent_id=agent.id, conversation_id=ada.id, text="Ada's old cat was called Whiskers.", created_at=three_days_ago)])
        script.voice.extend([
            ToolCalls([Call("search_memory", {"pre_exec_msg": "Let me think.", "convo_keyword_queries": ["Biscuit"], "start_minutes_ago": 0, "end_minutes_ago": 60})]),
            Text("Your dog is Biscuit."),
            ToolCalls([Call("search_memory", {"pre_exec_msg": "Let me think.", "start_minutes_ago": 5000, "end_minutes_ago": 3000})]),
            Text("Your cat was Whiskers."),
        ])
        await _converse(gateway, "What is my dog called?", "And my pet from a few days ago?")
    voice = [r for r in llm.requests if not is_sleeptime(r)]
    recent = tool_result(voice[-3])
    assert any("my dog is called Biscuit" in r["content"] for r in recent["archival_search_results"])
    assert all("Whiskers" not in r["content"] for r in recent["archival_search_results"])
    assert recent["convo_keyword_search_results"] == {"Biscuit": [FACT]}
    older = tool_result(voice[-1])
    assert [r["content"] for r in older["archival_search_results"]] == ["Ada's old cat was called Whiskers."]
    assert older["archival_search_results"][0]["timestamp"] == three_days_ago.isoformat(timespec="minutes")


async def test_a_sleeptime_job_whose_model_fails_is_retried_and_nothing_is_lost(
    settings: Settings, llm: ScriptedLLM, redis: Redis
) -> None:
    failing = SleeptimeScript()
    failing.failures.extend([Error(503, "overloaded"), Error(503, "still overloaded")])
    async with _conversation(settings, llm, redis, 16, failing, llm_max_retries=0) as (gateway, _):
        agent, ada = await _conversation_of(redis)
        archive = gateway.runtime.memory.archive
        assert archive is not None and await archive.count(agent.id, ada.scopes) == 1
    sleeptime = [r for r in llm.requests if is_sleeptime(r)]
    assert len(sleeptime) == 5  # two failures, then store, rethink, finish
    assert older_and_newer(sleeptime[0]) == older_and_newer(sleeptime[2])
    assert (await BlockStore(redis).get(agent, ada, "human")).value == "Name: Ada. Her dog is Biscuit. (memory run 1)"
    assert await JobQueue(redis).dead() == []
    assert await MessageStore(redis).count(ada.id) == 32


async def test_a_slow_sleeptime_model_never_delays_the_callers_turns(
    settings: Settings, llm: ScriptedLLM, redis: Redis
) -> None:
    llm.default = lambda body: Hang() if is_sleeptime(body) else Text("Noted.")
    async with running_server(memory_settings(settings, min_message_buffer_length=5, max_message_buffer_length=8)) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway, caller=ADA))
        durations = []
        for text in _turns(10):
            started = time.monotonic()
            await client.ask(text)
            durations.append(time.monotonic() - started)
        await client.close()
        assert len([r for r in llm.requests if is_sleeptime(r)]) >= 1
        assert len(await JobQueue(redis).pending()) >= 1
    assert max(durations) < 1.0


async def test_a_sleeptime_run_rewrites_only_its_own_callers_memory(
    settings: Settings, llm: ScriptedLLM, redis: Redis
) -> None:
    async with _conversation(settings, llm, redis, 16) as (gateway, script):
        await _converse(gateway, "Hello, this is Bob.", caller="+15550002222")
        await wait_until(lambda: _jobs_done(redis), 30, "the sleeptime jobs")
        agent, bob = await _conversation_of(redis, "+15550002222")
        archive = gateway.runtime.memory.archive
        assert archive is not None and await archive.count(agent.id, bob.scopes) == 0
        bobs_prompt = await gateway.runtime.memory.system_prompt(agent, bob)
    assert len(script.runs) == 1
    assert (await BlockStore(redis).get(agent, bob, "human")).value == ""
    assert "Biscuit" not in bobs_prompt
