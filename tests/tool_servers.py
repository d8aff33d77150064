"""Real tool servers on loopback for the tests: the test MCP server (stdio or HTTP) and a webhook receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from memory.agents import AgentStore
from memory.records import AgentRecord
from memory.tool_records import MCPStdioServer

ROOT = Path(__file__).resolve().parents[1]


async def create_agent(redis_url: str, **fields: Any) -> AgentRecord:
    """Store an agent of owner `local` (the owner of a server without API keys)."""
    redis = Redis.from_url(redis_url)
    try:
        return await AgentStore(redis).create(AgentRecord(owner="local", **fields))
    finally:
        await redis.aclose()


def stdio_server(log: Path, **fields: Any) -> MCPStdioServer:
    """The test MCP server as an agent's stdio server entry, noting what it does in `log`."""
    return MCPStdioServer(command=sys.executable, args=["-m", "tests.mcp_server", "--log", str(log)], cwd=str(ROOT), **fields)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def http_mcp_server(log: Path) -> Iterator[str]:
    """The test MCP server over streamable HTTP in its own process; yields its endpoint URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.mcp_server", "--http", str(port), "--log", str(log)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the HTTP MCP server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.kill()
        process.wait()


@dataclass
class WebhookReceiver:
    """A loopback HTTP server that checks Confab's signature and answers with a scripted status and JSON."""

    secret: str
    status: int = 200
    reply: Any = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0

    def verify(self, timestamp: str, body: bytes, signature: str) -> bool:
        """Check the signature the way a receiver should: HMAC-SHA256 over `timestamp.body`."""
        expected = "sha256=" + hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature) and abs(time.time() - int(timestamp)) < 300

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Listen on a free loopback port until the block ends; yields the URL."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp, signature = self.headers.get("X-Confab-Timestamp", "0"), self.headers.get("X-Confab-Signature", "")
                if not receiver.verify(timestamp, body, signature):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.requests.append(json.loads(body))
                payload = json.dumps(receiver.reply).encode()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/hooks/order"
        finally:
            server.shutdown()
            server.server_close()
