"""A session's task set: closing it leaves nothing running, even what a cancelled task starts as it ends."""

import asyncio

from server.voice.tasks import TaskSet


async def test_a_task_started_by_a_task_being_cancelled_does_not_outlive_the_close() -> None:
    tasks = TaskSet("session")
    started: list[asyncio.Task[None]] = []

    async def reply() -> None:
        try:
            await asyncio.sleep(3600)
        finally:  # as a reply that ends arms the idle timeout
            started.append(tasks.spawn(asyncio.sleep(3600), "idle timeout"))

    tasks.spawn(reply(), "reply")
    await asyncio.sleep(0)
    await tasks.close(1.0)
    assert len(started) == 1 and started[0].cancelled()
    assert len(tasks) == 0
