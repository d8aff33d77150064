"""The embedded Redis lives and dies with the server that started it, a SIGKILLed one included."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from memory.redis_server import EmbeddedRedis, _process_exists
from tests.conftest import conversation_history
from tests.fakes.llm_server import ScriptedLLM, Text
from tests.realtime_client import RealtimeTestClient


def _serve(data_dir: Path, llm_base_url: str = "http://127.0.0.1:9/v1") -> tuple[subprocess.Popen[str], int]:
    """`confab serve` on its embedded Redis under `data_dir`, text only, once it listens; and its port."""
    env = {**os.environ, "CONFAB_SPEECH": "false", "CONFAB_LLM_BASE_URL": llm_base_url, "CONFAB_LLM_API_KEY": "x"}
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", "0", "--data-dir", str(data_dir)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    while "listening" not in (line := process.stdout.readline()):
        assert line, "confab serve exited before listening"
    port = re.search(r":(\d+)/v1/realtime", line)
    assert port is not None, line
    return process, int(port.group(1))


def _redis_pid(data_dir: Path) -> int:
    return int(json.loads(EmbeddedRedis(data_dir).owner_file.read_text())["redis_pid"])


def _gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while _process_exists(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_restart_after_a_sigkill_replaces_the_orphaned_redis_and_keeps_its_data(tmp_path: Path) -> None:
    killed, _ = _serve(tmp_path)
    orphan = _redis_pid(tmp_path)
    with redis.Redis(unix_socket_path=str(EmbeddedRedis(tmp_path).socket_path)) as client:
        client.set("written-before-the-crash", "kept")
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert _process_exists(orphan)

    restarted, _ = _serve(tmp_path)
    replacement = _redis_pid(tmp_path)
    with redis.Redis(unix_socket_path=str(EmbeddedRedis(tmp_path).socket_path)) as client:
        kept = client.get("written-before-the-crash")
    restarted.send_signal(signal.SIGINT)
    restarted.wait(timeout=30)

    assert replacement != orphan and _gone(orphan)
    assert kept == b"kept"
    assert _gone(replacement)


async def test_a_server_killed_mid_answer_five_times_keeps_every_completed_turn_and_each_interrupted_question(
        tmp_path: Path, llm: ScriptedLLM) -> None:
    orphans = []
    for kill in range(5):
        llm.script(Text(f"Answer {kill}."), Text("A long answer that is still being written. " * 40, delay=0.05))
        killed, port = await asyncio.to_thread(_serve, tmp_path, llm.base_url)
        client = await RealtimeTestClient.open(f"ws://127.0.0.1:{port}/v1/realtime?caller=kill-test")
        _, answered = await client.ask(f"Question {kill}?")
        assert answered[-1]["response"]["status"] == "completed"
        await client.say(f"Interrupted question {kill}?")
        await client.until_type("response.output_text.delta")
        orphans.append(_redis_pid(tmp_path))
        killed.send_signal(signal.SIGKILL)
        await asyncio.to_thread(killed.wait)

    last, _ = await asyncio.to_thread(_serve, tmp_path)
    replacement = _redis_pid(tmp_path)
    stored = [(m.role, m.content) for m in await conversation_history(f"unix://{EmbeddedRedis(tmp_path).socket_path}")]
    last.send_signal(signal.SIGINT)
    await asyncio.to_thread(last.wait, 30)

    completed = [turn for kill in range(5) for turn in (("user", f"Question {kill}?"), ("assistant", f"Answer {kill}."))]
    assert [m for m in stored if m[1] != "" and not m[1].startswith("A long answer")] == [
        turn for kill in range(5) for turn in (*completed[2 * kill:2 * kill + 2], ("user", f"Interrupted question {kill}?"))]
    assert all(_gone(pid) for pid in [*orphans, replacement]), "no Redis of a killed server outlives the last one"
