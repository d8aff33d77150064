"""Soak: N voice sessions talking to one `confab serve` for M minutes; RSS, errors and latency each minute.

Each session plays the test speech into `/v1/realtime` in real-time 20 ms frames, waits
for the spoken answer, pauses, and goes again until the time is up. The server's RSS is
sampled every second; each minute prints its floor (memory kept: what a leak raises) and
its peak (memory of the work in flight, such as a synthesis), with the minute's turns,
errors and speech-end -> first-audio latency percentiles. The machine is shared:
keep runs short unless it is idle.

    .venv/bin/python bench/soak.py --sessions 4 --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BenchServer, bench_server  # noqa: E402
from bench.turn_latency import ANSWER, FORMAT, percentile, speech_end_ms  # noqa: E402
from tests.audio.speech_data import SPEECH_FILES, read_wav, silence  # noqa: E402
from tests.realtime_client import RealtimeTestClient  # noqa: E402
from tests.voice_client import stream, voice_session  # noqa: E402


@dataclass
class Minute:
    """What happened in one minute of the soak."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)


@dataclass
class Soak:
    """The running tally, one `Minute` per elapsed minute."""

    started: float = field(default_factory=time.monotonic)
    minutes: list[Minute] = field(default_factory=lambda: [Minute()])

    def now(self) -> Minute:
        """The current minute's tally."""
        return self.minutes[-1]


async def one_turn(client: RealtimeTestClient, speech: np.ndarray, soak: Soak) -> None:
    """Say one utterance and wait for the answer to finish; record its latency or its error."""
    audio = np.concatenate([silence(300), speech, silence(1500)])
    started = time.monotonic()
    sender = asyncio.create_task(stream(client, FORMAT, audio))
    speech_end = started + (300 + speech_end_ms(speech)) / 1000
    first_audio = None
    while True:
        event = await client.next_event(timeout=60)
        if event["type"] == "error":
            soak.now().errors.append(event["error"]["code"])
        elif event["type"] == "response.output_audio.delta" and first_audio is None:
            first_audio = time.monotonic()
        elif event["type"] == "response.done":
            if event["response"]["status"] != "completed":
                soak.now().errors.append(f"response {event['response']['status']}")
            break
    await sender
    if first_audio is not None:
        soak.now().latencies_ms.append((first_audio - speech_end) * 1000)


async def one_session(url: str, deadline: float, soak: Soak) -> None:
    """One caller talking until the deadline; a failure is counted and the caller reconnects."""
    turn = random.randrange(len(SPEECH_FILES))
    while time.monotonic() < deadline:
        try:
            client = await RealtimeTestClient.open(url, voice_session(FORMAT))
            try:
                while time.monotonic() < deadline:
                    await one_turn(client, read_wav(SPEECH_FILES[turn % len(SPEECH_FILES)]), soak)
                    turn += 1
                    await asyncio.sleep(random.uniform(0.5, 1.5))
            finally:
                await client.close()
        except Exception as exc:  # the soak counts what breaks and goes on
            soak.now().errors.append(type(exc).__name__)
            await asyncio.sleep(1)


def print_minute(index: int, minute: Minute) -> None:
    """One line: the minute, its RSS floor and peak, turns, errors and latency percentiles."""
    values = minute.latencies_ms
    latency = f"p50 {percentile(values, 50):5.0f} ms  p95 {percentile(values, 95):5.0f} ms" if values else "no turns"
    errors = f"{len(minute.errors)} errors {sorted(set(minute.errors))}" if minute.errors else "0 errors"
    rss = f"RSS floor {min(minute.rss_mb):6.0f} MB  peak {max(minute.rss_mb):6.0f} MB"
    print(f"minute {index:>3}: {rss}   {len(values):3d} turns   {latency}   {errors}", flush=True)


def spread(values: list[float]) -> float:
    """How far apart the largest and smallest of `values` are."""
    return max(values) - min(values)


async def run(sessions: int, minutes: float) -> None:
    """Start the server and run the soak."""
    with bench_server(ANSWER) as server:
        await soak(server, sessions, minutes)


async def soak(server: BenchServer, sessions: int, minutes: float) -> None:
    """Run `sessions` callers for `minutes`, printing a line per minute."""
    print(f"{sessions} voice sessions for {minutes:g} min; RSS at start {server.rss_mb():.0f} MB", flush=True)
    tally = Soak()
    deadline = tally.started + minutes * 60
    callers = [asyncio.create_task(one_session(server.url(), deadline, tally)) for _ in range(sessions)]
    while time.monotonic() < deadline:
        minute_ends = min(deadline, time.monotonic() + 60)
        while time.monotonic() < minute_ends:
            tally.now().rss_mb.append(server.rss_mb())
            await asyncio.sleep(min(1.0, max(0.0, minute_ends - time.monotonic())))
        print_minute(len(tally.minutes), tally.now())
        tally.minutes.append(Minute())
    await asyncio.gather(*callers)
    await asyncio.sleep(2)
    all_latencies = [v for m in tally.minutes for v in m.latencies_ms]
    errors = sum(len(m.errors) for m in tally.minutes)
    print(f"after the sessions closed: RSS {server.rss_mb():.0f} MB; {len(all_latencies)} turns, {errors} errors", flush=True)
    if all_latencies:
        print(f"whole run: p50 {percentile(all_latencies, 50):.0f} ms, p95 {percentile(all_latencies, 95):.0f} ms")
    half = [m for m in tally.minutes[len(tally.minutes) // 2:] if m.rss_mb]
    floors, peaks = [min(m.rss_mb) for m in half], [max(m.rss_mb) for m in half]
    print(f"second half: RSS floors within {spread(floors):.0f} MB, peaks within {spread(peaks):.0f} MB")


def main() -> None:
    """Parse arguments and run the soak."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()
    asyncio.run(run(args.sessions, args.minutes))


if __name__ == "__main__":
    main()
