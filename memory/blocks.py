"""Memory blocks: labelled pieces of text (`persona`, `human`, custom) always in the agent's prompt."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from pydantic import BaseModel, Field
from redis.asyncio import Redis
from redis.exceptions import WatchError

from memory import keys
from memory.records import AgentRecord, utc_now

PERSONA = "persona"
HUMAN = "human"
DEFAULT_LIMIT = 5000
OPERATOR = "operator"
SLEEPTIME = "sleeptime"
AGENT = "agent"
LABEL_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class BlockVersion(BaseModel):
    """One rewrite of a block: who made it, when, and the text before and after."""

    at: datetime = Field(default_factory=utc_now)
    author: str
    before: str
    after: str


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
            label.decode(): MemoryBlock.model_validate_json(raw)
            for label, raw in (await self._redis.hgetall(keys.blocks(agent.id))).items()
        }
        defaults = [stored.pop(label, None) or self._default(agent, label) for label in (PERSONA, HUMAN)]
        return [b for b in defaults if b is not None] + [stored[label] for label in sorted(stored)]

    async def get(self, agent: AgentRecord, label: str) -> MemoryBlock | None:
        """One block, or None for a custom label never written."""
        raw = await self._redis.hget(keys.blocks(agent.id), label)
        return MemoryBlock.model_validate_json(raw) if raw is not None else self._default(agent, label)

    async def set(
        self, agent: AgentRecord, label: str, value: str, limit: int | None = None, author: str = OPERATOR
    ) -> MemoryBlock:
        """Write a block's whole value (and optionally a new limit); `author` says who, for its history.

        Raises `BlockLimitError` when the value is longer than the limit; nothing is written then.
        """
        return await self.edit(agent, label, lambda _: value, limit, author)

    async def edit(
        self, agent: AgentRecord, label: str, change: Callable[[str], str], limit: int | None = None, author: str = OPERATOR
    ) -> MemoryBlock:
        """Rewrite a block as `change(current text)`, recording the rewrite (who, when, before, after).

        The block and its history entry are written in one transaction that starts over if
        the block changed meanwhile, so an edit never undoes a concurrent one and `before` is
        always what was replaced. Whatever `change` raises (a refusal) leaves everything as it was;
        so does `BlockLimitError`, raised when the new value is longer than the limit.
        """
        key = keys.blocks(agent.id)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    current = await self.get(agent, label)
                    before = current.value if current else ""
                    block = MemoryBlock(
                        label=label, value=change(before), limit=limit or (current.limit if current else self._default_limit)
                    ).check()
                    version = BlockVersion(author=author, before=before, after=block.value)
                    pipe.multi()
                    pipe.hset(key, label, block.model_dump_json())
                    pipe.rpush(keys.block_history(key, label), version.model_dump_json())
                    await pipe.execute()
                    return block
                except WatchError:
                    continue

    async def history(self, agent: AgentRecord, label: str) -> Sequence[BlockVersion]:
        """Every rewrite of a block, oldest first (version 1 is the first)."""
        raws = await self._redis.lrange(keys.block_history(keys.blocks(agent.id), label), 0, -1)
        return [BlockVersion.model_validate_json(raw) for raw in raws]

    async def revert(self, agent: AgentRecord, label: str, version: int, author: str = OPERATOR) -> MemoryBlock:
        """Give a block back the text it had after rewrite `version` (0: before the first); recorded as a rewrite too.

        Raises `LookupError` for a version the block never had.
        """
        versions = await self.history(agent, label)
        if not 0 <= version <= len(versions):
            raise LookupError(f"memory block {label!r} has versions 0 to {len(versions)}, not {version}")
        text = versions[0].before if version == 0 else versions[version - 1].after
        return await self.set(agent, label, text, author=f"{author} (revert to version {version})")
