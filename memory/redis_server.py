"""The embedded Redis: a private `redis-server` under the data directory, used when no REDIS_URL is set."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.asyncio import Redis as AsyncRedis

_MAX_UNIX_SOCKET_PATH = 100

log = logging.getLogger(__name__)


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be started or reached."""


@dataclass
class EmbeddedRedis:
    """A `redis-server` with AOF persistence listening on a unix socket in `data_dir/redis/`.

    Every process that opens the same data directory reaches the same Redis: if one
    is already listening for a live process (a running `confab serve`), `start()`
    attaches to it; otherwise it starts one and `stop()` shuts it down again. The
    starter's pid is kept in `owner.json`: a Redis whose starter died without stopping
    it (a SIGKILL, a crash) is shut down (its AOF flushed) and replaced by the next start.
    """

    data_dir: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def directory(self) -> Path:
        """Where the AOF files, the socket and the log live."""
        return self.data_dir.resolve() / "redis"

    @property
    def socket_path(self) -> Path:
        """The unix socket clients connect to."""
        return self.directory / "redis.sock"

    @property
    def owner_file(self) -> Path:
        """Which process started the running server: `{"server_pid": ..., "redis_pid": ...}`."""
        return self.directory / "owner.json"

    @property
    def url(self) -> str:
        """A redis-py URL for the socket."""
        return f"unix://{self.socket_path}"

    @property
    def owned(self) -> bool:
        """Whether this object started the server (and so stops it)."""
        return self._process is not None

    def _alive(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            with redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def _orphaned_redis_pid(self) -> int | None:
        """The pid of the running Redis when the process that started it is gone, else None."""
        try:
            owner = json.loads(self.owner_file.read_text())
            server_pid, redis_pid = int(owner["server_pid"]), int(owner["redis_pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # started by hand or by an older version: not ours to stop
        return None if _process_exists(server_pid) else redis_pid

    def _stop_orphan(self, redis_pid: int, timeout_s: float) -> None:
        log.warning("stopping the embedded redis-server (pid %d) left running by a server that died", redis_pid)
        try:
            with redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=timeout_s) as client:
                client.shutdown()
        except redis.RedisError:
            pass  # the connection drops as the server exits
        deadline = time.monotonic() + timeout_s
        while _process_exists(redis_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.owner_file.unlink(missing_ok=True)

    def start(self, timeout_s: float = 10.0) -> str:
        """Attach to the data directory's Redis, starting it if none is running; return its URL."""
        if self._alive():
            orphan = self._orphaned_redis_pid()
            if orphan is None:
                return self.url
            self._stop_orphan(orphan, timeout_s)
        binary = shutil.which("redis-server")
        if binary is None:
            raise EmbeddedRedisError(
                "redis-server is not installed (Debian: apt-get install redis-server), "
                "and REDIS_URL is not set"
            )
        if len(str(self.socket_path)) > _MAX_UNIX_SOCKET_PATH:
            raise EmbeddedRedisError(f"data directory path too long for a unix socket: {self.socket_path}")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        self._process = subprocess.Popen(
            [
                binary,
                "--port", "0",
                "--unixsocket", str(self.socket_path),
                "--unixsocketperm", "700",
                "--dir", str(self.directory),
                "--appendonly", "yes",
                "--appendfsync", "everysec",
                "--save", "",
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedRedisError(f"redis-server exited; see {self.directory / 'redis.log'}")
            if self._alive():
                self.owner_file.write_text(json.dumps({"server_pid": os.getpid(), "redis_pid": self._process.pid}))
                return self.url
            time.sleep(0.02)
        self.stop()
        raise EmbeddedRedisError(f"redis-server did not start within {timeout_s} s")

    def stop(self) -> None:
        """Shut the server down (flushing the AOF) if this object started it."""
        process, self._process = self._process, None
        if process is None:
            return
        self.owner_file.unlink(missing_ok=True)
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _process_exists(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


async def persistence_warning(client: AsyncRedis) -> str | None:
    """Why an external Redis may lose completed messages on a restart (no AOF), or None when it keeps them."""
    try:
        config = await client.config_get("appendonly")
    except redis.RedisError:
        return "could not read the Redis configuration (CONFIG GET appendonly); make sure it persists with AOF"
    if any(value in ("yes", b"yes") for value in config.values()):
        return None
    return "the Redis at REDIS_URL runs without AOF (appendonly no): a restart can lose every stored message; set appendonly yes"
