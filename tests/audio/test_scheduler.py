"""The priority pool every session's STT and TTS jobs share."""

import asyncio
import threading

import pytest

from audio.scheduler import LATER, URGENT, PriorityPool


@pytest.fixture
def pool():
    """One worker, so the order jobs run in is the order they were picked."""
    pool = PriorityPool(1, "test")
    yield pool
    pool.shutdown()


def _blocker(pool: PriorityPool) -> threading.Event:
    """Occupy the worker until the returned event is set."""
    release = threading.Event()
    pool.submit(release.wait, URGENT)
    return release


async def test_an_urgent_job_runs_before_later_jobs_that_were_waiting_longer(pool) -> None:
    order: list[str] = []
    release = _blocker(pool)
    jobs = [pool.submit(lambda: order.append("speculative 1"), LATER), pool.submit(lambda: order.append("speculative 2"), LATER),
            pool.submit(lambda: order.append("final"), URGENT)]
    release.set()
    await asyncio.gather(*(job.future for job in jobs))
    assert order == ["final", "speculative 1", "speculative 2"]


async def test_a_job_cancelled_while_waiting_never_runs_and_is_counted_as_dropped(pool) -> None:
    ran: list[str] = []
    release = _blocker(pool)
    dropped = pool.submit(lambda: ran.append("dropped"), LATER, "speculative")
    kept = pool.submit(lambda: ran.append("kept"), LATER, "speculative")
    dropped.cancel()
    release.set()
    await kept.future
    assert ran == ["kept"]
    assert (pool.outcomes[("speculative", "run")], pool.outcomes[("speculative", "dropped")]) == (1, 1)


async def test_a_promoted_job_overtakes_later_jobs_and_runs_once(pool) -> None:
    order: list[str] = []
    release = _blocker(pool)
    other = pool.submit(lambda: order.append("other session"), LATER)
    mine = pool.submit(lambda: order.append("silence lasted"), LATER)
    mine.promote()
    release.set()
    await asyncio.gather(other.future, mine.future)
    assert order == ["silence lasted", "other session"]


async def test_a_failing_job_raises_in_the_awaiting_coroutine(pool) -> None:
    with pytest.raises(ZeroDivisionError):
        await pool.submit(lambda: 1 / 0).future


async def test_speculative_work_never_takes_the_last_free_worker() -> None:
    pool = PriorityPool(2, "test")
    try:
        release = threading.Event()
        running_later = pool.submit(release.wait, LATER)
        waiting_later = pool.submit(lambda: "second speculative", LATER)
        urgent = pool.submit(lambda: "final", URGENT)
        assert await asyncio.wait_for(urgent.future, 5) == "final"
        assert not waiting_later.future.done()
        release.set()
        assert await asyncio.wait_for(waiting_later.future, 5) == "second speculative"
        await running_later.future
    finally:
        pool.shutdown()
