"""Who an agent is talking to: caller ids, and the conversation each (agent, caller) pair owns.

A caller id is an opaque string (a phone number, an email, a UUID) chosen by a front end.
It is validated here and never becomes part of a Redis key or a Qdrant filter: stores are
keyed by the conversation id, a hash of the agent id and the caller id (or a random id for
an anonymous caller, whose conversation is stored but never resumed).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

from pydantic import BaseModel
from redis.asyncio import Redis

from memory import keys
from memory.archival.records import KNOWLEDGE
from memory.records import AgentRecord, utc_now

CALLER_ID_MAX = 128
_CALLER_ID = re.compile(r"[A-Za-z0-9._@+:-]+")


class CallerIdError(ValueError):
    """A caller id that is empty, too long or has characters outside the allowed set."""


def check_caller_id(caller_id: str) -> str:
    """Return `caller_id` if it is a valid caller id; raise `CallerIdError` saying why not (without echoing it)."""
    if not caller_id:
        raise CallerIdError("a caller id must not be empty")
    if len(caller_id) > CALLER_ID_MAX:
        raise CallerIdError(f"a caller id has at most {CALLER_ID_MAX} characters (this one has {len(caller_id)})")
    if _CALLER_ID.fullmatch(caller_id) is None:
        raise CallerIdError("a caller id may only contain letters, digits and . _ @ + : - (e.g. a phone number, an email or a UUID)")
    return caller_id


def _conversation_id(agent_id: str, caller_id: str) -> str:
    digest = hashlib.sha256(f"{agent_id}\n{caller_id}".encode()).hexdigest()
    return f"conv-{digest[:32]}"


@dataclass(frozen=True)
class Conversation:
    """One caller's conversation with one agent: what every per-caller store is keyed by.

    `caller_id` is None for an anonymous caller. `id` is safe to put in keys and filters:
    a hash of the agent and caller ids, or random for an anonymous caller.
    """

    owner: str
    agent_id: str
    caller_id: str | None
    id: str

    @classmethod
    def of(cls, agent: AgentRecord, caller_id: str | None) -> Conversation:
        """The conversation of `caller_id` with `agent` (a fresh one when `caller_id` is None); validates the id."""
        if caller_id is None:
            return cls(agent.owner, agent.id, None, f"conv-{uuid.uuid4().hex}")
        return cls(agent.owner, agent.id, check_caller_id(caller_id), _conversation_id(agent.id, caller_id))

    @property
    def scopes(self) -> tuple[str, ...]:
        """The archival scopes this conversation searches: its own passages and the agent's knowledge."""
        return (self.id, KNOWLEDGE)

    @property
    def label(self) -> str:
        """How logs and listings name the caller (never the raw id in logs: use `id` there)."""
        return self.caller_id or "(anonymous)"


class CallerRecord(BaseModel):
    """A registered conversation of an agent: whose it is and when it was last opened."""

    conversation_id: str
    caller_id: str | None
    last_seen: str


class ConversationStore:
    """The registry of an agent's conversations (a Redis hash conversation id -> `CallerRecord`)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def open(self, agent: AgentRecord, caller_id: str | None) -> Conversation:
        """The caller's conversation with `agent`, registered (a new anonymous one when `caller_id` is None)."""
        conversation = Conversation.of(agent, caller_id)
        record = CallerRecord(conversation_id=conversation.id, caller_id=caller_id, last_seen=utc_now().isoformat(timespec="microseconds"))
        await self._redis.hset(keys.conversations(agent.id), conversation.id, record.model_dump_json())
        return conversation

    async def find(self, agent: AgentRecord, caller_id: str) -> Conversation | None:
        """The caller's conversation if it was ever opened (never creates one); validates the id."""
        conversation = Conversation.of(agent, caller_id)
        known = await self._redis.hexists(keys.conversations(agent.id), conversation.id)
        return conversation if known else None

    async def remove(self, conversation: Conversation) -> None:
        """Unregister the conversation (its stores are emptied by the caller of this)."""
        await self._redis.hdel(keys.conversations(conversation.agent_id), conversation.id)
        await self._redis.delete(keys.responding(conversation.id))

    async def all(self, agent: AgentRecord) -> list[Conversation]:
        """Every conversation of the agent, as conversations."""
        return [Conversation(agent.owner, agent.id, r.caller_id, r.conversation_id) for r in await self.list(agent)]

    async def list(self, agent: AgentRecord) -> list[CallerRecord]:
        """Every conversation of the agent, most recently opened first."""
        raws = await self._redis.hvals(keys.conversations(agent.id))
        records = [CallerRecord.model_validate_json(r) for r in raws]
        return sorted(records, key=lambda r: r.last_seen, reverse=True)
