"""Agents and messages in a real Redis."""

import subprocess
from pathlib import Path

import pytest
from redis.asyncio import Redis

from memory.agents import AgentExistsError, AgentStore
from memory.conversations import ConversationStore
from memory.messages import MessageStore
from memory.records import AgentRecord, MessageRecord
from memory.redis_server import EmbeddedRedis


@pytest.fixture
async def redis(redis_url: str):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_agents_are_found_by_name_or_id_within_their_owner_only(redis: Redis) -> None:
    store = AgentStore(redis)
    agent = await store.create(AgentRecord(owner="acme", name="support"))
    assert (await store.get("acme", "support")) == agent
    assert (await store.get("acme", agent.id)) == agent
    assert await store.get("globex", "support") is None
    assert await store.get("globex", agent.id) is None


async def test_agent_names_are_unique_per_owner(redis: Redis) -> None:
    store = AgentStore(redis)
    await store.create(AgentRecord(owner="acme", name="support"))
    with pytest.raises(AgentExistsError):
        await store.create(AgentRecord(owner="acme", name="support"))
    await store.create(AgentRecord(owner="globex", name="support"))


async def test_deleting_an_agent_deletes_every_callers_conversation(redis: Redis) -> None:
    agents, messages = AgentStore(redis), MessageStore(redis)
    agent = await agents.create(AgentRecord(owner="acme", name="support"))
    ada = await ConversationStore(redis).open(agent, "ada")
    anonymous = await ConversationStore(redis).open(agent, None)
    await messages.append([MessageRecord(conversation_id=c.id, role="user", content="hi") for c in (ada, anonymous)])
    assert await agents.delete("acme", "support")
    assert await messages.history(ada.id) == [] and await messages.history(anonymous.id) == []
    assert await agents.list("acme") == []
    assert await redis.keys("confab:*") == []


async def test_keyword_search_returns_newest_matches_first(redis: Redis) -> None:
    messages = MessageStore(redis)
    texts = [f"order number {i} for pizza" for i in range(10)] + ["nothing here"]
    await messages.append([MessageRecord(conversation_id="a1", role="user", content=t) for t in texts])
    found = await messages.search("a1", "PIZZA", limit=3)
    assert [m.content for m in found] == ["order number 9 for pizza", "order number 8 for pizza", "order number 7 for pizza"]


async def test_keyword_search_reaches_past_one_scan_page(redis: Redis) -> None:
    messages = MessageStore(redis)
    await messages.append([MessageRecord(conversation_id="a1", role="user", content="the blue bicycle")])
    await messages.append([MessageRecord(conversation_id="a1", role="user", content=f"filler {i}") for i in range(450)])
    assert [m.content for m in await messages.search("a1", "bicycle")] == ["the blue bicycle"]


async def test_history_and_buffer_keep_messages_in_order(redis: Redis) -> None:
    messages = MessageStore(redis)
    batch = [MessageRecord(conversation_id="a1", role=r, content=c) for r, c in [("user", "one"), ("assistant", "two"), ("user", "three")]]
    await messages.append(batch)
    assert [m.content for m in await messages.history("a1")] == ["one", "two", "three"]
    assert [m.content for m in await messages.buffer("a1")] == ["one", "two", "three"]
    assert [m.content for m in await messages.history("a1", limit=2)] == ["two", "three"]


def test_embedded_redis_keeps_data_across_restarts_with_aof(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path)
    url = first.start()
    subprocess.run(["redis-cli", "-s", str(first.socket_path), "SET", "k", "v"], check=True, capture_output=True)
    first.stop()
    second = EmbeddedRedis(tmp_path)
    assert second.start() == url and second.owned
    out = subprocess.run(["redis-cli", "-s", str(second.socket_path), "GET", "k"], check=True, capture_output=True, text=True)
    second.stop()
    assert out.stdout.strip() == "v"


def test_a_second_process_attaches_to_a_running_embedded_redis(tmp_path: Path) -> None:
    owner = EmbeddedRedis(tmp_path)
    owner.start()
    guest = EmbeddedRedis(tmp_path)
    guest.start()
    assert not guest.owned
    guest.stop()
    ping = subprocess.run(["redis-cli", "-s", str(owner.socket_path), "PING"], capture_output=True, text=True)
    owner.stop()
    assert ping.stdout.strip() == "PONG"
