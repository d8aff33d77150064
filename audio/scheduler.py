"""A priority pool for blocking model calls: a fixed number of threads, the most urgent job first.

Every session's STT (or TTS) calls share one pool, so the number of model runs at once
fits the cores however many sessions there are. A job waits in a heap ordered by
(priority, arrival); it can be cancelled while it waits (it then never runs) and
promoted to urgent (a speculative transcription whose silence lasted is now the one
a caller waits for). Non-urgent jobs never take the last free worker (with two or more
workers), so an urgent job never waits behind speculative work that is already running.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

URGENT = 0
LATER = 1


@dataclass(order=True)
class _Entry:
    priority: int
    seq: int
    work: Callable[[], Any] = field(compare=False)
    future: Future[Any] = field(compare=False)
    kind: str = field(compare=False)


class Job(Generic[T]):
    """A submitted call: await `future`; `cancel()` drops it if it has not started; `promote()` makes it urgent."""

    def __init__(self, future: asyncio.Future[T], promote: Callable[[], None] | None = None,
                 source: Future[T] | None = None) -> None:
        self.future = future
        self._promote = promote
        self._source = source

    def cancel(self) -> None:
        """Drop the job (it never starts if it was still waiting, even on a worker about to pick it); its future is cancelled."""
        if self._source is not None:
            self._source.cancel()
        self.future.cancel()

    def promote(self) -> None:
        """Move the job ahead of every non-urgent job still waiting."""
        if self._promote is not None:
            self._promote()


class PriorityPool:
    """`workers` threads running submitted calls, lowest priority number first, then oldest first.

    `outcomes` counts, per job kind, how many jobs were "run" and how many "dropped"
    (cancelled before they started).
    """

    def __init__(self, workers: int, name: str) -> None:
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._lock = threading.Condition()
        self._closed = False
        self._later_running = 0
        self._later_limit = max(1, workers - 1)
        self.outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    @property
    def waiting(self) -> int:
        """Jobs queued and not yet started (cancelled ones may still be counted until a worker skips them)."""
        return len(self._heap)

    def submit(self, work: Callable[[], T], priority: int = LATER, kind: str = "") -> Job[T]:
        """Queue `work` from the event loop; the Job's future resolves there."""
        future: Future[T] = Future()
        future.add_done_callback(lambda f: self._count(kind, "dropped") if f.cancelled() else None)
        entry = _Entry(priority, next(self._seq), work, future, kind)
        self._push(entry)
        return Job(asyncio.wrap_future(future), lambda: self._promote(entry), future)

    def _count(self, kind: str, outcome: str) -> None:
        with self._lock:
            self.outcomes[(kind, outcome)] += 1

    def _push(self, entry: _Entry) -> None:
        with self._lock:
            heapq.heappush(self._heap, entry)
            self._lock.notify()

    def _promote(self, entry: _Entry) -> None:
        if entry.priority != URGENT and not entry.future.done():
            self._push(_Entry(URGENT, entry.seq, entry.work, entry.future, entry.kind))

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._closed and not self._startable():
                    self._lock.wait()
                if self._closed:
                    return
                entry = heapq.heappop(self._heap)
                if entry.future.done() or entry.future.running():  # cancelled, or the promoted copy already ran
                    continue
                entry.future.set_running_or_notify_cancel()
                self.outcomes[(entry.kind, "run")] += 1
                later = entry.priority != URGENT
                self._later_running += later
            try:
                entry.future.set_result(entry.work())
            except BaseException as exc:  # handed to the awaiting coroutine
                entry.future.set_exception(exc)
            if later:
                with self._lock:
                    self._later_running -= 1
                    self._lock.notify_all()

    def _startable(self) -> bool:
        """Whether the next job may start now (called with the lock held)."""
        if not self._heap:
            return False
        head = self._heap[0]
        return head.priority == URGENT or self._later_running < self._later_limit or head.future.done() or head.future.running()

    def shutdown(self) -> None:
        """Stop the workers after their current job; waiting jobs are cancelled."""
        with self._lock:
            self._closed = True
            waiting, self._heap = self._heap, []
            self._lock.notify_all()
        for entry in waiting:
            entry.future.cancel()
