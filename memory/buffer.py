"""The static message buffer: evict the oldest in-context messages and queue a sleeptime job, atomically."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import WatchError

from memory import keys
from memory.jobs import JobQueue
from memory.messages import MessageStore
from memory.conversations import Conversation
from memory.records import MessageRecord

SLEEPTIME_JOB = "sleeptime"
_WATCH_RETRIES = 10


@dataclass(frozen=True)
class BufferLimits:
    """Above `max_length` in-context messages, keep about the newest `min_length`."""

    min_length: int = 15
    max_length: int = 30

    def __post_init__(self) -> None:
        """Both lengths must be above 4 and the maximum above the minimum."""
        if self.min_length <= 4 or self.max_length <= 4:
            raise ValueError(
                f"message buffer lengths must both be greater than 4 "
                f"(min_message_buffer_length={self.min_length}, max_message_buffer_length={self.max_length})"
            )
        if self.max_length <= self.min_length:
            raise ValueError(
                f"max_message_buffer_length ({self.max_length}) must be greater than "
                f"min_message_buffer_length ({self.min_length})"
            )


class Eviction(BaseModel):
    """What one trim took out of a conversation's context (oldest first) and what it kept: a sleeptime job's input."""

    agent_id: str
    owner: str
    conversation_id: str
    caller_id: str | None
    evicted_ids: list[str]
    kept_ids: list[str]

    @property
    def conversation(self) -> Conversation:
        """The conversation the messages were evicted from."""
        return Conversation(self.owner, self.agent_id, self.caller_id, self.conversation_id)


def _starts_a_turn(message: MessageRecord) -> bool:
    return message.role == "user" and not message.hidden


def cut_index(buffer: Sequence[MessageRecord], limits: BufferLimits) -> int | None:
    """Where to cut an over-long buffer (the index of the first kept message), or None to leave it.

    The cut starts `min_length` messages from the end and moves forward to the first message
    the caller said (not a hidden system note), so the kept part starts a turn and never
    splits a tool call from its result. If no such message follows, the cut moves back to the
    nearest one instead; if there is none at all, nothing is evicted.
    """
    if len(buffer) <= limits.max_length:
        return None
    target = len(buffer) - limits.min_length
    later = [i for i in range(target, len(buffer)) if _starts_a_turn(buffer[i])]
    earlier = [i for i in range(1, target) if _starts_a_turn(buffer[i])]
    if later:
        return later[0]
    return earlier[-1] if earlier else None


class BufferTrimmer:
    """Trims a conversation's buffer in one Redis transaction that also queues the sleeptime job for what it evicted."""

    def __init__(self, redis: Redis, messages: MessageStore, queue: JobQueue, limits: BufferLimits) -> None:
        self._redis = redis
        self._messages = messages
        self._queue = queue
        self.limits = limits

    async def trim(self, conversation: Conversation) -> Eviction | None:
        """Evict if the buffer is over its maximum; returns what was evicted, or None.

        The buffer key is WATCHed: if a message lands between reading and trimming, the
        transaction is dropped and the trim recomputed, so LTRIM never cuts the wrong place.
        """
        key = keys.buffer(conversation.id)
        async with self._redis.pipeline(transaction=True) as pipe:
            for _ in range(_WATCH_RETRIES):
                try:
                    await pipe.watch(key)
                    buffer = await self._messages.buffer(conversation.id)
                    cut = cut_index(buffer, self.limits)
                    if cut is None:
                        await pipe.unwatch()
                        return None
                    eviction = Eviction(
                        agent_id=conversation.agent_id, owner=conversation.owner,
                        conversation_id=conversation.id, caller_id=conversation.caller_id,
                        evicted_ids=[m.id for m in buffer[:cut]], kept_ids=[m.id for m in buffer[cut:]],
                    )
                    pipe.multi()
                    pipe.ltrim(key, cut, -1)
                    self._queue.add(pipe, SLEEPTIME_JOB, eviction.model_dump_json())
                    await pipe.execute()
                    return eviction
                except WatchError:
                    continue
        raise RuntimeError(f"the buffer of conversation {conversation.id} kept changing; trim abandoned after {_WATCH_RETRIES} tries")
