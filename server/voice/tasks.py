"""The tasks one session starts, owned in one place so that closing the session ends every one of them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and return once it has ended (its exception, if any, is left on it)."""
    task.cancel()
    await asyncio.wait({task})


class TaskSet:
    """A session's background tasks: `close()` cancels those still running and waits, within a deadline.

    Unlike `asyncio.TaskGroup`, one task failing does not cancel the others: a crashed
    reply must not take the session's listening down with it.
    """

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    def spawn(self, work: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Start `work` as a task of this set (cancelled at once if the set is closing: nothing may outlive it)."""
        task = asyncio.create_task(work, name=f"{self._owner}: {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self._closing:
            task.cancel()
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self, deadline_s: float) -> None:
        """Cancel every task still running, and any a cancelled task starts as it ends, and wait up to
        `deadline_s` for them all to end; log any that did not."""
        self._closing = True
        deadline = asyncio.get_running_loop().time() + deadline_s
        while self._tasks:
            tasks = set(self._tasks)
            for task in tasks:
                task.cancel()
            _, stuck = await asyncio.wait(tasks, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
            for task in stuck:
                log.error("%s did not stop within %.1f s of being cancelled", task.get_name(), deadline_s)
            if stuck:
                return
