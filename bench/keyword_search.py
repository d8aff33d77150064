"""Keyword search cost for a keyword nobody said, in a conversation of 20,000 messages.

The search reads only the newest 1000 messages (5 pages of 200), so this is its worst case
however long the history grows. Real redis-server (started in a temporary directory).

Run: .venv/bin/python bench/keyword_search.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis.asyncio import Redis  # noqa: E402

from memory.messages import MessageStore  # noqa: E402
from memory.records import MessageRecord  # noqa: E402
from tests.redis_fixture import RedisProcess  # noqa: E402

MESSAGES, RUNS = 20_000, 20


async def measure(url: str) -> None:
    """Fill one conversation, then time searches for an absent keyword."""
    redis = Redis.from_url(url)
    messages = MessageStore(redis)
    for start in range(0, MESSAGES, 1000):
        await messages.append([
            MessageRecord(conversation_id="conv-bench", role="user" if i % 2 else "assistant",
                          content=f"message number {i} about the weather and some plans for the weekend")
            for i in range(start, start + 1000)
        ])
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        await messages.search("conv-bench", "Petrel")
        samples.append((time.perf_counter() - started) * 1000)
    await redis.aclose()
    print(f"unknown keyword, {MESSAGES} messages: median {statistics.median(samples):.1f} ms, max {max(samples):.1f} ms")


def main() -> None:
    """Run against a private redis-server."""
    process = RedisProcess(Path(tempfile.mkdtemp(prefix="confab-kw-")))
    process.start()
    try:
        asyncio.run(measure(process.url))
    finally:
        process.stop()


if __name__ == "__main__":
    main()
