"""The job worker every server process runs: claim jobs from the shared queue, run them, retry or park them."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from memory.jobs import Job, JobQueue

log = logging.getLogger(__name__)

JobHandler = Callable[[Job], Awaitable[None]]

_MAX_OUTAGE_BACKOFF_S = 10.0


@dataclass(frozen=True)
class WorkerSettings:
    """How the worker takes, retries and gives up on jobs.

    A failed job is retried after `retry_base_s * 2**(attempt-1)` seconds (capped at
    `claim_idle_s`) and parked after `max_attempts` deliveries. A job whose worker stops
    renewing its lease (the process died) is taken over after `claim_idle_s`.
    """

    concurrency: int = 2
    max_attempts: int = 5
    retry_base_s: float = 2.0
    claim_idle_s: float = 30.0
    poll_s: float = 1.0

    def __post_init__(self) -> None:
        """Reject settings the worker cannot run with."""
        if self.concurrency < 1 or self.max_attempts < 1:
            raise ValueError("job concurrency and max attempts must be at least 1")
        if min(self.retry_base_s, self.claim_idle_s, self.poll_s) <= 0:
            raise ValueError("job retry, claim and poll intervals must be positive")

    def backoff_ms(self, attempt: int) -> int:
        """How long to wait before the next delivery after `attempt` failed deliveries."""
        return int(min(self.claim_idle_s, self.retry_base_s * 2 ** max(0, attempt - 1)) * 1000)


async def _finish(tasks: set[asyncio.Task[None]], grace_s: float) -> None:
    """Wait up to `grace_s` for tasks to end, then cancel the rest and give them a second to unwind."""
    _, late = await asyncio.wait(tasks, timeout=grace_s)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late, timeout=1.0)


def consumer_name() -> str:
    """A consumer name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class JobWorker:
    """Runs up to `concurrency` jobs at a time from `queue`, dispatching on their kind.

    It never raises: a handler's failure is a retry (or, after `max_attempts`, the
    dead-letter stream), and a Redis outage is logged and waited out with backoff.
    """

    queue: JobQueue
    handlers: Mapping[str, JobHandler]
    settings: WorkerSettings = field(default_factory=WorkerSettings)
    consumer: str = field(default_factory=consumer_name)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _stopping: bool = field(default=False, init=False)
    _running: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    def start(self) -> None:
        """Start the claim loop as a background task."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"job worker {self.consumer}")

    @property
    def alive(self) -> bool:
        """Whether the claim loop is running."""
        return self._task is not None and not self._task.done()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop claiming; give running jobs `grace_s` to finish, then cancel them (they stay pending and are retried).

        The claim loop is asked to stop rather than cancelled: it notices within one poll
        interval (a blocking stream read is not interrupted halfway).
        """
        if self._task is not None:
            self._stopping = True
            await _finish({self._task}, self.settings.poll_s + grace_s)
            self._task = None
        if self._running:
            await _finish(set(self._running), grace_s)

    async def _loop(self) -> None:
        outages = 0
        group_ready = False
        while not self._stopping:
            try:
                if not group_ready:
                    await self.queue.ensure_group()
                    group_ready = True
                await self._fill()
                outages = 0
            except (RedisError, OSError) as exc:
                group_ready = False
                delay = min(_MAX_OUTAGE_BACKOFF_S, 0.5 * 2**outages)
                outages += 1
                log.warning("job worker %s: Redis failed (%s); trying again in %.1f s", self.consumer, exc, delay)
                await asyncio.sleep(delay)

    async def _fill(self) -> None:
        """Wait for a free slot, then start as many stale or new jobs as there are free slots."""
        if len(self._running) >= self.settings.concurrency:
            await asyncio.wait(self._running, timeout=self.settings.poll_s, return_when=asyncio.FIRST_COMPLETED)
        free = self.settings.concurrency - len(self._running)
        if free <= 0:
            return
        claim_idle_ms = int(self.settings.claim_idle_s * 1000)
        jobs = await self.queue.claim_stale(self.consumer, claim_idle_ms, free)
        if len(jobs) < free:
            block = None if jobs else int(self.settings.poll_s * 1000)
            jobs += await self.queue.read_new(self.consumer, free - len(jobs), block)
        for job in jobs:
            task = asyncio.create_task(self._run(job), name=f"job {job.kind} {job.id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, job: Job) -> None:
        """Run one job under a renewed lease, then acknowledge, retry or park it."""
        lease = asyncio.create_task(self._renew(job))
        try:
            await self._settle(job)
        except (RedisError, OSError) as exc:  # Redis went away mid-job: the job stays pending and is claimed again
            log.warning("job %s (%s): cannot record its outcome (%s); it will run again", job.id, job.kind, exc)
        finally:
            lease.cancel()

    async def _settle(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        if handler is None:
            await self.queue.park(job, f"no handler for job kind {job.kind!r}")
            log.error("job %s has unknown kind %r; parked", job.id, job.kind)
            return
        try:
            await handler(job)
        except asyncio.CancelledError:
            await asyncio.shield(self._release(job))
            raise
        except Exception as exc:  # any failure of a job is a retry, never a crash of the worker
            error = f"{type(exc).__name__}: {exc}"
            if job.deliveries >= self.settings.max_attempts:
                await self.queue.park(job, error)
                log.error("job %s (%s) failed %d times, parked: %s", job.id, job.kind, job.deliveries, error)
                return
            delay = self.settings.backoff_ms(job.deliveries)
            await self.queue.retry_later(self.consumer, job.id, delay, int(self.settings.claim_idle_s * 1000))
            log.warning("job %s (%s) failed (attempt %d), retry in %.1f s: %s", job.id, job.kind, job.deliveries, delay / 1000, error)
            return
        await self.queue.ack(job.id)

    async def _release(self, job: Job) -> None:
        """Make a job interrupted by shutdown claimable by another process at once."""
        try:
            await self.queue.retry_later(self.consumer, job.id, 0, int(self.settings.claim_idle_s * 1000))
        except (RedisError, OSError):
            pass  # it becomes claimable anyway once its lease runs out

    async def _renew(self, job: Job) -> None:
        """Heartbeat: keep the job's idle time low while it runs."""
        interval = self.settings.claim_idle_s / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.queue.renew(self.consumer, job.id)
            except (RedisError, OSError) as exc:
                log.warning("job %s: cannot renew its lease (%s)", job.id, exc)
