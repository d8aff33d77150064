"""What the sleeptime agent is given and what it may do: dates, times, tool results, enforced phases, refused rewrites.

Real server, Redis, Qdrant Edge and embedding model; only the language model is scripted.
"""

from __future__ import annotations

import collections
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from memory.agents import AgentStore
from memory.blocks import BlockStore
from memory.conversations import Conversation
from memory.embedders import SentenceTransformerEmbedder
from memory.jobs import JobQueue
from memory.messages import MessageStore
from memory.records import AgentRecord
from server.app import Gateway
from server.config import Settings
from server.runtime import Runtime
from tests.conftest import running_server, ws_url
from tests.fakes.llm_server import Call, Reply, ScriptedLLM, Text, ToolCalls
from tests.memory.memory_helpers import is_sleeptime, memory_settings, older_and_newer, open_redis, transcript_of, wait_until
from tests.realtime_client import RealtimeTestClient

CALLER = "+15550001111"
TURNS = ["Hi, I'm Ada and I moved to Porto last month.", "My dog is called Biscuit.", "Small talk.", "More small talk.", "Still chatting."]
SMALL_BUFFER = {"min_message_buffer_length": 5, "max_message_buffer_length": 8}  # five turns: one eviction
FINISH = ToolCalls([Call("finish_rethinking_memory", {})])
KNOWN = "Name: Ada Lovelace. Dog: Biscuit, a beagle. Lives in Porto since February 2026. Likes green tea."

SleeptimeReply = Reply | Callable[[dict[str, Any]], Reply]


@pytest.fixture(autouse=True)
def _model_loaded(embedder: SentenceTransformerEmbedder) -> None:
    """Load the embedding model once for the session."""


def store_all(body: dict[str, Any]) -> Reply:
    """`store_memories` with every (Older) line as one chunk."""
    older, _ = older_and_newer(body)
    return ToolCalls([Call("store_memories", {"chunks": [{"start_index": 0, "end_index": len(older) - 1, "context": "What Ada said"}]})])


def rethink(text: str) -> Reply:
    """`rethink_user_memory` with `text`."""
    return ToolCalls([Call("rethink_user_memory", {"new_memory": text})])


class Model:
    """Voice requests get `voice` replies then "Noted."; sleeptime requests get `sleeptime` replies in order, then `finish`."""

    def __init__(self, *sleeptime: SleeptimeReply, voice: tuple[Reply, ...] = ()) -> None:
        self.sleeptime = collections.deque(sleeptime)
        self.voice = collections.deque(voice)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, body: dict[str, Any]) -> Reply:
        if not is_sleeptime(body):
            return self.voice.popleft() if self.voice else Text("Noted.")
        self.requests.append(body)
        reply = self.sleeptime.popleft() if self.sleeptime else FINISH
        return reply(body) if callable(reply) else reply


def _runs(model: Model) -> list[dict[str, Any]]:
    """The first request of each sleeptime run."""
    return [r for r in model.requests if len(r["messages"]) == 2]


async def _agent(redis: Redis, name: str = "default") -> tuple[AgentRecord, Conversation]:
    """The agent and the test caller's conversation with it."""
    agent = await AgentStore(redis).get("local", name)
    assert agent is not None
    return agent, Conversation.of(agent, CALLER)


@asynccontextmanager
async def _conversation(settings: Settings, llm: ScriptedLLM, model: Model, agent: str = "default", **overrides: Any) -> AsyncIterator[Gateway]:
    """A server where `agent` has had the five `TURNS` and its sleeptime job has left the queue."""
    llm.default = model
    async with running_server(memory_settings(settings, **{**SMALL_BUFFER, **overrides})) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway, model=agent, caller=CALLER))
        for text in TURNS:
            await client.ask(text)
        await client.close()
        await wait_until(lambda: _queue_empty(gateway.runtime.redis), 30, "the sleeptime job")
        yield gateway


async def _queue_empty(redis: Redis) -> bool:
    return not await JobQueue(redis).queued()


async def test_the_sleeptime_request_carries_todays_date_and_when_each_line_was_said(settings: Settings, llm: ScriptedLLM) -> None:
    model = Model(store_all, rethink("Name: Ada. Moved to Porto."))
    async with _conversation(settings, llm, model) as gateway:
        agent, ada = await _agent(gateway.runtime.redis)
        history = await MessageStore(gateway.runtime.redis).history(ada.id)
    [run] = _runs(model)
    request = run["messages"][1]["content"]
    said = history[0].created_at.astimezone(ZoneInfo(agent.timezone))
    assert request.startswith(f"Today is {said:%A, %Y-%m-%d};")
    assert f"0. [{said:%a %Y-%m-%d %H:%M}] user: {TURNS[0]}" in transcript_of(run)
    assert "never relative terms" in run["messages"][0]["content"]


async def test_a_fact_a_tool_returned_reaches_the_transcript_and_the_archive(settings: Settings, llm: ScriptedLLM) -> None:
    async with open_redis(settings) as redis:
        await AgentStore(redis).create(AgentRecord(owner="local", name="shop", tools=["tests.sample_tools:lookup_order"]))
    lookup = ToolCalls([Call("lookup_order", {"pre_exec_msg": "Let me look.", "email": "ada@example.com"})])
    model = Model(store_all, rethink("Name: Ada."), voice=(lookup, Text("It has shipped.")))
    async with _conversation(settings, llm, model, agent="shop") as gateway:
        agent, ada = await _agent(gateway.runtime.redis, "shop")
        archive = gateway.runtime.memory.archive
        assert archive is not None
        [best] = await archive.search(agent.id, "Ada's order number", scopes=ada.scopes, limit=1)
    older, _ = older_and_newer(_runs(model)[0])
    assert 'tool lookup_order: {"order_id":"A-7731","status":"shipped","carrier":"DHL"}' in older
    assert "A-7731" in best.passage.text


async def test_each_sleeptime_step_asks_for_the_tool_its_phase_needs(settings: Settings, llm: ScriptedLLM) -> None:
    model = Model(store_all, rethink("Name: Ada."), FINISH)
    async with _conversation(settings, llm, model):
        pass
    assert [r["tool_choice"] for r in model.requests] == [
        {"type": "function", "function": {"name": "store_memories"}},
        {"type": "function", "function": {"name": "rethink_user_memory"}},
        "required",
    ]


async def test_a_run_that_saves_nothing_is_retried(settings: Settings, llm: ScriptedLLM) -> None:
    model = Model(Text("Nothing worth keeping."), store_all, rethink("Name: Ada. Moved to Porto in 2026."), FINISH)
    async with _conversation(settings, llm, model) as gateway:
        human = await BlockStore(gateway.runtime.redis).get(*await _agent(gateway.runtime.redis), "human")
        dead = await JobQueue(gateway.runtime.redis).dead()
    assert len(_runs(model)) == 2 and _runs(model)[0]["messages"] == _runs(model)[1]["messages"]
    assert human is not None and human.value == "Name: Ada. Moved to Porto in 2026."
    assert dead == []


async def test_a_run_that_finishes_before_rewriting_memory_is_dead_lettered_after_its_attempts(settings: Settings, llm: ScriptedLLM) -> None:
    model = Model(*[FINISH] * 10)
    async with _conversation(settings, llm, model, jobs_max_attempts=2) as gateway:
        human = await BlockStore(gateway.runtime.redis).get(*await _agent(gateway.runtime.redis), "human")
        [dead] = await JobQueue(gateway.runtime.redis).dead()
    assert len(_runs(model)) == 2
    assert dead.attempts == 2 and "finished before rewriting" in dead.error
    assert human is not None and human.value == ""


@pytest.mark.parametrize(("rewrite", "reason"), [
    ("", "cannot be emptied"),
    ("Name: Ada.", "would drop"),
])
async def test_a_rewrite_that_empties_or_guts_the_human_block_is_refused_with_the_reason(
    settings: Settings, llm: ScriptedLLM, rewrite: str, reason: str
) -> None:
    async with open_redis(settings) as redis:
        agent = await AgentStore(redis).create(AgentRecord(owner="local", name="ada"))
        await BlockStore(redis).set(agent, Conversation.of(agent, CALLER), "human", KNOWN)
    kept = KNOWN + " Has a sister, Grace."
    model = Model(store_all, rethink(rewrite), rethink(kept), FINISH)
    async with _conversation(settings, llm, model, agent="ada") as gateway:
        human = await BlockStore(gateway.runtime.redis).get(agent, Conversation.of(agent, CALLER), "human")
    refusal = json.loads(model.requests[2]["messages"][-1]["content"])
    assert reason in refusal["error"]
    assert human is not None and human.value == kept


async def test_background_memory_work_uses_the_sleeptime_model_when_one_is_set(settings: Settings, llm: ScriptedLLM) -> None:
    with ScriptedLLM(model="memory-model") as memory_llm:
        model = Model(store_all, rethink("Name: Ada."))
        memory_llm.default = model
        overrides = {"sleeptime_base_url": memory_llm.base_url, "sleeptime_model": "judicious", "sleeptime_api_key": "k2"}
        async with _conversation(settings, llm, Model(), **overrides):
            pass
        memory_requests = memory_llm.requests
    assert not any(is_sleeptime(r) for r in llm.requests)
    assert len(memory_requests) == 3 and {r["model"] for r in memory_requests} == {"judicious"}


async def test_a_sleeptime_endpoint_elsewhere_never_gets_the_voice_key(settings: Settings) -> None:
    runtime = await Runtime.open(settings.model_copy(update={"sleeptime_base_url": "http://memory.internal/v1"}), serving=False)
    endpoint = runtime.sleeptime_model_for(AgentRecord(owner="local", name="a")).endpoint
    await runtime.stop()
    assert endpoint.base_url == "http://memory.internal/v1" and endpoint.api_key is None
    assert endpoint.model == settings.llm_model


async def test_the_sleeptime_rewrite_is_in_the_blocks_history_as_the_sleeptime_agents(settings: Settings, llm: ScriptedLLM) -> None:
    model = Model(store_all, rethink("Name: Ada. Moved to Porto in 2026."))
    async with _conversation(settings, llm, model) as gateway:
        [version] = await BlockStore(gateway.runtime.redis).history(*await _agent(gateway.runtime.redis), "human")
    assert (version.author, version.before, version.after) == ("sleeptime", "", "Name: Ada. Moved to Porto in 2026.")
