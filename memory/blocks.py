"""Memory blocks: labelled pieces of text (`persona`, `human`, custom) always in the agent's prompt."""

from __future__ import annotations

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from memory import keys
from memory.records import AgentRecord

PERSONA = "persona"
HUMAN = "human"
DEFAULT_LIMIT = 5000
LABEL_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class BlockLimitError(ValueError):
    """An edit that would make a block longer than its character limit."""


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


class BlockStore:
    """An agent's memory blocks in one Redis hash (label -> JSON).

    Every agent has `persona` and `human`: until written, `persona` is the agent's
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

    async def list(self, agent: AgentRecord) -> list[MemoryBlock]:
        """Every block of the agent: `persona`, `human`, then custom blocks by label."""
        stored = {
            keys.text(label): MemoryBlock.model_validate_json(raw)
            for label, raw in (await self._redis.hgetall(keys.blocks(agent.id))).items()
        }
        defaults = [stored.pop(label, None) or self._default(agent, label) for label in (PERSONA, HUMAN)]
        return [b for b in defaults if b is not None] + [stored[label] for label in sorted(stored)]

    async def get(self, agent: AgentRecord, label: str) -> MemoryBlock | None:
        """One block, or None for a custom label never written."""
        raw = await self._redis.hget(keys.blocks(agent.id), label)
        return MemoryBlock.model_validate_json(raw) if raw is not None else self._default(agent, label)

    async def set(self, agent: AgentRecord, label: str, value: str, limit: int | None = None) -> MemoryBlock:
        """Write a block's whole value (and optionally a new limit).

        Raises `BlockLimitError` when the value is longer than the limit; nothing is written then.
        """
        current = await self.get(agent, label)
        block = MemoryBlock(
            label=label, value=value, limit=limit or (current.limit if current else self._default_limit)
        ).check()
        await self._redis.hset(keys.blocks(agent.id), label, block.model_dump_json())
        return block
