"""Sleeptime jobs survive what happens to the processes around them: a SIGKILLed server, a Redis outage."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from memory.agents import AgentStore
from memory.archival import EDGE_DIRECTORY, EdgeArchivalStore
from memory.blocks import BlockStore
from memory.buffer import BufferLimits, BufferTrimmer
from memory.embedders import SentenceTransformerEmbedder
from memory.conversations import Conversation, ConversationStore
from memory.jobs import JobQueue
from memory.messages import MessageStore
from memory.records import AgentRecord, MessageRecord
from server.config import Settings
from tests.conftest import running_server
from tests.fakes.llm_server import Hang, ScriptedLLM
from tests.memory.memory_helpers import SleeptimeScript, is_sleeptime, memory_settings, wait_until
from tests.redis_fixture import RedisProcess

REPO = Path(__file__).resolve().parents[2]
HUMAN = "Name: Ada. Her dog is Biscuit. (memory run 1)"


async def _queue_an_eviction(redis: Redis) -> tuple[AgentRecord, Conversation]:
    """A caller whose 16 turns overflow the buffer of their conversation: the trim queues one sleeptime job."""
    agent = await AgentStore(redis).create(AgentRecord(owner="local", name="default"))
    conversation = await ConversationStore(redis).open(agent, "ada")
    messages = MessageStore(redis)
    texts = ["Hi, I'm Ada and my dog is called Biscuit."] + [f"Small talk number {i}." for i in range(1, 16)]
    await messages.append([
        MessageRecord(conversation_id=conversation.id, role=role, content=text if role == "user" else "Noted.")
        for text in texts for role in ("user", "assistant")
    ])
    assert await BufferTrimmer(redis, messages, JobQueue(redis), BufferLimits()).trim(conversation) is not None
    return agent, conversation


async def _human_is(redis: Redis, agent: AgentRecord, conversation: Conversation, value: str) -> bool:
    block = await BlockStore(redis).get(agent, conversation, "human")
    return block is not None and block.value == value


@pytest.fixture
def serve(redis_url: str, llm: ScriptedLLM, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start `confab serve` processes against the test Redis and the scripted model; kills leftovers."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def _start(processes: list[subprocess.Popen[bytes]], redis_url: str, llm: ScriptedLLM, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ, "REDIS_URL": redis_url, "CONFAB_DATA_DIR": str(data_dir), "CONFAB_PORT": "0",
        "CONFAB_LLM_BASE_URL": llm.base_url, "CONFAB_LLM_API_KEY": "test-key", "CONFAB_SPEECH": "false",
        "CONFAB_JOBS_CLAIM_IDLE_S": "1.5", "CONFAB_JOBS_POLL_S": "0.2", "HF_HUB_OFFLINE": "1",
    }
    log = open(data_dir.parent / f"serve-{len(processes)}.log", "wb")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    processes.append(process)
    return process


async def _sleeptime_requests(llm: ScriptedLLM, count: int) -> bool:
    return len([r for r in llm.requests if is_sleeptime(r)]) >= count


async def test_a_job_whose_server_was_killed_mid_run_is_picked_up_after_restart(
    redis_url: str, llm: ScriptedLLM, tmp_path: Path, serve: list[subprocess.Popen[bytes]]
) -> None:
    script = SleeptimeScript()
    script.failures.append(Hang())  # the first server's model call never returns
    llm.default = script
    redis = Redis.from_url(redis_url)
    data_dir = tmp_path / "data"
    try:
        agent, conversation = await _queue_an_eviction(redis)
        first = _start(serve, redis_url, llm, data_dir)
        await wait_until(lambda: _sleeptime_requests(llm, 1), 60, "the first server to start the job")
        [taken] = await JobQueue(redis).pending()
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert [p.id for p in await JobQueue(redis).pending()] == [taken.id]
        second = _start(serve, redis_url, llm, data_dir)
        await wait_until(lambda: _human_is(redis, agent, conversation, HUMAN), 60, "the restarted server to finish the job")
        await wait_until(lambda: _no_jobs(redis), 10, "the job to be acknowledged")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
        assert await JobQueue(redis).dead() == []
    finally:
        await redis.aclose()
    store = await EdgeArchivalStore.open(data_dir / EDGE_DIRECTORY, dim=384)
    try:
        assert await store.count(agent.id) == 1
    finally:
        await store.close()


async def _no_jobs(redis: Redis) -> bool:
    return not await JobQueue(redis).queued()


async def test_a_redis_outage_does_not_crash_the_server_and_jobs_resume_after_it(
    settings: Settings, llm: ScriptedLLM, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    llm.default = SleeptimeScript()
    own = RedisProcess(tmp_path / "own-redis")
    own.start()
    try:
        async with running_server(memory_settings(settings, redis_url=own.url)) as gateway:
            worker = gateway.runtime.memory.worker
            assert worker is not None
            own.stop()
            await asyncio.sleep(1.5)
            assert worker.alive
            ready, checks = await gateway.readiness()
            assert not ready and str(checks["redis"]).startswith("unreachable")
            own.start()
            redis = Redis.from_url(own.url)
            try:
                agent, conversation = await _queue_an_eviction(redis)
                await wait_until(lambda: _human_is(redis, agent, conversation, HUMAN), 30, "the job after the outage")
            finally:
                await redis.aclose()
    finally:
        own.stop()
