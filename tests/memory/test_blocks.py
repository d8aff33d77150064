"""Memory blocks in Redis, and how they are compiled into the system prompt."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from agent.prompts import compile_system_prompt
from memory.agents import AgentStore
from memory.blocks import BlockLimitError, BlockStore, MemoryBlock
from memory.records import AgentRecord


@pytest.fixture
async def redis(redis_url: str):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def agent(redis: Redis) -> AgentRecord:
    return await AgentStore(redis).create(AgentRecord(owner="acme", name="support", system_prompt="You are Acme's support line."))


async def test_a_new_agent_has_its_prompt_as_persona_and_an_empty_human_block(redis: Redis, agent: AgentRecord) -> None:
    blocks = await BlockStore(redis).list(agent)
    assert [(b.label, b.value) for b in blocks] == [("persona", "You are Acme's support line."), ("human", "")]


async def test_a_block_over_its_limit_is_refused_with_a_clear_message(redis: Redis, agent: AgentRecord) -> None:
    store = BlockStore(redis, default_limit=20)
    await store.set(agent, "human", "Name: Ada.")
    with pytest.raises(BlockLimitError, match=r"'human' is limited to 20 characters but the new value has 32; shorten it by 12 characters"):
        await store.set(agent, "human", "Name: Ada. Likes tea and trains.")
    assert (await store.get(agent, "human")).value == "Name: Ada."


async def test_custom_blocks_keep_their_own_limit_and_follow_the_standard_ones(redis: Redis, agent: AgentRecord) -> None:
    store = BlockStore(redis)
    await store.set(agent, "orders", "Order 1234: shipped.", limit=40)
    await store.set(agent, "human", "Name: Ada.")
    await store.set(agent, "orders", "Order 1234: delivered.")
    blocks = await store.list(agent)
    assert [b.label for b in blocks] == ["persona", "human", "orders"]
    assert blocks[2] == MemoryBlock(label="orders", value="Order 1234: delivered.", limit=40)


async def test_deleting_an_agent_deletes_its_blocks(redis: Redis, agent: AgentRecord) -> None:
    await BlockStore(redis).set(agent, "human", "Name: Ada.")
    await AgentStore(redis).delete("acme", agent.id)
    assert await redis.exists(f"confab:blocks:{agent.id}") == 0


def test_the_system_prompt_holds_persona_blocks_counts_and_local_time() -> None:
    blocks = [MemoryBlock(label="persona", value="You are Acme's support line."), MemoryBlock(label="human", value="Name: Ada.", limit=100)]
    prompt = compile_system_prompt(blocks, 7, 42, "Europe/Paris", datetime(2025, 1, 6, 9, 30, tzinfo=UTC), "Speak French.")
    assert prompt.startswith("You are Acme's support line.\n\nSpeak French.")
    assert '<human characters="10/100">\nName: Ada.\n</human>' in prompt
    assert "Monday, 2025-01-06 10:30 CET" in prompt
    assert "42 previous messages" in prompt and "7 passages are stored in archival memory" in prompt
