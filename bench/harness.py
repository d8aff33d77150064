"""What the benchmarks share: a `confab serve` subprocess against an instant scripted model."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.llm_server import ScriptedLLM, Text  # noqa: E402
from tests.redis_fixture import free_port  # noqa: E402


@dataclass(frozen=True)
class BenchServer:
    """A running server process and where to reach it."""

    process: subprocess.Popen[str]
    port: int

    def url(self, query: str = "") -> str:
        """The `/v1/realtime` URL."""
        return f"ws://127.0.0.1:{self.port}/v1/realtime" + (f"?{query}" if query else "")

    def rss_mb(self) -> float:
        """Resident memory of the server process."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def bench_server(answer: str, remote_embeddings: bool = False, log_path: Path | None = None) -> Iterator[BenchServer]:
    """`confab serve` on a free port (embedded Redis and Qdrant Edge in a temporary directory).

    With `remote_embeddings` the server embeds through the scripted server's `/v1/embeddings`
    instead of loading the bundled model (and torch). With `log_path` its log goes there.
    """
    llm = ScriptedLLM(default=Text(answer, chunk_chars=6)).start()
    port = free_port()
    env = {**os.environ, "CONFAB_LLM_BASE_URL": llm.base_url, "CONFAB_LLM_API_KEY": "bench", "CONFAB_LLM_MODEL": "scripted",
           "CONFAB_MAX_SESSIONS": "500"}
    if remote_embeddings:
        env |= {"CONFAB_EMBEDDER": "openai", "CONFAB_EMBEDDING_BASE_URL": llm.base_url, "CONFAB_EMBEDDING_MODEL": "scripted",
                "CONFAB_EMBEDDING_DIM": "384"}
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--data-dir", tempfile.mkdtemp(prefix="confab-bench-")],
        env=env, stdout=subprocess.PIPE, stderr=log_path.open("w") if log_path else subprocess.DEVNULL, text=True,
    )
    try:
        assert process.stdout is not None
        while "listening" not in process.stdout.readline():
            pass
        yield BenchServer(process, port)
    finally:
        process.terminate()
        process.wait()
        llm.stop()
