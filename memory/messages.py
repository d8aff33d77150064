"""Conversation messages in Redis: the full history and the in-context buffer."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol

from redis.asyncio import Redis

from memory import keys
from memory.records import MessageRecord

_SCAN_PAGE = 200
SEARCH_SCAN_LIMIT = 1000


class ConversationMessages(Protocol):
    """Where an agent reads its context and writes its messages: the stored conversation
    (`MessageStore`) or one response's own (`memory.scratch.ScratchMessages`)."""

    async def append(self, messages: Sequence[MessageRecord]) -> None:
        """Add messages to history and context."""

    async def update(self, message: MessageRecord) -> None:
        """Rewrite a message."""

    async def drop_from_buffer(self, conversation_id: str, message_ids: Sequence[str]) -> None:
        """Take messages out of the context."""

    async def buffer(self, conversation_id: str) -> list[MessageRecord]:
        """The context, oldest first."""

    async def for_response(self, conversation_id: str, response_id: str, lookback: int = 50) -> list[MessageRecord]:
        """The messages one response wrote, oldest first."""


class MessageStore:
    """Every message of a conversation (history) and which of them are in its context (buffer)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def append(self, messages: Sequence[MessageRecord]) -> None:
        """Persist messages atomically: each record, its place in history and in the buffer."""
        if not messages:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            for m in messages:
                pipe.set(keys.message(m.id), m.model_dump_json())
                pipe.rpush(keys.history(m.conversation_id), m.id)
                pipe.rpush(keys.buffer(m.conversation_id), m.id)
            await pipe.execute()

    async def update(self, message: MessageRecord) -> None:
        """Rewrite a stored message (e.g. an answer truncated to what the caller heard)."""
        await self._redis.set(keys.message(message.id), message.model_dump_json(), xx=True)

    async def drop_from_buffer(self, conversation_id: str, message_ids: Sequence[str]) -> None:
        """Take messages out of the conversation's context; its history keeps them."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for message_id in message_ids:
                pipe.lrem(keys.buffer(conversation_id), 0, message_id)
            await pipe.execute()

    async def get(self, message_id: str) -> MessageRecord | None:
        """One message by id."""
        raw = await self._redis.get(keys.message(message_id))
        return MessageRecord.model_validate_json(raw) if raw is not None else None

    async def get_many(self, message_ids: Sequence[str]) -> list[MessageRecord]:
        """Messages by id, in the order given (ids with no stored message are skipped)."""
        return await self._load([i.encode() for i in message_ids])

    async def _load(self, ids: list[bytes | str]) -> list[MessageRecord]:
        if not ids:
            return []
        raws = await self._redis.mget([keys.message(keys.text(i)) for i in ids])
        return [MessageRecord.model_validate_json(r) for r in raws if r is not None]

    async def buffer(self, conversation_id: str) -> list[MessageRecord]:
        """The messages in the conversation's context window, oldest first."""
        return await self._load(await self._redis.lrange(keys.buffer(conversation_id), 0, -1))

    async def for_response(self, conversation_id: str, response_id: str, lookback: int = 50) -> list[MessageRecord]:
        """The messages in the conversation's recent context that one response produced, oldest first."""
        recent = await self._load(await self._redis.lrange(keys.buffer(conversation_id), -lookback, -1))
        return [m for m in recent if m.response_id == response_id]

    async def history(self, conversation_id: str, limit: int | None = None) -> list[MessageRecord]:
        """The conversation's whole history (or its newest `limit` messages), oldest first."""
        start = -limit if limit else 0
        return await self._load(await self._redis.lrange(keys.history(conversation_id), start, -1))

    async def count(self, conversation_id: str) -> int:
        """How many messages the conversation has had in all."""
        return int(await self._redis.llen(keys.history(conversation_id)))

    async def search(
        self, conversation_id: str, keyword: str, limit: int = 3, where: Callable[[MessageRecord], bool] | None = None
    ) -> list[MessageRecord]:
        """Messages containing `keyword` as whole words (case-insensitive), newest first.

        What the caller said, the assistant's text and tool results are searched (not hidden
        notes); `where` narrows further (a date range, the question being asked). Only the
        newest `SEARCH_SCAN_LIMIT` messages are read, so a keyword nobody said costs a bounded
        scan, not the whole history: older messages were evicted long ago, and every eviction
        went to the sleeptime agent, which archived it (archival search reaches them).
        """
        pattern = whole_words(keyword)
        found: list[MessageRecord] = []
        for end in range(-1, -SEARCH_SCAN_LIMIT - 1, -_SCAN_PAGE):
            ids = await self._redis.lrange(keys.history(conversation_id), end - _SCAN_PAGE + 1, end)
            for message in reversed(await self._load(ids)):
                if _searchable(message) and pattern.search(message.content or "") and (where is None or where(message)):
                    found.append(message)
                    if len(found) == limit:
                        return found
            if len(ids) < _SCAN_PAGE:
                break
        return found

    async def delete(self, conversation_id: str) -> int:
        """Delete the conversation's messages, history and buffer; returns how many messages there were."""
        ids = await self._redis.lrange(keys.history(conversation_id), 0, -1)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.history(conversation_id), keys.buffer(conversation_id))
            if ids:
                pipe.delete(*[keys.message(keys.text(i)) for i in ids])
            await pipe.execute()
        return len(ids)


def whole_words(keyword: str) -> re.Pattern[str]:
    """A case-insensitive pattern for `keyword` standing as whole words ("Tom" matches "Tom's", not "tomorrow")."""
    return re.compile(rf"(?<!\w){re.escape(keyword.strip())}(?!\w)", re.IGNORECASE)


def _searchable(message: MessageRecord) -> bool:
    return message.role in ("user", "assistant", "tool") and not message.hidden
