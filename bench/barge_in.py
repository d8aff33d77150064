"""Barge-in as a caller feels it: from the start of their speech over the answer to silence.

Starts `confab serve` against an instant scripted model with a long answer, asks a question
by voice into `/v1/realtime` (real-time 20 ms frames), and once the answer's audio has played
for a while speaks again. Prints p50/p95 of the time from the barge-in speech's start to
`input_audio_buffer.speech_started`, to the last answer audio frame received, and to
`response.done` (`cancelled`).

    .venv/bin/python bench/barge_in.py --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import bench_server  # noqa: E402
from bench.turn_latency import FORMAT, percentile  # noqa: E402
from tests.audio.speech_data import SPEECH_FILES, read_wav, silence  # noqa: E402
from tests.realtime_client import RealtimeTestClient  # noqa: E402
from tests.voice_client import stream, voice_session  # noqa: E402

ANSWER = " ".join(["This answer goes on for quite a while so that the caller has time to interrupt it."] * 4)
LEAD_MS = 300


async def one_round(url: str, turn: int) -> dict[str, float]:
    """Ask, let the answer play for a second, barge in; the stage times after the barge-in speech began."""
    client = await RealtimeTestClient.open(url, voice_session(FORMAT))
    question = np.concatenate([silence(LEAD_MS), read_wav(SPEECH_FILES[turn % len(SPEECH_FILES)]), silence(1500)])
    await stream(client, FORMAT, question)
    while (await client.next_event(timeout=60))["type"] != "response.output_audio.delta":
        pass
    await asyncio.sleep(1.0)
    interruption = np.concatenate([silence(LEAD_MS), read_wav(SPEECH_FILES[(turn + 1) % len(SPEECH_FILES)])])
    began = time.monotonic() + LEAD_MS / 1000
    sender = asyncio.create_task(stream(client, FORMAT, interruption))
    stages: dict[str, float] = {}
    last_audio = began
    while "response_done" not in stages:
        event = await client.next_event(timeout=60)
        now = (time.monotonic() - began) * 1000
        if event["type"] == "response.output_audio.delta":
            last_audio = time.monotonic()
        elif event["type"] == "input_audio_buffer.speech_started":
            stages.setdefault("speech_started", now)
        elif event["type"] == "response.done":
            stages["response_done"] = now
    stages["last_audio"] = (last_audio - began) * 1000
    sender.cancel()
    await client.close()
    return stages


async def run(rounds: int) -> None:
    """Start the server and the scripted model, then measure `rounds` barge-ins."""
    with bench_server(ANSWER) as server:
        results = [await one_round(server.url(), turn) for turn in range(rounds)]
    print(f"barge-in, {rounds} rounds (ms after the interrupting speech began)")
    for key in ("speech_started", "last_audio", "response_done"):
        values = [r[key] for r in results]
        print(f"  {key:<16} p50 {percentile(values, 50):6.0f} ms   p95 {percentile(values, 95):6.0f} ms")


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(run(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
