"""A context kept for one response only: the messages of an out-of-band response, never stored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from memory.messages import ConversationMessages
from memory.records import MessageRecord


@dataclass
class ScratchMessages:
    """What one response sees and writes, held in this object (a `ConversationMessages`).

    `seed` is the context it starts from (a snapshot of the conversation, or the client's own
    items). `persist`, when set, also receives every message the response writes: a response
    that answers its own items but still adds its answer to the conversation.
    """

    seed: list[MessageRecord]
    persist: ConversationMessages | None = None
    _written: list[MessageRecord] = field(default_factory=list, init=False)

    async def append(self, messages: Sequence[MessageRecord]) -> None:
        """Add messages to this context (and to the stored conversation when persisting)."""
        self._written.extend(messages)
        if self.persist is not None:
            await self.persist.append(messages)

    async def update(self, message: MessageRecord) -> None:
        """Rewrite a message (the scratch copy is the object the caller changed)."""
        if self.persist is not None:
            await self.persist.update(message)

    async def drop_from_buffer(self, conversation_id: str, message_ids: Sequence[str]) -> None:
        """Take messages out of this context."""
        dropped = set(message_ids)
        self.seed = [m for m in self.seed if m.id not in dropped]
        self._written = [m for m in self._written if m.id not in dropped]
        if self.persist is not None:
            await self.persist.drop_from_buffer(conversation_id, message_ids)

    async def buffer(self, conversation_id: str) -> list[MessageRecord]:
        """The context: the seed, then what the response wrote."""
        return [*self.seed, *self._written]

    async def for_response(self, conversation_id: str, response_id: str, lookback: int = 50) -> list[MessageRecord]:
        """The messages `response_id` wrote, oldest first."""
        return [m for m in self._written if m.response_id == response_id][-lookback:]
