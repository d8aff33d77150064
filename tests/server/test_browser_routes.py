"""The browser client's HTTP routes: the page and its files, and the authenticated agents and memory JSON."""

from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis

from memory.agents import AgentStore
from memory.blocks import BlockStore
from memory.conversations import Conversation
from memory.records import AgentRecord
from server.app import Gateway
from server.config import Settings
from tests.conftest import running_server


async def _get(port: int, path: str, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}", headers=headers)


@pytest.mark.parametrize(("path", "content_type"), [
    ("/", "text/html"), ("/static/app.js", "text/javascript"), ("/static/style.css", "text/css"),
    ("/static/capture-worklet.js", "text/javascript"), ("/static/playback-worklet.js", "text/javascript"),
])
async def test_the_page_and_its_files_are_served_with_their_content_types(server: Gateway, path: str, content_type: str) -> None:
    response = await _get(server.port, path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert response.text


@pytest.mark.parametrize("path", ["/static/", "/static/missing.js", "/static/../app.py", "/static/..%2Fapp.py", "/static/.hidden.js"])
async def test_nothing_outside_the_static_files_is_served(server: Gateway, path: str) -> None:
    assert (await _get(server.port, path)).status_code == 404


async def test_agents_and_memory_need_a_key_and_stay_within_the_owner(settings: Settings, redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    agents = AgentStore(redis)
    mine = await agents.create(AgentRecord(owner="alice", name="guide", system_prompt="You guide visitors."))
    await agents.create(AgentRecord(owner="bob", name="secret"))
    await BlockStore(redis).set(mine, Conversation.of(mine, "ada"), "human", "Name: Ada.")
    await redis.aclose()
    keyed = settings.model_copy(update={"api_keys": ["alice:a-key", "bob:b-key"]})
    async with running_server(keyed) as server:
        for path in ["/v1/agents", "/v1/agents/guide/memory"]:
            refused = await _get(server.port, path, "wrong")
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
            assert (await _get(server.port, path)).status_code == 401
        listed = await _get(server.port, "/v1/agents", "a-key")
        assert [a["name"] for a in listed.json()["agents"]] == ["guide"]
        memory = (await _get(server.port, "/v1/agents/guide/memory?caller=ada", "a-key")).json()
        assert memory["agent"] == "guide"
        assert {b["label"]: b["value"] for b in memory["blocks"]} == {"persona": "You guide visitors.", "human": "Name: Ada."}
        assert (await _get(server.port, "/v1/agents/guide/memory", "b-key")).status_code == 404
        assert (await _get(server.port, "/v1/agents/guide/other", "a-key")).status_code == 404
