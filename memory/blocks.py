"""Memory blocks: labelled pieces of text (`persona`, `human`, custom) always in the agent's prompt.

Some blocks belong to the agent and every caller sees them (`persona`, and custom blocks by
default); others belong to each caller (`human`, and the custom labels the agent declares
in `caller_blocks`): each conversation has its own.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from memory import keys
from memory.conversations import Conversation
from memory.records import AgentRecord

PERSONA = "persona"
HUMAN = "human"
DEFAULT_LIMIT = 5000
LABEL_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class BlockLimitError(ValueError):
    """An edit that would make a block longer than its character limit."""


class CallerRequiredError(ValueError):
    """A per-caller block was addressed without saying whose."""


class MemoryBlock(BaseModel):
    """One block: its label, its text and the most characters the text may have."""

    label: str = Field(pattern=LABEL_PATTERN)
    value: str = ""
    limit: int = Field(default=DEFAULT_LIMIT, gt=0)

    def check(self) -> MemoryBlock:
        """Return the block if its value fits its limit; raise `BlockLimitError` otherwise."""
        if len(self.value) > self.limit:
            raise BlockLimitError(
                f"memory block {self.label!r} is limited to {self.limit} characters but the new value has "
                f"{len(self.value)}; shorten it by {len(self.value) - self.limit} characters (or raise the limit)"
            )
        return self


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def is_per_caller(agent: AgentRecord, label: str) -> bool:
    """Whether each caller of `agent` has their own block `label`."""
    return label == HUMAN or label in agent.caller_blocks


class BlockStore:
    """Memory blocks in Redis hashes (label -> JSON): one per agent (shared) and one per conversation (per caller).

    Every conversation has `persona` and `human`: until written, `persona` is the agent's
    system prompt and `human` is empty. Custom labels exist once written.
    """

    def __init__(self, redis: Redis, default_limit: int = DEFAULT_LIMIT) -> None:
        self._redis = redis
        self._default_limit = default_limit

    def _default(self, agent: AgentRecord, label: str) -> MemoryBlock | None:
        if label == PERSONA:
            return MemoryBlock(label=PERSONA, value=agent.system_prompt, limit=max(self._default_limit, len(agent.system_prompt)))
        if label == HUMAN:
            return MemoryBlock(label=HUMAN, limit=self._default_limit)
        return None

    def _key(self, agent: AgentRecord, conversation: Conversation | None, label: str) -> str:
        if not is_per_caller(agent, label):
            return keys.blocks(agent.id)
        if conversation is None:
            raise CallerRequiredError(f"memory block {label!r} belongs to each caller: say which caller")
        return keys.caller_blocks(conversation.id)

    async def _stored(self, key: str) -> dict[str, MemoryBlock]:
        return {_text(label): MemoryBlock.model_validate_json(raw) for label, raw in (await self._redis.hgetall(key)).items()}

    async def list(self, agent: AgentRecord, conversation: Conversation | None) -> list[MemoryBlock]:
        """The blocks one conversation sees: `persona`, `human`, then custom blocks by label.

        Without a conversation, only the agent's shared blocks.
        """
        shared = {label: b for label, b in (await self._stored(keys.blocks(agent.id))).items() if not is_per_caller(agent, label)}
        own = await self._stored(keys.caller_blocks(conversation.id)) if conversation is not None else {}
        stored = shared | {label: b for label, b in own.items() if is_per_caller(agent, label)}
        standard = [PERSONA, HUMAN] if conversation is not None else [PERSONA]
        defaults = [stored.pop(label, None) or self._default(agent, label) for label in standard]
        return [b for b in defaults if b is not None] + [stored[label] for label in sorted(stored)]

    async def get(self, agent: AgentRecord, conversation: Conversation | None, label: str) -> MemoryBlock | None:
        """One block as `conversation` sees it, or None for a custom label never written."""
        raw = await self._redis.hget(self._key(agent, conversation, label), label)
        return MemoryBlock.model_validate_json(raw) if raw is not None else self._default(agent, label)

    async def set(
        self, agent: AgentRecord, conversation: Conversation | None, label: str, value: str, limit: int | None = None
    ) -> MemoryBlock:
        """Write a block's whole value (and optionally a new limit): the caller's own block if it is per caller.

        Raises `BlockLimitError` when the value is longer than the limit and `CallerRequiredError`
        for a per-caller block without a conversation; nothing is written then.
        """
        current = await self.get(agent, conversation, label)
        block = MemoryBlock(
            label=label, value=value, limit=limit or (current.limit if current else self._default_limit)
        ).check()
        await self._redis.hset(self._key(agent, conversation, label), label, block.model_dump_json())
        return block

    async def delete(self, conversation: Conversation) -> tuple[str, ...]:
        """Delete the conversation's own blocks; returns their labels."""
        key = keys.caller_blocks(conversation.id)
        labels = tuple(sorted(_text(label) for label in await self._redis.hkeys(key)))
        await self._redis.delete(key)
        return labels
