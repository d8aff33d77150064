"""The background job queue: a Redis stream read by one consumer group shared by every server process.

A job is acknowledged (and deleted) only when its handler finished. Until then it sits in
the group's pending list, where another consumer can claim it once it has been idle long
enough: that is how a failed job is retried and how the job of a killed process is taken
over. Jobs that keep failing are parked in a dead-letter stream for an operator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from memory import keys

GROUP = "workers"


@dataclass(frozen=True)
class Job:
    """One delivery of a job: its stream id, kind, payload (JSON text) and how often it was delivered."""

    id: str
    kind: str
    payload: str
    deliveries: int = 1


@dataclass(frozen=True)
class PendingJob:
    """A job delivered to a consumer and not acknowledged yet."""

    id: str
    consumer: str
    idle_ms: int
    deliveries: int


@dataclass(frozen=True)
class DeadJob:
    """A parked job: what it was, why it last failed and after how many attempts."""

    id: str
    kind: str
    payload: str
    error: str
    attempts: int
    failed_at: str


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _job(job_id: bytes | str, raw: dict[bytes, bytes], deliveries: int = 1) -> Job:
    fields = {_text(k): _text(v) for k, v in raw.items()}
    return Job(_text(job_id), fields.get("kind", ""), fields.get("payload", ""), deliveries)


def _dead(job_id: bytes | str, raw: dict[bytes, bytes]) -> DeadJob:
    fields = {_text(k): _text(v) for k, v in raw.items()}
    return DeadJob(
        _text(job_id), fields.get("kind", ""), fields.get("payload", ""), fields.get("error", ""),
        int(fields.get("attempts", "0")), fields.get("failed_at", ""),
    )


class JobQueue:
    """Enqueue, claim, acknowledge, retry, park and replay jobs (default `keys.jobs()`, group `workers`)."""

    def __init__(self, redis: Redis, stream: str | None = None, dead_stream: str | None = None) -> None:
        self._redis = redis
        self.stream = stream or keys.jobs()
        self.dead_stream = dead_stream or keys.dead_jobs()

    def add(self, pipe: Pipeline, kind: str, payload: str) -> None:
        """Queue an XADD of a job on `pipe`, so the job commits together with the caller's other writes."""
        pipe.xadd(self.stream, {"kind": kind, "payload": payload})

    async def enqueue(self, kind: str, payload: str) -> str:
        """Add a job on its own; returns its id."""
        return _text(await self._redis.xadd(self.stream, {"kind": kind, "payload": payload}))

    async def ensure_group(self) -> None:
        """Create the stream and its consumer group if they do not exist yet."""
        try:
            await self._redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read_new(self, consumer: str, count: int, block_ms: int | None) -> list[Job]:
        """Up to `count` jobs never delivered before, waiting up to `block_ms` for one."""
        response = await self._redis.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms)
        return [_job(job_id, raw) for _, entries in response or [] for job_id, raw in entries if raw is not None]

    async def claim_stale(self, consumer: str, min_idle_ms: int, count: int) -> list[Job]:
        """Take over up to `count` jobs nobody has touched for `min_idle_ms` (failed, or their process died)."""
        _, entries, *_ = await self._redis.xautoclaim(self.stream, GROUP, consumer, min_idle_ms, "0-0", count=count)
        jobs = []
        for job_id, raw in entries:
            if raw is None:
                continue
            pending = await self._redis.xpending_range(self.stream, GROUP, job_id, job_id, 1)
            jobs.append(_job(job_id, raw, int(pending[0]["times_delivered"]) if pending else 1))
        return jobs

    async def renew(self, consumer: str, job_id: str) -> None:
        """Reset the job's idle time (a lease heartbeat) so nobody claims it while it runs."""
        await self._redis.xclaim(self.stream, GROUP, consumer, 0, [job_id], justid=True)

    async def retry_later(self, consumer: str, job_id: str, delay_ms: int, claim_idle_ms: int) -> None:
        """Leave the job pending so that it becomes claimable in `delay_ms` (at most `claim_idle_ms`)."""
        idle = max(0, claim_idle_ms - delay_ms)
        await self._redis.xclaim(self.stream, GROUP, consumer, 0, [job_id], idle=idle, justid=True)

    async def ack(self, job_id: str) -> None:
        """The job is done: acknowledge and delete it in one transaction."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, job_id)
            pipe.xdel(self.stream, job_id)
            await pipe.execute()

    async def park(self, job: Job, error: str) -> str:
        """Move a job that keeps failing to the dead-letter stream (atomically); returns its dead-letter id."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead_stream, {
                "kind": job.kind, "payload": job.payload, "error": error[:2000],
                "attempts": str(job.deliveries), "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            })
            pipe.xack(self.stream, GROUP, job.id)
            pipe.xdel(self.stream, job.id)
            dead_id, *_ = await pipe.execute()
        return _text(dead_id)

    async def queued(self) -> list[Job]:
        """Every job in the stream (new and pending), oldest first."""
        return [_job(job_id, raw) for job_id, raw in await self._redis.xrange(self.stream)]

    async def pending(self, limit: int = 1000) -> list[PendingJob]:
        """Jobs delivered and not acknowledged yet, oldest first."""
        try:
            rows = await self._redis.xpending_range(self.stream, GROUP, "-", "+", limit)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                return []
            raise
        return [
            PendingJob(_text(r["message_id"]), _text(r["consumer"]), int(r["time_since_delivered"]), int(r["times_delivered"]))
            for r in rows
        ]

    async def dead(self) -> list[DeadJob]:
        """The parked jobs, oldest first."""
        return [_dead(job_id, raw) for job_id, raw in await self._redis.xrange(self.dead_stream)]

    async def discard(self, matches: Callable[[str], bool]) -> int:
        """Delete every queued, running or parked job whose payload `matches`; returns how many.

        A running job's handler finishes, but its acknowledgement then finds nothing.
        """
        queued = [j.id for j in await self.queued() if matches(j.payload)]
        dead = [d.id for d in await self.dead() if matches(d.payload)]
        if not queued and not dead:
            return 0
        async with self._redis.pipeline(transaction=True) as pipe:
            if queued:
                pipe.xack(self.stream, GROUP, *queued)
                pipe.xdel(self.stream, *queued)
            if dead:
                pipe.xdel(self.dead_stream, *dead)
            await pipe.execute()
        return len(queued) + len(dead)

    async def replay(self, dead_ids: list[str] | None = None) -> list[str]:
        """Put parked jobs (all, or those with the given ids) back in the queue; returns the new job ids."""
        wanted = [d for d in await self.dead() if dead_ids is None or d.id in dead_ids]
        if not wanted:
            return []
        async with self._redis.pipeline(transaction=True) as pipe:
            for dead in wanted:
                self.add(pipe, dead.kind, dead.payload)
                pipe.xdel(self.dead_stream, dead.id)
            results = await pipe.execute()
        return [_text(r) for r in results[::2]]
