"""`confab memory` and `confab jobs` on the same stores as the server (run in-process, like the console script)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from redis.asyncio import Redis

from memory import keys
from memory.archival import EDGE_DIRECTORY, EdgeArchivalStore
from memory.embedders import SentenceTransformerEmbedder
from memory.jobs import Job, JobQueue
from server.cli import main


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, redis_url: str, tmp_path: Path, embedder: SentenceTransformerEmbedder) -> Path:
    """The environment a `confab` command reads: the test Redis, a fresh data directory, no speech models."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CONFAB_DATA_DIR", str(data_dir))
    monkeypatch.setenv("CONFAB_SPEECH", "false")
    assert main(["agents", "create", "support", "--prompt", "You are Acme's support line."]) == 0
    return data_dir


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inserted_passages_are_found_by_meaning_and_counted(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "memory", "insert", "support", "Ada's dog is called Biscuit.", "--tag", "manual")[0] == 0
    assert _run(capsys, "memory", "insert", "support", "The invoice was paid in March.")[0] == 0
    code, out, _ = _run(capsys, "memory", "search", "support", "What is the name of the dog?", "--limit", "1")
    assert code == 0 and out.strip().endswith("Ada's dog is called Biscuit.")
    code, out, _ = _run(capsys, "memory", "show", "support")
    assert code == 0 and "archived passages: 2" in out
    assert "[persona] 28/5000 characters\n    You are Acme's support line." in out


def test_a_block_edit_over_its_limit_is_refused_with_a_clear_message(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "memory", "set", "support", "human", "Name: Ada.", "--limit", "12", "--caller", "ada")[0] == 0
    code, _, err = _run(capsys, "memory", "set", "support", "human", "Name: Ada. Likes tea.", "--caller", "ada")
    assert code == 1 and "'human' is limited to 12 characters but the new value has 21" in err
    code, out, _ = _run(capsys, "memory", "show", "support", "--caller", "ada")
    assert "[human] 10/12 characters\n    Name: Ada." in out


async def _requests_left(data_dir: Path) -> int:
    redis = Redis.from_url(os.environ["REDIS_URL"])
    try:
        return len(await JobQueue(redis, keys.requests()).queued())
    finally:
        await redis.aclose()


def test_archival_commands_and_a_second_server_say_clearly_when_nobody_answers_for_the_embedded_store(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    held = asyncio.run(EdgeArchivalStore.open(cli_env / EDGE_DIRECTORY, dim=384))
    monkeypatch.setenv("CONFAB_CLI_SERVER_TIMEOUT_S", "1")
    try:
        code, _, err = _run(capsys, "memory", "search", "support", "dog")
        assert code == 1 and "no running server answered within 1 s" in err and "QDRANT_URL" in err
        code, out, _ = _run(capsys, "memory", "show", "support")
        assert code == 0 and "archived passages: unavailable (no running server answered" in out
        assert asyncio.run(_requests_left(cli_env)) == 0
        code, _, err = _run(capsys, "serve", "--port", "0")
        assert code == 2 and "cannot open archival memory" in err and "QDRANT_URL" in err
    finally:
        asyncio.run(held.close())


async def _passages(data_dir: Path, agent_id: str) -> int:
    store = await EdgeArchivalStore.open(data_dir / EDGE_DIRECTORY, dim=384)
    try:
        return await store.count(agent_id)
    finally:
        await store.close()


def test_deleting_an_agent_deletes_its_passages_or_nothing(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agent_id = _run(capsys, "agents", "show", "support")[1].split('"id": "')[1].split('"')[0]
    assert _run(capsys, "memory", "insert", "support", "Ada's dog is called Biscuit.")[0] == 0
    held = asyncio.run(EdgeArchivalStore.open(cli_env / EDGE_DIRECTORY, dim=384))
    try:
        code, _, err = _run(capsys, "agents", "delete", "support")
        assert code == 1 and "support was not deleted: cannot open archival memory" in err
    finally:
        asyncio.run(held.close())
    assert asyncio.run(_passages(cli_env, agent_id)) == 1
    assert _run(capsys, "agents", "delete", "support")[0] == 0
    assert asyncio.run(_passages(cli_env, agent_id)) == 0


async def _park_one(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    queue = JobQueue(client)
    await queue.ensure_group()
    await queue.enqueue("sleeptime", '{"agent_id": "agent-1"}')
    [job] = await queue.read_new("gone", 1, None)
    await queue.park(Job(job.id, job.kind, job.payload, deliveries=5), "RuntimeError: model down")
    await client.aclose()


def test_parked_jobs_are_listed_and_replayed(cli_env: Path, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_park_one(redis_url))
    code, out, _ = _run(capsys, "jobs", "list")
    assert code == 0 and "queued: 0" in out and "parked (dead letters): 1" in out
    assert "sleeptime\tagent agent-1\t5 attempts" in out and "RuntimeError: model down" in out
    assert _run(capsys, "jobs", "replay")[0] == 1
    code, out, _ = _run(capsys, "jobs", "replay", "--all")
    assert code == 0 and "replayed 1 job(s)" in out
    code, out, _ = _run(capsys, "jobs", "list")
    assert "queued: 1" in out and "parked (dead letters): 0" in out


def test_bad_buffer_settings_stop_the_command_with_a_clear_error(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONFAB_MAX_MESSAGE_BUFFER_LENGTH", "10")
    monkeypatch.setenv("CONFAB_MIN_MESSAGE_BUFFER_LENGTH", "12")
    code, _, err = _run(capsys, "serve")
    assert code == 2 and "max_message_buffer_length (10) must be greater than min_message_buffer_length (12)" in err
