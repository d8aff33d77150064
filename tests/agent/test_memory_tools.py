"""The voice agent's own memory tools, through a real server: real Redis, Qdrant Edge and MiniLM; only the model is scripted."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from memory.agents import AgentStore
from memory.blocks import BlockStore
from memory.conversations import Conversation
from memory.records import AgentRecord
from server.app import Gateway
from server.config import Settings
from tests.conftest import running_server, ws_url
from tests.fakes.llm_server import Call, ScriptedLLM, Text, ToolCalls
from tests.memory.memory_helpers import open_redis
from tests.realtime_client import RealtimeTestClient


CALLER = "ada@example.com"


async def _agent(settings: Settings, **fields: Any) -> AgentRecord:
    async with open_redis(settings) as redis:
        return await AgentStore(redis).create(AgentRecord(owner="local", name="ada-helper", **fields))


async def _block(gateway: Gateway, agent: AgentRecord, label: str) -> str:
    block = await BlockStore(gateway.runtime.redis).get(agent, Conversation.of(agent, CALLER), label)
    assert block is not None
    return block.value


@asynccontextmanager
async def _talking(settings: Settings) -> AsyncIterator[tuple[Gateway, RealtimeTestClient]]:
    async with running_server(settings.model_copy(update={"speech": False})) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway, model="ada-helper", caller=CALLER))
        try:
            yield gateway, client
        finally:
            await client.close()


def _call(name: str, **arguments: Any) -> ToolCalls:
    return ToolCalls([Call(name, {"pre_exec_msg": "One moment.", **arguments})])


def _result(request: dict[str, Any]) -> Any:
    return json.loads([m for m in request["messages"] if m["role"] == "tool"][-1]["content"])


async def test_remember_my_gate_code_is_in_the_human_block_before_the_turn_ends(settings: Settings, llm: ScriptedLLM) -> None:
    agent = await _agent(settings)
    llm.script(_call("memory_insert", text="Gate code: 4412"), Text("Got it, 4412."))
    async with _talking(settings) as (gateway, client):
        reply, _ = await client.ask("Please remember my gate code is 4412.")
        human = await _block(gateway, agent, "human")
    assert reply == "One moment.Got it, 4412."
    assert human == "Gate code: 4412"
    assert "Gate code: 4412\n</human>" in llm.requests[1]["messages"][0]["content"]


async def test_memory_replace_corrects_one_fact_in_the_block(settings: Settings, llm: ScriptedLLM) -> None:
    agent = await _agent(settings)
    llm.script(_call("memory_insert", text="Lives in Lisbon.\nDog: Biscuit."), Text("Noted."),
               _call("memory_replace", old_text="Lisbon", new_text="Porto"), Text("Updated."))
    async with _talking(settings) as (gateway, client):
        await client.ask("I live in Lisbon and my dog is Biscuit.")
        await client.ask("Actually I moved to Porto.")
        human = await _block(gateway, agent, "human")
    assert human == "Lives in Porto.\nDog: Biscuit."


async def test_the_agent_cannot_edit_the_persona_every_caller_shares(settings: Settings, llm: ScriptedLLM) -> None:
    agent = await _agent(settings)
    llm.script(_call("memory_insert", label="persona", text="Always agree with Ada."), Text("I can't."))
    async with _talking(settings) as (gateway, client):
        await client.ask("Change your personality.")
        persona = await _block(gateway, agent, "persona")
    assert "caller's own blocks" in _result(llm.requests[1])["error"]
    assert "Always agree" not in persona


async def test_an_operator_can_turn_memory_tools_off(settings: Settings, llm: ScriptedLLM) -> None:
    await _agent(settings, memory_tools=["conversation_search"])
    llm.script(Text("Hello."))
    async with _talking(settings) as (_, client):
        await client.ask("Hi.")
    offered = {t["function"]["name"] for t in llm.requests[0]["tools"]}
    assert offered == {"search_memory", "conversation_search"}


async def test_an_archived_note_is_found_by_its_own_query_within_its_dates(settings: Settings, llm: ScriptedLLM) -> None:
    await _agent(settings)
    llm.script(
        _call("archival_memory_insert", text="Ada's sister Grace visits from 2026-06-10 to 2026-06-14.", tags=["family"]),
        Text("Noted."),
        _call("archival_memory_search", query="Grace's visit", start_date="2000-01-01", end_date="2100-01-01"),
        Text("From the 10th."),
        _call("archival_memory_search", query="Grace's visit", start_date="2001-01-01", end_date="2001-12-31"),
        Text("I don't know."),
    )
    async with _talking(settings) as (_, client):
        await client.ask("My sister Grace visits June 10 to 14.")
        await client.ask("When does Grace come?")
        await client.ask("Did Grace visit in 2001?")
    [found] = _result(llm.requests[3])["result"]
    assert found["content"] == "Ada's sister Grace visits from 2026-06-10 to 2026-06-14."
    assert _result(llm.requests[5])["result"] == []


async def test_conversation_search_finds_earlier_words_but_not_the_question(settings: Settings, llm: ScriptedLLM) -> None:
    await _agent(settings)
    llm.script(Text("Nice boat."), _call("conversation_search", query="Petrel"), Text("Your boat is the Petrel."))
    async with _talking(settings) as (_, client):
        await client.ask("My boat is called Petrel.")
        await client.ask("What did I say about Petrel?")
    assert [r["content"] for r in _result(llm.requests[2])["result"]] == ["My boat is called Petrel."]


async def test_an_edit_by_the_agent_is_in_the_blocks_history_as_the_agents(settings: Settings, llm: ScriptedLLM) -> None:
    agent = await _agent(settings)
    llm.script(_call("memory_insert", text="Prefers mornings."), Text("Noted."))
    async with _talking(settings) as (gateway, client):
        await client.ask("I prefer morning appointments.")
        [version] = await BlockStore(gateway.runtime.redis).history(agent, Conversation.of(agent, CALLER), "human")
    assert (version.author, version.before, version.after) == ("agent", "", "Prefers mornings.")
