"""Memory blocks in Redis, and how they are compiled into the system prompt."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from agent.prompts import compile_system_prompt
from memory.agents import AgentStore
from memory.blocks import BlockLimitError, BlockStore, CallerRequiredError, MemoryBlock
from memory.conversations import Conversation, ConversationStore
from memory.records import AgentRecord


@pytest.fixture
async def redis(redis_url: str):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def agent(redis: Redis) -> AgentRecord:
    return await AgentStore(redis).create(AgentRecord(owner="acme", name="support", system_prompt="You are Acme's support line."))


@pytest.fixture
def ada(agent: AgentRecord) -> Conversation:
    return Conversation.of(agent, "+15550001111")


async def test_a_new_agent_has_its_prompt_as_persona_and_an_empty_human_block(redis: Redis, agent: AgentRecord, ada: Conversation) -> None:
    blocks = await BlockStore(redis).list(agent, ada)
    assert [(b.label, b.value) for b in blocks] == [("persona", "You are Acme's support line."), ("human", "")]


async def test_a_block_over_its_limit_is_refused_with_a_clear_message(redis: Redis, agent: AgentRecord, ada: Conversation) -> None:
    store = BlockStore(redis, default_limit=20)
    await store.set(agent, ada, "human", "Name: Ada.")
    with pytest.raises(BlockLimitError, match=r"'human' is limited to 20 characters but the new value has 32; shorten it by 12 characters"):
        await store.set(agent, ada, "human", "Name: Ada. Likes tea and trains.")
    assert (await store.get(agent, ada, "human")).value == "Name: Ada."


async def test_custom_blocks_keep_their_own_limit_and_follow_the_standard_ones(redis: Redis, agent: AgentRecord, ada: Conversation) -> None:
    store = BlockStore(redis)
    await store.set(agent, None, "orders", "Order 1234: shipped.", limit=40)
    await store.set(agent, ada, "human", "Name: Ada.")
    await store.set(agent, None, "orders", "Order 1234: delivered.")
    blocks = await store.list(agent, ada)
    assert [b.label for b in blocks] == ["persona", "human", "orders"]
    assert blocks[2] == MemoryBlock(label="orders", value="Order 1234: delivered.", limit=40)


async def test_each_caller_has_their_own_human_block_and_all_share_the_persona_and_custom_blocks(redis: Redis, agent: AgentRecord, ada: Conversation) -> None:
    store = BlockStore(redis)
    bob = Conversation.of(agent, "bob@example.com")
    await store.set(agent, ada, "human", "Name: Ada.")
    await store.set(agent, bob, "persona", "You are Acme's night line.")
    await store.set(agent, bob, "hours", "Open 9-17.")
    seen_by_ada = {b.label: b.value for b in await store.list(agent, ada)}
    seen_by_bob = {b.label: b.value for b in await store.list(agent, bob)}
    assert seen_by_ada == {"persona": "You are Acme's night line.", "human": "Name: Ada.", "hours": "Open 9-17."}
    assert seen_by_bob == {"persona": "You are Acme's night line.", "human": "", "hours": "Open 9-17."}


async def test_a_custom_block_the_agent_declares_per_caller_belongs_to_each_caller(redis: Redis) -> None:
    agent = await AgentStore(redis).create(AgentRecord(owner="acme", name="shop", caller_blocks=["orders"]))
    store = BlockStore(redis)
    ada, bob = Conversation.of(agent, "ada"), Conversation.of(agent, "bob")
    await store.set(agent, ada, "orders", "Order 1234: shipped.")
    assert [b.label for b in await store.list(agent, ada)] == ["persona", "human", "orders"]
    assert [b.label for b in await store.list(agent, bob)] == ["persona", "human"]


async def test_a_per_caller_block_without_a_caller_is_refused(redis: Redis, agent: AgentRecord) -> None:
    with pytest.raises(CallerRequiredError, match="'human' belongs to each caller"):
        await BlockStore(redis).set(agent, None, "human", "Name: Ada.")
    assert [b.label for b in await BlockStore(redis).list(agent, None)] == ["persona"]


async def test_deleting_an_agent_deletes_its_blocks_and_its_callers_blocks(redis: Redis, agent: AgentRecord) -> None:
    conversation = await ConversationStore(redis).open(agent, "+15550001111")
    await BlockStore(redis).set(agent, conversation, "human", "Name: Ada.")
    await BlockStore(redis).set(agent, None, "hours", "Open 9-17.")
    await AgentStore(redis).delete("acme", agent.id)
    assert await redis.keys("confab:*blocks*") == []


def test_the_system_prompt_holds_persona_blocks_counts_and_local_time() -> None:
    blocks = [MemoryBlock(label="persona", value="You are Acme's support line."), MemoryBlock(label="human", value="Name: Ada.", limit=100)]
    prompt = compile_system_prompt(blocks, 7, 42, "Europe/Paris", datetime(2025, 1, 6, 9, 30, tzinfo=UTC), "Speak French.")
    assert prompt.startswith("You are Acme's support line.\n\nSpeak French.")
    assert '<human characters="10/100">\nName: Ada.\n</human>' in prompt
    assert "Monday, 2025-01-06 10:30 CET" in prompt
    assert "42 previous messages" in prompt and "7 passages are stored in archival memory" in prompt
