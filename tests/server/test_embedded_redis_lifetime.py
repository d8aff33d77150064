"""The embedded Redis lives and dies with the server that started it, a SIGKILLed one included."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from memory.redis_server import EmbeddedRedis, _process_exists


def _serve(data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CONFAB_SPEECH": "false", "CONFAB_LLM_BASE_URL": "http://127.0.0.1:9/v1", "CONFAB_LLM_API_KEY": "x"}
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", "0", "--data-dir", str(data_dir)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    while "listening" not in (line := process.stdout.readline()):
        assert line, "confab serve exited before listening"
    return process


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
    killed = _serve(tmp_path)
    orphan = _redis_pid(tmp_path)
    with redis.Redis(unix_socket_path=str(EmbeddedRedis(tmp_path).socket_path)) as client:
        client.set("written-before-the-crash", "kept")
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert _process_exists(orphan)

    restarted = _serve(tmp_path)
    replacement = _redis_pid(tmp_path)
    with redis.Redis(unix_socket_path=str(EmbeddedRedis(tmp_path).socket_path)) as client:
        kept = client.get("written-before-the-crash")
    restarted.send_signal(signal.SIGINT)
    restarted.wait(timeout=30)

    assert replacement != orphan and _gone(orphan)
    assert kept == b"kept"
    assert _gone(replacement)
