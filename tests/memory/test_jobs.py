"""The job queue and worker on a real Redis: acknowledge when done, retry with backoff, park, replay, take over."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

from memory.jobs import Job, JobQueue
from memory.worker import JobWorker, WorkerSettings
from tests.memory.memory_helpers import wait_until
from tests.redis_fixture import free_port

QUICK = WorkerSettings(concurrency=2, max_attempts=3, retry_base_s=0.1, claim_idle_s=1.0, poll_s=0.1)


@pytest.fixture
async def queue(redis_url: str) -> AsyncIterator[JobQueue]:
    client = Redis.from_url(redis_url)
    queue = JobQueue(client)
    await queue.ensure_group()
    yield queue
    await client.aclose()


class Recorder:
    """A handler that fails its first `failures` calls and records every call."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.failures = failures
        self.delay = delay
        self.calls: list[Job] = []

    async def __call__(self, job: Job) -> None:
        self.calls.append(job)
        await asyncio.sleep(self.delay)
        if len(self.calls) <= self.failures:
            raise RuntimeError(f"boom {len(self.calls)}")


@asynccontextmanager
async def _running(*workers: JobWorker) -> AsyncIterator[None]:
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        await asyncio.gather(*(w.stop() for w in workers))


async def _empty(queue: JobQueue) -> bool:
    return not await queue.queued()


async def test_a_failed_job_is_retried_with_backoff_and_then_succeeds(queue: JobQueue) -> None:
    handler = Recorder(failures=1)
    await queue.enqueue("work", '{"n": 1}')
    async with _running(JobWorker(queue, {"work": handler}, QUICK)):
        await wait_until(lambda: _empty(queue), 10, "the job to be acknowledged")
    assert [(j.payload, j.deliveries) for j in handler.calls] == [('{"n": 1}', 1), ('{"n": 1}', 2)]
    assert await queue.dead() == [] and await queue.pending() == []


async def test_a_job_that_keeps_failing_is_parked_and_can_be_replayed(queue: JobQueue) -> None:
    handler = Recorder(failures=3)
    await queue.enqueue("work", '{"n": 2}')
    async with _running(JobWorker(queue, {"work": handler}, QUICK)):
        await wait_until(lambda: _has_dead(queue), 10, "the job to be parked")
        [dead] = await queue.dead()
        assert (dead.kind, dead.payload, dead.attempts, dead.error) == ("work", '{"n": 2}', 3, "RuntimeError: boom 3")
        assert await queue.queued() == []
        assert len(await queue.replay([dead.id])) == 1
        await wait_until(lambda: _empty(queue), 10, "the replayed job to succeed")
    assert len(handler.calls) == 4 and await queue.dead() == []


async def _has_dead(queue: JobQueue) -> bool:
    return bool(await queue.dead())


async def test_a_job_of_an_unknown_kind_is_parked_at_once(queue: JobQueue) -> None:
    await queue.enqueue("mystery", "{}")
    async with _running(JobWorker(queue, {}, QUICK)):
        await wait_until(lambda: _has_dead(queue), 10, "the job to be parked")
    assert "no handler for job kind 'mystery'" in (await queue.dead())[0].error


async def test_a_job_left_pending_by_a_vanished_consumer_is_taken_over(queue: JobQueue) -> None:
    await queue.enqueue("work", "{}")
    assert len(await queue.read_new("crashed-process", 1, None)) == 1
    handler = Recorder()
    async with _running(JobWorker(queue, {"work": handler}, QUICK)):
        await wait_until(lambda: _empty(queue), 10, "the orphaned job to be taken over")
    assert [j.deliveries for j in handler.calls] == [2]


async def test_a_running_job_keeps_its_lease_and_runs_once(queue: JobQueue) -> None:
    handler = Recorder(delay=2.5)
    await queue.enqueue("work", "{}")
    async with _running(JobWorker(queue, {"work": handler}, QUICK)):
        await wait_until(lambda: _started(handler), 10, "the job to start")
        async with _running(JobWorker(queue, {"work": handler}, QUICK)):
            await wait_until(lambda: _empty(queue), 10, "the job to finish")
    assert len(handler.calls) == 1


async def _started(handler: Recorder) -> bool:
    return bool(handler.calls)


async def test_a_dead_redis_is_logged_and_waited_out_without_crashing(caplog: pytest.LogCaptureFixture) -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    worker = JobWorker(JobQueue(client), {}, QUICK)
    with caplog.at_level(logging.WARNING, logger="memory.worker"):
        worker.start()
        await asyncio.sleep(1.0)
        assert worker.alive
        await worker.stop()
    await client.aclose()
    assert any("Redis failed" in r.getMessage() for r in caplog.records)
