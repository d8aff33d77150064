"""Time to the first content chunk of `POST /v1/chat/completions`, as a voice platform sees it.

Starts `confab serve` (text-only, embedded Redis in a temporary directory) against an instant
scripted model, then sends plain turns one after another with openai-python
(`chat.completions.create(stream=True)`, a new connection per request as the server closes
each) and prints p50/p95 of request start -> first content chunk, and of the whole answer.

    .venv/bin/python bench/chat_latency.py --turns 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import bench_server  # noqa: E402

ANSWER = "Sure, I can help with that. Let me explain the details for you now."
WARM_UP = 3


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def turns(port: int, count: int) -> tuple[list[float], list[float]]:
    """Run `count` turns of one caller; first-content and whole-answer times in ms."""
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench", max_retries=0)
    first_ms, whole_ms = [], []
    for turn in range(count + WARM_UP):
        started = time.perf_counter()
        first = None
        stream = await client.chat.completions.create(
            model="default", user="bench-caller", stream=True, messages=[{"role": "user", "content": f"Question {turn}?"}]
        )
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter()
        done = time.perf_counter()
        if turn >= WARM_UP and first is not None:
            first_ms.append((first - started) * 1000)
            whole_ms.append((done - started) * 1000)
    await client.close()
    return first_ms, whole_ms


def main() -> None:
    """Parse the arguments, run the bench, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=50)
    args = parser.parse_args()
    os.environ["CONFAB_SPEECH"] = "false"
    with bench_server(ANSWER, remote_embeddings=True) as server:
        first_ms, whole_ms = asyncio.run(turns(server.port, args.turns))
    print(f"chat completions, {len(first_ms)} turns, instant scripted model:")
    for name, values in (("first content chunk", first_ms), ("whole answer", whole_ms)):
        print(f"  {name:20s} p50 {statistics.median(values):6.1f} ms   p95 {percentile(values, 95):6.1f} ms")


if __name__ == "__main__":
    main()
