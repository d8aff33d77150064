"""Hostile frames against a running `confab serve`: tracebacks, unanswered closes, sessions left, RSS, shutdown time.

Sends `--realtime` frames over `--connections` Realtime sockets (the hostile cases of
tests/server/test_hostile_frames.py plus seeded mutations of valid events) and `--twilio`
frames, one per Twilio socket after `connected`. Prints the server's RSS before and after,
the tracebacks in its log, the sockets closed without a reason, `confab_active_sessions`
afterwards and how long SIGINT takes to stop it.

    .venv/bin/python bench/hostile_frames.py --realtime 10000 --twilio 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BenchServer, bench_server  # noqa: E402
from tests.metrics_probe import active_sessions  # noqa: E402
from tests.server.test_fuzz_adapters import REALTIME_TEMPLATES, TWILIO_TEMPLATES  # noqa: E402
from tests.server.test_hostile_frames import REALTIME_HOSTILE, TWILIO_HOSTILE, _mutations  # noqa: E402

NORMAL_CLOSES = {1000, 1001}


async def realtime_socket(url: str, frames: list[str | bytes], tally: dict[str, int]) -> None:
    """Send `frames` on one Realtime socket, counting the error events and how the socket ended."""
    async with connect(url, max_size=None) as connection:
        async def read() -> None:
            try:
                async for message in connection:
                    if isinstance(message, str) and message.startswith("{") and json.loads(message).get("type") == "error":
                        tally["error events"] += 1
            except ConnectionClosed:
                pass

        reader = asyncio.create_task(read())
        try:
            for frame in frames:
                await connection.send(frame)
                tally["realtime frames"] += 1
            await asyncio.sleep(2)
        except ConnectionClosed:
            pass
        await connection.close()
        await reader
    if connection.close_code not in NORMAL_CLOSES and not connection.close_reason:
        tally["closed without a reason"] += 1


async def twilio_socket(url: str, frame: str | bytes, tally: dict[str, int]) -> None:
    """One Twilio stream: `connected`, the hostile frame, then wait for the close."""
    async with connect(url) as connection:
        try:
            await connection.send(json.dumps(TWILIO_TEMPLATES[0]))
            await connection.send(frame)
            tally["twilio frames"] += 1
            async with asyncio.timeout(15):
                async for _ in connection:
                    pass
        except (ConnectionClosed, TimeoutError):
            pass
    if connection.close_code == 1008 and connection.close_reason:
        tally["twilio 1008 with a reason"] += 1
    elif connection.close_code not in NORMAL_CLOSES and not connection.close_reason:
        tally["closed without a reason"] += 1



async def attack(server: BenchServer, realtime: int, twilio: int, connections: int) -> dict[str, int]:
    """Send the frames; return the tally."""
    tally = dict.fromkeys(["realtime frames", "error events", "twilio frames", "twilio 1008 with a reason", "closed without a reason"], 0)
    frames = (REALTIME_HOSTILE + _mutations(REALTIME_TEMPLATES, realtime, lambda _: True))[:realtime]
    share = -(-len(frames) // connections)
    await asyncio.gather(*(realtime_socket(server.url(), frames[i:i + share], tally) for i in range(0, len(frames), share)))
    twilio_frames = (TWILIO_HOSTILE + _mutations(TWILIO_TEMPLATES, twilio, lambda _: True))[:twilio]
    url = f"ws://127.0.0.1:{server.port}/v1/twilio"
    for start in range(0, len(twilio_frames), 20):
        await asyncio.gather(*(twilio_socket(url, frame, tally) for frame in twilio_frames[start:start + 20]))
    return tally


async def run(realtime: int, twilio: int, connections: int) -> None:
    """Start the server, attack it, and report."""
    log_path = Path(tempfile.mkdtemp(prefix="confab-hostile-")) / "server.log"
    with bench_server("Fine.", log_path=log_path) as server:
        before = server.rss_mb()
        started = time.monotonic()
        tally = await attack(server, realtime, twilio, connections)
        print(f"sent in {time.monotonic() - started:.0f} s: " + ", ".join(f"{k} {v}" for k, v in tally.items()))
        await asyncio.sleep(5)
        print(f"RSS before {before:.0f} MB, after the connections closed {server.rss_mb():.0f} MB")
        print(f"confab_active_sessions afterwards: {await active_sessions(server.port):.0f}")
        stopping = time.monotonic()
        server.process.send_signal(signal.SIGINT)
        server.process.wait(timeout=60)
        print(f"SIGINT to exit: {time.monotonic() - stopping:.1f} s")
    log = log_path.read_text()
    print(f"tracebacks in the server log: {log.count('Traceback')}; ERROR lines: {log.count(' ERROR ')} (log: {log_path})")


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--realtime", type=int, default=10000)
    parser.add_argument("--twilio", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.realtime, args.twilio, args.connections))


if __name__ == "__main__":
    main()
