"""At most one response per conversation at a time, across every server process.

A response holds a lease: a Redis key of its conversation (`SET NX` with a TTL) whose value
is the response id. The holder renews it while the response runs and deletes it when done;
a process that dies mid-response leaves a key that expires after the TTL. Different
conversations never share a key, so different callers never wait for each other. A lease
whose release failed (Redis was down) is remembered, so the same process takes its key back
at once rather than making the conversation's next response wait for the TTL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

from memory import keys
from memory.conversations import Conversation

log = logging.getLogger(__name__)

LEASE_TTL_S = 15.0
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"


@dataclass
class ResponseLease:
    """A held claim on a conversation's response slot: renewed in the background until `release()`."""

    redis: Redis
    key: str
    response_id: str
    ttl_s: float
    unreleased: dict[str, float]  # response id -> when its key expires anyway (monotonic), shared by every lease
    _renewal: asyncio.Task[None] | None = field(default=None, init=False)

    def start(self) -> None:
        """Keep the lease alive while the response runs."""
        self._renewal = asyncio.create_task(self._renew(), name=f"lease {self.response_id}")

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self.redis.eval(_RENEW, 1, self.key, self.response_id, int(self.ttl_s * 1000))
            except RedisError as exc:
                log.warning("response %s: cannot renew its conversation lease (%s)", self.response_id, exc)

    async def release(self) -> None:
        """Free the conversation for its next response (only if this lease still holds it)."""
        if self._renewal is not None:
            self._renewal.cancel()
            self._renewal = None
        try:
            await self.redis.eval(_RELEASE, 1, self.key, self.response_id)
        except RedisError as exc:  # the key expires by itself after the TTL
            log.warning("response %s: cannot release its conversation lease (%s)", self.response_id, exc)
            now = time.monotonic()
            for expired in [r for r, until in self.unreleased.items() if until < now]:
                del self.unreleased[expired]
            self.unreleased[self.response_id] = now + self.ttl_s


class ConversationBusyError(RuntimeError):
    """Another response of the same conversation is running (`running` is its id)."""

    def __init__(self, running: str) -> None:
        super().__init__(f"conversation already has an active response in progress: {running}")
        self.running = running


class ResponseLocks:
    """Hands out one `ResponseLease` per conversation at a time."""

    def __init__(self, redis: Redis, ttl_s: float = LEASE_TTL_S) -> None:
        self._redis = redis
        self._ttl_s = ttl_s
        self._unreleased: dict[str, float] = {}

    async def acquire(self, conversation: Conversation, response_id: str) -> ResponseLease:
        """Claim the conversation for `response_id`; raises `ConversationBusyError` while another response holds it."""
        key = keys.responding(conversation.id)
        for _ in range(2):  # the holder may finish between our SET and GET: then try once more
            if await self._redis.set(key, response_id, nx=True, px=int(self._ttl_s * 1000)):
                lease = ResponseLease(self._redis, key, response_id, self._ttl_s, self._unreleased)
                lease.start()
                return lease
            raw = await self._redis.get(key)
            running = raw.decode() if isinstance(raw, bytes) else raw
            if running in self._unreleased:  # ours, ended while Redis was down: free it and try again
                del self._unreleased[running]
                await self._redis.eval(_RELEASE, 1, key, running)
            elif running is not None:
                raise ConversationBusyError(running)
        raise ConversationBusyError("another response")


async def release_dead_leases(redis: Redis) -> int:
    """Delete every conversation lease in `redis`; how many there were.

    Only for a Redis no other server uses (the embedded one this process just started): a lease
    found there was left by a server that died mid-response (a SIGKILL), and would otherwise lock
    its caller out of answers until the TTL ran out.
    """
    leases = [key async for key in redis.scan_iter(match=keys.responding("*"), count=500)]
    return int(await redis.delete(*leases)) if leases else 0
