"""Memory blocks: labelled pieces of text (`persona`, `human`, custom) always in the agent's prompt.

Some blocks belong to the agent and every caller sees them (`persona`, and custom blocks by
default); others belong to each caller (`human`, and the custom labels the agent declares
in `caller_blocks`): each conversation has its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from pydantic import BaseModel, Field
from redis.asyncio import Redis
from redis.exceptions import WatchError

from memory import keys
from memory.conversations import Conversation
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
        return {keys.text(label): MemoryBlock.model_validate_json(raw) for label, raw in (await self._redis.hgetall(key)).items()}

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
        self, agent: AgentRecord, conversation: Conversation | None, label: str, value: str,
        limit: int | None = None, author: str = OPERATOR,
    ) -> MemoryBlock:
        """Write a block's whole value (and optionally a new limit): the caller's own block if it is per caller.

        `author` says who, for the block's history. Raises `BlockLimitError` when the value is
        longer than the limit and `CallerRequiredError` for a per-caller block without a
        conversation; nothing is written then.
        """
        return await self.edit(agent, conversation, label, lambda _: value, limit, author)

    async def edit(
        self, agent: AgentRecord, conversation: Conversation | None, label: str, change: Callable[[str], str],
        limit: int | None = None, author: str = OPERATOR,
    ) -> MemoryBlock:
        """Rewrite a block as `change(current text)`, recording the rewrite (who, when, before, after).

        The block and its history entry are written in one transaction that starts over if
        the block changed meanwhile, so an edit never undoes a concurrent one and `before` is
        always what was replaced. Whatever `change` raises (a refusal) leaves everything as it was;
        so do `BlockLimitError` and `CallerRequiredError` (see `set`).
        """
        key = self._key(agent, conversation, label)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    current = await self.get(agent, conversation, label)
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

    async def history(self, agent: AgentRecord, conversation: Conversation | None, label: str) -> Sequence[BlockVersion]:
        """Every rewrite of a block (as `conversation` sees it), oldest first (version 1 is the first)."""
        raws = await self._redis.lrange(keys.block_history(self._key(agent, conversation, label), label), 0, -1)
        return [BlockVersion.model_validate_json(raw) for raw in raws]

    async def revert(
        self, agent: AgentRecord, conversation: Conversation | None, label: str, version: int, author: str = OPERATOR
    ) -> MemoryBlock:
        """Give a block back the text it had after rewrite `version` (0: before the first); recorded as a rewrite too.

        Raises `LookupError` for a version the block never had.
        """
        versions = await self.history(agent, conversation, label)
        if not 0 <= version <= len(versions):
            raise LookupError(f"memory block {label!r} has versions 0 to {len(versions)}, not {version}")
        text = versions[0].before if version == 0 else versions[version - 1].after
        return await self.set(agent, conversation, label, text, author=f"{author} (revert to version {version})")

    async def delete(self, conversation: Conversation) -> tuple[str, ...]:
        """Delete the conversation's own blocks and their histories; returns their labels."""
        key = keys.caller_blocks(conversation.id)
        labels = tuple(sorted(keys.text(label) for label in await self._redis.hkeys(key)))
        await self._redis.delete(key, *(keys.block_history(key, label) for label in labels))
        return labels
