"""Operators while a server runs: `confab callers list`, `memory insert/search/forget --caller`, `tools list`.

The server is a real `confab serve` process holding the embedded Qdrant Edge store; the CLI
runs in this process (like the console script) and reaches archival memory through it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.tools.memory_tools import MEMORY_TOOL_NAMES
from redis.asyncio import Redis

from memory.agents import AgentStore
from memory.archival import EDGE_DIRECTORY, KNOWLEDGE, EdgeArchivalStore, Passage
from memory.conversations import Conversation
from memory.embedders import SentenceTransformerEmbedder
from memory.jobs import JobQueue
from memory.records import MessageRecord
from server.cli import main
from server.config import Settings
from server.runtime import Runtime
from tests.fakes.llm_server import Hang, Reply, ScriptedLLM, Text
from tests.memory.memory_helpers import is_sleeptime, memory_settings
from tests.realtime_client import RealtimeTestClient

REPO = Path(__file__).resolve().parents[2]
ADA, BOB = "+15550001111", "bob@example.com"
SECRETS = {ADA: "ALPHA-7731", BOB: "BRAVO-4419"}


def _reply(body: dict[str, Any]) -> Reply:
    """Voice turns answer at once; sleeptime runs never finish, so their jobs stay queued."""
    return Hang() if is_sleeptime(body) else Text("Noted.")


@dataclass
class Served:
    """A running `confab serve` process and its address."""

    process: subprocess.Popen[bytes]
    base: str

    def stop(self) -> None:
        """SIGTERM, and wait until it has released its stores."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def server(redis_url: str, llm: ScriptedLLM, tmp_path: Path, unused_tcp_port: int, embedder: SentenceTransformerEmbedder,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """A `confab serve` process (small buffer, Qdrant Edge under the data dir); the CLI's environment points at it."""
    data_dir = tmp_path / "data"
    env = {
        "REDIS_URL": redis_url, "CONFAB_DATA_DIR": str(data_dir), "CONFAB_SPEECH": "false", "CONFAB_CLI_SERVER_TIMEOUT_S": "20",
        "CONFAB_LLM_BASE_URL": llm.base_url, "CONFAB_LLM_API_KEY": "test-key", "CONFAB_JOBS_POLL_S": "0.2",
        "CONFAB_MIN_MESSAGE_BUFFER_LENGTH": "5", "CONFAB_MAX_MESSAGE_BUFFER_LENGTH": "8", "HF_HUB_OFFLINE": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    llm.default = _reply
    data_dir.mkdir()
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(unused_tcp_port)],
                                   cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        served = Served(process, f"127.0.0.1:{unused_tcp_port}")
        deadline = time.monotonic() + 90
        while not _ready(served.base):
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        yield served
        served.stop()


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"http://{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def _talk(base: str, caller: str, turns: int) -> None:
    client = await RealtimeTestClient.open(f"ws://{base}/v1/realtime?caller={caller.replace('+', '%2B')}")
    for turn in range(turns):
        await client.ask(f"My secret code is {SECRETS[caller]}." if turn == 0 else f"Remark {turn}.")
    await client.close()


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


async def _redis_holds(redis_url: str, needles: list[str]) -> set[str]:
    """Which of `needles` appear anywhere in Redis: key names, strings, lists, hashes and streams."""
    redis = Redis.from_url(redis_url)
    try:
        everything: list[str] = []
        async for key in redis.scan_iter():
            everything.append(key.decode())
            kind = (await redis.type(key)).decode()
            if kind == "string":
                everything.append((await redis.get(key)).decode())
            elif kind == "list":
                everything += [v.decode() for v in await redis.lrange(key, 0, -1)]
            elif kind == "hash":
                everything += [f"{k.decode()} {v.decode()}" for k, v in (await redis.hgetall(key)).items()]
            elif kind == "stream":
                everything += [str(fields) for _, fields in await redis.xrange(key)]
        return {n for n in needles if any(n in text for text in everything)}
    finally:
        await redis.aclose()


async def _agent(redis_url: str) -> tuple[str, dict[str, str]]:
    redis = Redis.from_url(redis_url)
    try:
        agent = await AgentStore(redis).get("local", "default")
        assert agent is not None
        return agent.id, {caller: Conversation.of(agent, caller).id for caller in (ADA, BOB)}
    finally:
        await redis.aclose()


async def _queued_jobs(redis_url: str) -> int:
    redis = Redis.from_url(redis_url)
    try:
        return len(await JobQueue(redis).queued())
    finally:
        await redis.aclose()


async def _edge_counts(data_dir: Path, agent_id: str, scopes: list[str]) -> list[int]:
    store = await EdgeArchivalStore.open(data_dir / EDGE_DIRECTORY, dim=384)
    try:
        return [await store.count(agent_id, [scope]) for scope in scopes]
    finally:
        await store.close()


def test_forget_while_a_server_runs_erases_everything_of_that_caller_and_nothing_else(
    server: Served, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for caller in (ADA, BOB):
        asyncio.run(_talk(server.base, caller, 6))
        _cli(capsys, "memory", "set", "default", "human", f"Secret code: {SECRETS[caller]}", "--caller", caller)
        _cli(capsys, "memory", "insert", "default", f"The caller's secret code is {SECRETS[caller]}.", "--caller", caller)
    _cli(capsys, "memory", "insert", "default", "Acme shops open at nine.")
    assert asyncio.run(_queued_jobs(redis_url)) == 2  # one eviction each, its sleeptime run hanging
    listed = _cli(capsys, "callers", "list", "default")
    found = _cli(capsys, "memory", "search", "default", "secret code", "--caller", ADA)

    forgot = _cli(capsys, "memory", "forget", "default", "--caller", ADA)

    after = _cli(capsys, "callers", "list", "default")
    agent_id, conversations = asyncio.run(_agent(redis_url))
    left_in_redis = asyncio.run(_redis_holds(redis_url, [SECRETS[ADA], conversations[ADA], SECRETS[BOB], conversations[BOB]]))
    server.stop()
    passages = asyncio.run(_edge_counts(tmp_path / "data", agent_id, [conversations[ADA], conversations[BOB], KNOWLEDGE]))
    assert [line.split("\t")[0] for line in listed.splitlines()] == [BOB, ADA]
    assert SECRETS[ADA] in found and SECRETS[BOB] not in found
    assert forgot.strip() == f"forgot caller {ADA} of default: 12 messages, blocks: human, 1 archival passages, 1 queued jobs"
    assert [line.split("\t")[0] for line in after.splitlines()] == [BOB]
    assert left_in_redis == {SECRETS[BOB], conversations[BOB]}
    assert passages == [0, 1, 1]


def test_tools_list_prints_what_the_model_gets_while_a_server_runs(
    server: Served, llm: ScriptedLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_talk(server.base, ADA, 1))
    listed = json.loads(_cli(capsys, "tools", "list", "default"))
    [request] = [r for r in llm.requests if not is_sleeptime(r)]
    assert listed == request["tools"] and [t["function"]["name"] for t in listed] == ["search_memory", *MEMORY_TOOL_NAMES]


@pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant")
async def test_forget_on_a_qdrant_server_store_leaves_nothing_of_that_caller(settings: Settings, redis_url: str) -> None:
    runtime = await Runtime.open(memory_settings(settings, qdrant_url=":memory:"), serving=False)
    try:
        archive = await runtime.memory.open_archive()
        agent = await runtime.agents.get_or_create_default("local")
        ada, bob = [await runtime.memory.conversations.open(agent, caller) for caller in (ADA, BOB)]
        for conversation in (ada, bob):
            secret = SECRETS[conversation.caller_id or ""]
            await runtime.messages.append([MessageRecord(conversation_id=conversation.id, role="user", content=f"My code is {secret}.")])
            await runtime.memory.blocks.set(agent, conversation, "human", f"Code: {secret}")
            await archive.insert([Passage(agent_id=agent.id, conversation_id=conversation.id, text=f"The code is {secret}.")])
        await archive.insert([Passage(agent_id=agent.id, text="Acme shops open at nine.")])
        erased = await runtime.memory.forget_caller(ada, archive)
        passages = [await archive.count(agent.id, [scope]) for scope in (ada.id, bob.id, KNOWLEDGE)]
    finally:
        await runtime.stop()
    left_in_redis = await _redis_holds(redis_url, [SECRETS[ADA], ada.id, SECRETS[BOB], bob.id])
    assert erased.describe() == "1 messages, blocks: human, 1 archival passages, 0 queued jobs"
    assert passages == [0, 1, 1]
    assert left_in_redis == {SECRETS[BOB], bob.id}
