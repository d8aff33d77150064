"""Many callers listening at once (VAD only), and the server's memory.

Starts `confab serve` against an instant scripted model, opens N sessions that stream
background noise in real-time 20 ms frames, and prints the server's CPU use and RSS
(with models loaded, and per extra session). While they listen, one more caller asks
a question, to show a turn still gets through.

    .venv/bin/python bench/listening_sessions.py --sessions 50 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audio.codecs import AudioFormat  # noqa: E402
from bench.harness import bench_server  # noqa: E402
from bench.turn_latency import one_session  # noqa: E402
from tests.audio.speech_data import read_wav  # noqa: E402
from tests.realtime_client import RealtimeTestClient  # noqa: E402
from tests.voice_client import stream, voice_session  # noqa: E402

FORMAT = AudioFormat("audio/pcm", 24000)


async def listen(url: str, seconds: float) -> int:
    """Stream noise for `seconds`; return how many turns the server (wrongly) detected."""
    client = await RealtimeTestClient.open(url, voice_session(FORMAT))
    noise = read_wav("noise.wav")
    await stream(client, FORMAT, np.tile(noise, int(seconds * 16000 // len(noise)) + 1)[: int(seconds * 16000)])
    await client.close()
    return sum(e["type"] == "input_audio_buffer.speech_started" for e in client.received)


async def run(sessions: int, seconds: float, remote_embeddings: bool) -> None:
    """Measure RSS and CPU while `sessions` callers listen."""
    with bench_server("The museum is open from ten until four.", remote_embeddings) as server:
        idle_rss = server.rss_mb()
        cpu_before, wall_before = server.cpu_seconds(), time.monotonic()
        listeners = [asyncio.create_task(listen(server.url(), seconds)) for _ in range(sessions)]
        asked: list[dict[str, float]] = []
        asker = asyncio.create_task(one_session(server.url("latency=1"), 1, seconds / 2, asked))
        await asyncio.sleep(seconds * 0.8)
        busy_rss = server.rss_mb()
        false_turns = sum(await asyncio.gather(*listeners))
        cpu = (server.cpu_seconds() - cpu_before) / (time.monotonic() - wall_before)
        await asker
        print(f"server RSS with models loaded, idle: {idle_rss:.0f} MB")
        print(f"server RSS with {sessions} listening sessions: {busy_rss:.0f} MB ({(busy_rss - idle_rss) / sessions:.2f} MB per session)")
        print(f"server CPU while {sessions} sessions listen: {cpu * 100:.0f}% of one core (2 cores = 200%)")
        print(f"turns wrongly detected in noise: {false_turns}")
        print(f"a question asked meanwhile: speech end -> first answer audio {asked[0]['latency']:.0f} ms" if asked else "the question got no answer")


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--remote-embeddings", action="store_true", help="embed via /v1/embeddings, not the bundled model")
    args = parser.parse_args()
    asyncio.run(run(args.sessions, args.seconds, args.remote_embeddings))


if __name__ == "__main__":
    main()
