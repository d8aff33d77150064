"""Proof that work ran off the event loop: count how often the loop wakes a sleeper meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass
class LoopTicks:
    """How often a sleeper of `interval` seconds woke during the block, against how often it could have."""

    interval: float
    ticks: int = 0
    elapsed: float = 0.0

    @property
    def share(self) -> float:
        """Ticks seen over ticks possible (1.0: the loop was never blocked)."""
        return self.ticks / max(1.0, self.elapsed / self.interval)


@asynccontextmanager
async def loop_ticks(interval: float) -> AsyncIterator[LoopTicks]:
    """Count the loop's wake-ups every `interval` s while the block runs."""
    probe = LoopTicks(interval)

    async def sleeper() -> None:
        while True:
            await asyncio.sleep(interval)
            probe.ticks += 1

    task = asyncio.create_task(sleeper())
    start = time.perf_counter()
    try:
        yield probe
    finally:
        probe.elapsed = time.perf_counter() - start
        task.cancel()
