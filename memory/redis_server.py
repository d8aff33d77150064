"""The embedded Redis: a private `redis-server` under the data directory, used when no REDIS_URL is set."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

_MAX_UNIX_SOCKET_PATH = 100


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be started or reached."""


@dataclass
class EmbeddedRedis:
    """A `redis-server` with AOF persistence listening on a unix socket in `data_dir/redis/`.

    Every process that opens the same data directory reaches the same Redis: if one
    is already listening (a running `confab serve`), `start()` attaches to it;
    otherwise it starts one and `stop()` shuts it down again.
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

    def start(self, timeout_s: float = 10.0) -> str:
        """Attach to the data directory's Redis, starting it if none is running; return its URL."""
        if self._alive():
            return self.url
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
                return self.url
            time.sleep(0.02)
        self.stop()
        raise EmbeddedRedisError(f"redis-server did not start within {timeout_s} s")

    def stop(self) -> None:
        """Shut the server down (flushing the AOF) if this object started it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
