"""Callers own their memory: two callers of one agent, over real sockets, real stores and the scripted model.

Every store is real (Redis, Qdrant Edge, the embedding model); the language model is scripted:
voice turns answer "Noted." (or call `search_memory` when asked what it remembers), and each
sleeptime run archives the evicted lines and writes a secret the caller told into the `human` block.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from memory.agents import AgentStore
from memory.blocks import BlockStore
from memory.conversations import Conversation
from memory.embedders import SentenceTransformerEmbedder
from memory.jobs import JobQueue
from memory.records import AgentRecord
from server.app import Gateway
from server.config import Settings
from tests.conftest import running_server, ws_url
from tests.fakes.llm_server import Call, Reply, ScriptedLLM, Text, ToolCalls
from tests.memory.memory_helpers import is_sleeptime, memory_settings, older_and_newer, tool_result, wait_until
from tests.realtime_client import RealtimeTestClient

ADA, BOB = "+15550001111", "bob@example.com"
SECRETS = {ADA: "ALPHA-7731", BOB: "BRAVO-4419"}
RECALL = "What do you remember about my secret code?"


def _reply(body: dict[str, Any]) -> Reply:
    """Voice: search memory when asked to recall, else "Noted."; sleeptime: archive everything, note a told secret in `human`."""
    tool_steps = sum(1 for m in body["messages"] if m["role"] == "tool")
    if is_sleeptime(body):
        older, _ = older_and_newer(body)
        if tool_steps == 0:
            return ToolCalls([Call("store_memories", {"chunks": [{"start_index": 0, "end_index": len(older) - 1, "context": "What the caller said"}]})])
        told = [line.removeprefix("user: ") for line in older if line.startswith("user: My secret code is")]
        if tool_steps == 1 and told:
            return ToolCalls([Call("rethink_user_memory", {"new_memory": " ".join(told)})])
        return ToolCalls([Call("finish_rethinking_memory", {})])
    last = body["messages"][-1]
    if last["role"] == "user" and last["content"] == RECALL:
        return ToolCalls([Call("search_memory", {"pre_exec_msg": "Let me look.", "convo_keyword_queries": ["secret code"]})])
    return Text("Noted.")


@pytest.fixture(autouse=True)
def _model_loaded(embedder: SentenceTransformerEmbedder) -> None:
    """Load the embedding model once for the session (servers share the loaded model)."""


@pytest.fixture
def small_buffer(settings: Settings, llm: ScriptedLLM) -> Settings:
    """A server whose buffer is trimmed every few turns, so sleeptime runs while the callers talk."""
    llm.default = _reply
    return memory_settings(settings, min_message_buffer_length=5, max_message_buffer_length=8)


@pytest.fixture
async def redis(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


class Calls:
    """The model requests each caller's turns caused (sleeptime requests run in the background and are left out)."""

    def __init__(self, llm: ScriptedLLM) -> None:
        self.llm = llm
        self.by_caller: dict[str, list[dict[str, Any]]] = {ADA: [], BOB: []}

    async def ask(self, client: RealtimeTestClient, caller: str, text: str) -> None:
        """One turn of `caller`, recording the voice requests it made."""
        before = len(self.llm.requests)
        await client.ask(text)
        self.by_caller[caller] += [r for r in self.llm.requests[before:] if not is_sleeptime(r)]


async def _open(gateway: Gateway, caller: str) -> RealtimeTestClient:
    return await RealtimeTestClient.open(ws_url(gateway, caller=caller))


async def _interleaved_calls(gateway: Gateway, calls: Calls, count: int) -> None:
    """`count` calls of each caller, both on the line at once, turns alternating; each tells their secret in call 1."""
    for number in range(count):
        ada, bob = await _open(gateway, ADA), await _open(gateway, BOB)
        for turn in range(4):
            for caller, client in ((ADA, ada), (BOB, bob)):
                text = f"My secret code is {SECRETS[caller]}." if number == turn == 0 else f"Call {number}, remark {turn}."
                await calls.ask(client, caller, text)
        await ada.close()
        await bob.close()


async def _jobs_done(redis: Redis) -> bool:
    return not await JobQueue(redis).queued()


async def _default_agent(redis: Redis) -> AgentRecord:
    agent = await AgentStore(redis).get("local", "default")
    assert agent is not None
    return agent


def _other(caller: str) -> str:
    return BOB if caller == ADA else ADA


async def _recall(gateway: Gateway, calls: Calls, caller: str) -> dict[str, Any]:
    """A later call where the caller asks what the agent remembers; returns the `search_memory` result."""
    client = await _open(gateway, caller)
    await calls.ask(client, caller, RECALL)
    await client.close()
    return tool_result(calls.by_caller[caller][-1])


async def test_two_callers_of_one_agent_never_see_each_others_memory_and_each_gets_their_own_back(
    small_buffer: Settings, llm: ScriptedLLM, redis: Redis
) -> None:
    calls = Calls(llm)
    async with running_server(small_buffer) as gateway:
        await _interleaved_calls(gateway, calls, 3)
        await wait_until(lambda: _jobs_done(redis), 60, "the sleeptime jobs")
        found_in_first_server = {caller: await _recall(gateway, calls, caller) for caller in (ADA, BOB)}
    async with running_server(small_buffer) as gateway:
        found_after_restart = {caller: await _recall(gateway, calls, caller) for caller in (ADA, BOB)}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as http:
            routes = {caller: (await http.get("/v1/agents/default/memory", params={"caller": caller})).text for caller in (ADA, BOB)}
    agent = await _default_agent(redis)
    sleeptime = [r for r in llm.requests if is_sleeptime(r)]
    assert len(sleeptime) >= 6  # both callers' conversations were trimmed and remembered several times
    assert all(not (SECRETS[ADA] in json.dumps(r) and SECRETS[BOB] in json.dumps(r)) for r in sleeptime)
    for caller in (ADA, BOB):
        own, other = SECRETS[caller], SECRETS[_other(caller)]
        assert all(other not in json.dumps(request) for request in calls.by_caller[caller])
        human = await BlockStore(redis).get(agent, Conversation.of(agent, caller), "human")
        assert human is not None and own in human.value and other not in human.value
        assert own in routes[caller] and other not in routes[caller]
        for found in (found_in_first_server[caller], found_after_restart[caller]):
            assert any(own in hit["content"] for hit in found["archival_search_results"])
            assert other not in json.dumps(found)
        assert own in calls.by_caller[caller][-1]["messages"][0]["content"]  # the human block is in the system prompt


async def test_a_connection_without_a_caller_id_starts_a_new_conversation_nobody_resumes(
    server: Gateway, llm: ScriptedLLM
) -> None:
    first = await RealtimeTestClient.open(ws_url(server))
    await first.ask("My secret code is ALPHA-7731.")
    await first.close()
    second = await RealtimeTestClient.open(ws_url(server))
    await second.ask("Hello?")
    await second.close()
    assert [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "user"] == ["Hello?"]


@pytest.mark.parametrize("caller", ["", "a" * 129, "ada smith", "ada\nsmith", "*", "ada}"])
async def test_a_malformed_caller_id_is_refused_with_a_clear_error(server: Gateway, caller: str) -> None:
    async with connect(ws_url(server, caller=caller)) as connection:
        error = json.loads(await connection.recv())
        with pytest.raises(ConnectionClosed):
            await connection.recv()
    assert error["type"] == "error" and error["error"]["code"] == "invalid_caller" and error["error"]["param"] == "caller"
    assert "caller id" in error["error"]["message"]
    assert connection.close_code == 1008


async def test_forgetting_a_caller_over_http_erases_their_conversation_and_no_one_elses(
    server: Gateway, llm: ScriptedLLM
) -> None:
    llm.default = Text("Noted.")
    for caller in (ADA, BOB):
        client = await _open(server, caller)
        await client.ask(f"My secret code is {SECRETS[caller]}.")
        await client.close()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
        forgot = await http.delete("/v1/agents/default/memory", params={"caller": ADA})
        again = await http.delete("/v1/agents/default/memory", params={"caller": ADA})
    for caller in (ADA, BOB):
        client = await _open(server, caller)
        await client.ask("What did I tell you?")
        await client.close()
    ada_context, bob_context = (json.dumps(r["messages"]) for r in llm.requests[-2:])
    assert forgot.status_code == 200 and forgot.json()["erased"] == {"messages": 2, "blocks": [], "jobs": 0, "passages": 0}
    assert again.status_code == 404 and again.json()["error"]["code"] == "caller_not_found"
    assert SECRETS[ADA] not in ada_context and SECRETS[BOB] in bob_context
