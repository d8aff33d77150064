"""The `search_memory` tool on real stores: what it searches for, in which window, in which order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from agent.tools.search_memory import search_memory_tool, time_window
from memory.archival import EDGE_DIRECTORY, EdgeArchivalStore, Passage
from memory.archive import ArchivalMemory
from memory.conversations import Conversation
from memory.embedders import SentenceTransformerEmbedder
from memory.messages import MessageStore
from memory.records import AgentRecord, MessageRecord

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
AGENT = AgentRecord(owner="acme", name="support", timezone="Europe/Paris")
ADA = Conversation.of(AGENT, "+15550001111")
BOB = Conversation.of(AGENT, "+15550002222")


@pytest.fixture
async def messages(redis_url: str) -> AsyncIterator[MessageStore]:
    client = Redis.from_url(redis_url)
    yield MessageStore(client)
    await client.aclose()


@pytest.fixture
async def archive(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> AsyncIterator[ArchivalMemory]:
    memory = ArchivalMemory(await EdgeArchivalStore.open(tmp_path / EDGE_DIRECTORY, dim=384), embedder)
    yield memory
    await memory.store.close()


def _say(*texts: str, role: str = "user", hidden: bool = False, conversation: Conversation = ADA) -> list[MessageRecord]:
    return [MessageRecord(conversation_id=conversation.id, role=role, content=t, hidden=hidden) for t in texts]  # type: ignore[arg-type]


def test_the_time_window_counts_back_from_now_and_swaps_reversed_bounds() -> None:
    day, hour = timedelta(days=1), timedelta(hours=1)
    assert time_window(NOW, 60, 1440) == (NOW - day, NOW - hour)
    assert time_window(NOW, 1440, 60) == (NOW - day, NOW - hour)
    assert time_window(NOW, None, 60) == (NOW - hour, None)
    assert time_window(NOW, None, None) == (None, None)


async def test_keyword_hits_come_newest_first_three_per_keyword(messages: MessageStore, archive: ArchivalMemory) -> None:
    await messages.append(_say(*(f"pizza order {i}" for i in range(5)), "tea please"))
    await messages.append(_say("We have pizza and tea.", role="assistant"))
    tool = search_memory_tool(AGENT, ADA, messages, archive, clock=lambda: NOW)
    result = await tool.run({"convo_keyword_queries": ["PIZZA", "tea", "nothing"]})
    assert result["convo_keyword_search_results"] == {
        "PIZZA": ["We have pizza and tea.", "pizza order 4", "pizza order 3"],
        "tea": ["We have pizza and tea.", "tea please"],
        "nothing": [],
    }


async def test_archival_search_uses_the_callers_latest_words_within_the_window(
    messages: MessageStore, archive: ArchivalMemory
) -> None:
    await archive.insert([
        Passage(agent_id=AGENT.id, conversation_id=ADA.id, text="Ada's dog is called Biscuit.", created_at=NOW - timedelta(days=2)),
        Passage(agent_id=AGENT.id, conversation_id=ADA.id, text="Ada's favourite colour is green.", created_at=NOW - timedelta(days=2)),
        Passage(agent_id=AGENT.id, conversation_id=ADA.id, text="Ada adopted a puppy named Rex.", created_at=NOW - timedelta(days=30)),
        Passage(agent_id="agent-someone-else", text="Bob's dog is called Max.", created_at=NOW - timedelta(days=2)),
    ])
    await messages.append(_say("What was my dog's name again?"))
    await messages.append(_say("[automated] tool finished", hidden=True))
    tool = search_memory_tool(AGENT, ADA, messages, archive, clock=lambda: NOW)
    result = await tool.run({"start_minutes_ago": 7 * 1440, "end_minutes_ago": 0})
    found = result["archival_search_results"]
    assert [r["content"] for r in found][0] == "Ada's dog is called Biscuit."
    assert {r["content"] for r in found} == {"Ada's dog is called Biscuit.", "Ada's favourite colour is green."}
    assert found[0]["timestamp"] == "2025-03-08T13:00+01:00"


async def test_it_finds_the_callers_own_memories_and_the_agents_knowledge_but_never_another_callers(
    messages: MessageStore, archive: ArchivalMemory
) -> None:
    await archive.insert([
        Passage(agent_id=AGENT.id, conversation_id=ADA.id, text="Ada's dog is called Biscuit."),
        Passage(agent_id=AGENT.id, conversation_id=BOB.id, text="Bob's dog is called Max."),
        Passage(agent_id=AGENT.id, text="Dogs are welcome in every Acme shop."),
    ])
    await messages.append(_say("Bob here: my dog Max is ill.", conversation=BOB))
    await messages.append(_say("Tell me about my dog."))
    result = await search_memory_tool(AGENT, ADA, messages, archive, clock=lambda: NOW).run({"convo_keyword_queries": ["dog"]})
    assert {r["content"] for r in result["archival_search_results"]} == {
        "Ada's dog is called Biscuit.", "Dogs are welcome in every Acme shop."
    }
    assert result["convo_keyword_search_results"] == {"dog": ["Tell me about my dog."]}
