"""Agent records in Redis: create, find by name or id, list, delete."""

from __future__ import annotations

from redis.asyncio import Redis

from memory import keys
from memory.records import AgentRecord

DEFAULT_AGENT_NAME = "default"


class AgentExistsError(ValueError):
    """An agent with that name already exists for the owner."""


class AgentStore:
    """Agents, scoped by owner: no owner sees or reaches another owner's agents."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def create(self, agent: AgentRecord) -> AgentRecord:
        """Store a new agent; its name must be unused for its owner."""
        claimed = await self._redis.hsetnx(keys.agent_names(agent.owner), agent.name, agent.id)
        if not claimed:
            raise AgentExistsError(f"agent {agent.name!r} already exists")
        await self._redis.set(keys.agent(agent.id), agent.model_dump_json())
        return agent

    async def get(self, owner: str, name_or_id: str) -> AgentRecord | None:
        """The owner's agent with that name or id, or None."""
        agent_id = await self._redis.hget(keys.agent_names(owner), name_or_id)
        raw = await self._redis.get(keys.agent(agent_id.decode() if agent_id else name_or_id))
        if raw is None:
            return None
        agent = AgentRecord.model_validate_json(raw)
        return agent if agent.owner == owner else None

    async def get_or_create_default(self, owner: str) -> AgentRecord:
        """The owner's `default` agent, created on first use."""
        agent = await self.get(owner, DEFAULT_AGENT_NAME)
        if agent is not None:
            return agent
        try:
            return await self.create(AgentRecord(owner=owner, name=DEFAULT_AGENT_NAME))
        except AgentExistsError:
            found = await self.get(owner, DEFAULT_AGENT_NAME)
            assert found is not None
            return found

    async def resolve(self, owner: str, name_or_id: str | None) -> AgentRecord | None:
        """The agent a caller asked for: the named one, or the `default` (created on first use) when none is named."""
        if name_or_id in (None, DEFAULT_AGENT_NAME):
            return await self.get_or_create_default(owner)
        return await self.get(owner, name_or_id)

    async def list(self, owner: str) -> list[AgentRecord]:
        """The owner's agents, sorted by name."""
        ids = await self._redis.hvals(keys.agent_names(owner))
        raws = await self._redis.mget([keys.agent(i.decode()) for i in ids]) if ids else []
        agents = [AgentRecord.model_validate_json(r) for r in raws if r is not None]
        return sorted(agents, key=lambda a: a.name)

    async def delete(self, owner: str, name_or_id: str) -> bool:
        """Delete the agent, its shared blocks and every conversation it had; False when there was none."""
        agent = await self.get(owner, name_or_id)
        if agent is None:
            return False
        conversation_ids = [c.decode() for c in await self._redis.hkeys(keys.conversations(agent.id))]
        message_ids = [m for c in conversation_ids for m in await self._redis.lrange(keys.history(c), 0, -1)]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.agent_names(owner), agent.name)
            pipe.delete(keys.agent(agent.id), keys.blocks(agent.id), keys.conversations(agent.id))
            for c in conversation_ids:
                pipe.delete(keys.history(c), keys.buffer(c), keys.caller_blocks(c))
            if message_ids:
                pipe.delete(*[keys.message(m.decode()) for m in message_ids])
            await pipe.execute()
        return True
