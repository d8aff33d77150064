"""Shared fixtures: a real Redis, the scripted model server and a Confab server on loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from redis.asyncio import Redis as AsyncRedis  # noqa: E402

from memory.agents import AgentStore  # noqa: E402
from memory.conversations import ConversationStore  # noqa: E402
from memory.messages import MessageStore  # noqa: E402
from memory.records import MessageRecord  # noqa: E402
from server.app import Gateway  # noqa: E402
from server.config import Settings  # noqa: E402
from server.runtime import Runtime  # noqa: E402
from tests.fakes.llm_server import ScriptedLLM  # noqa: E402
from tests.redis_fixture import RedisProcess  # noqa: E402


@pytest.fixture(scope="session")
def redis_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """One real redis-server for the whole test session."""
    process = RedisProcess(tmp_path_factory.mktemp("redis"))
    process.start()
    yield process
    process.stop()


@pytest.fixture
def redis_url(redis_process: RedisProcess) -> str:
    """The Redis URL, emptied before each test."""
    redis.Redis.from_url(redis_process.url).flushall()
    return redis_process.url


@pytest.fixture(scope="session")
def llm_server() -> Iterator[ScriptedLLM]:
    """The scripted OpenAI-compatible model server."""
    server = ScriptedLLM()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def llm(llm_server: ScriptedLLM) -> ScriptedLLM:
    """The scripted model with an empty script and request log."""
    llm_server.clear()
    return llm_server


@pytest.fixture
def settings(redis_url: str, llm: ScriptedLLM, tmp_path: Path) -> Settings:
    """Server settings pointing at the test Redis and the scripted model, on a free port."""
    return Settings(
        host="127.0.0.1", port=0, data_dir=tmp_path / "data", redis_url=redis_url,
        llm_base_url=llm.base_url, llm_api_key="test-key", llm_model="scripted",
        llm_retry_budget_s=3.0,
    )


@asynccontextmanager
async def running_server(settings: Settings) -> AsyncIterator[Gateway]:
    """A Confab gateway serving on loopback until the block ends."""
    runtime = Runtime(settings)
    await runtime.start()
    gateway = Gateway(runtime)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()
        await runtime.stop()


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Gateway]:
    """A running Confab server with default settings."""
    async with running_server(settings) as gateway:
        yield gateway


def ws_url(gateway: Gateway, **query: Any) -> str:
    """The `/v1/realtime` URL of a running gateway."""
    suffix = urlencode(query)
    return f"ws://127.0.0.1:{gateway.port}/v1/realtime" + (f"?{suffix}" if suffix else "")


async def conversation_history(redis_url: str, agent_name: str = "default", owner: str = "local") -> list[MessageRecord]:
    """The stored history of the agent's one conversation (the test had exactly one caller)."""
    client = AsyncRedis.from_url(redis_url)
    try:
        agent = await AgentStore(client).get(owner, agent_name)
        assert agent is not None
        [conversation] = await ConversationStore(client).all(agent)
        return await MessageStore(client).history(conversation.id)
    finally:
        await client.aclose()
