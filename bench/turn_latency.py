"""Turn latency of a running Confab server, as a caller feels it: speech end -> first answer audio byte.

Starts `confab serve` (embedded Redis in a temporary directory) against an instant
scripted model, then plays the test speech (espeak voices, not Confab's own) into
`/v1/realtime` in real-time 20 ms frames from 1 and from N concurrent sessions, and
prints p50/p95 of the latency and of each server stage (from `?latency=1` events), and
how many speculative transcriptions ran or were dropped before they started (`/metrics`).

    .venv/bin/python bench/turn_latency.py --sessions 1,8 --turns 4
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audio.codecs import AudioFormat  # noqa: E402
from bench.harness import bench_server  # noqa: E402
from tests.audio.speech_data import SPEECH_FILES, read_wav, silence  # noqa: E402
from tests.realtime_client import RealtimeTestClient  # noqa: E402
from tests.voice_client import stream, voice_session  # noqa: E402

FORMAT = AudioFormat("audio/pcm", 24000)
ANSWER = "Sure, I can help with that. Let me explain the details for you now."


def speech_end_ms(samples: np.ndarray) -> float:
    """Where the last audible sample is (espeak WAVs end with a little silence)."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 500)
    return (loud[-1] + 1) / 16 if len(loud) else 0.0


async def one_session(url: str, turns: int, offset_s: float, results: list[dict[str, float]]) -> None:
    """One caller: `turns` questions, each answered before the next."""
    await asyncio.sleep(offset_s)
    client = await RealtimeTestClient.open(url, voice_session(FORMAT))
    for turn in range(turns):
        speech = read_wav(SPEECH_FILES[turn % len(SPEECH_FILES)])
        lead = silence(300)
        audio = np.concatenate([lead, speech, silence(1500)])
        started = time.monotonic()
        sender = asyncio.create_task(stream(client, FORMAT, audio))
        speech_end = started + (300 + speech_end_ms(speech)) / 1000
        first_audio = None
        stages: dict[str, float] = {}
        while True:
            event = await client.next_event(timeout=60)
            if event["type"] == "response.output_audio.delta" and first_audio is None:
                first_audio = time.monotonic()
            if event["type"] == "confab.turn.latency":
                stages = event["stages_ms"]
                break
        await sender
        if first_audio is not None:
            results.append({"latency": (first_audio - speech_end) * 1000, **stages})
        await asyncio.sleep(random.uniform(0.5, 1.5))
    await client.close()


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def speculation(port: int) -> dict[str, float]:
    """The server's speculative transcription counts so far."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    counts = {"run": 0.0, "dropped": 0.0}
    for line in text.splitlines():
        if line.startswith("confab_stt_speculative_total{"):
            outcome = line.split('outcome="')[1].split('"')[0]
            counts[outcome] = float(line.split()[-1])
    return counts


def report(label: str, results: list[dict[str, float]]) -> None:
    """Print p50/p95 of the latency and of each stage."""
    print(f"\n{label}: {len(results)} turns")
    keys = ["latency"] + sorted({k for r in results for k in r} - {"latency"}, key=lambda k: statistics.median(r[k] for r in results if k in r))
    for key in keys:
        values = [r[key] for r in results if key in r]
        print(f"  {key:<18} p50 {percentile(values, 50):7.0f} ms   p95 {percentile(values, 95):7.0f} ms")


async def run(sessions: list[int], turns: int) -> None:
    """Start the server and the scripted model, then measure each concurrency level."""
    with bench_server(ANSWER) as server:
        print(f"silence_duration_ms=500 (server default), answer: {len(ANSWER.split())} words, instant model")
        for count in sessions:
            results: list[dict[str, float]] = []
            before = speculation(server.port)
            offsets = [random.uniform(0, 3) if count > 1 else 0 for _ in range(count)]
            await asyncio.gather(*(one_session(server.url("latency=1"), turns, offset, results) for offset in offsets))
            report(f"{count} session(s)", results)
            after = speculation(server.port)
            print(f"  speculative STT    run {after['run'] - before['run']:.0f}, dropped before starting "
                  f"{after['dropped'] - before['dropped']:.0f}")


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="1,8", help="comma-separated concurrency levels")
    parser.add_argument("--turns", type=int, default=6, help="turns per session")
    args = parser.parse_args()
    asyncio.run(run([int(n) for n in args.sessions.split(",")], args.turns))


if __name__ == "__main__":
    main()
