"""Archival memory for a process that cannot open the store: requests through the job queue to the server that holds it.

Qdrant Edge can be open in one process only; while `confab serve` holds it, CLI commands
queue an `archive` job (a typed request) and wait for the answer the server's job worker
pushes to a reply key only this request knows. The queue is the server's own, so this
works with any number of server processes and needs no extra port or credentials beyond
Redis, which the CLI already uses.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field, TypeAdapter
from redis.asyncio import Redis

from memory import keys
from memory.archival import Passage, ScoredPassage
from memory.archive import ArchivalMemory
from memory.jobs import Job, JobQueue

ARCHIVE_JOB = "archive"
REPLY_TTL_S = 60
_SCORED = TypeAdapter(list[ScoredPassage])


class ArchiveRequest(BaseModel):
    """One operation on archival memory, run by the process that holds the store."""

    op: Literal["insert", "search", "count", "delete_scope"]
    reply_to: str = Field(default_factory=lambda: f"reply-{uuid.uuid4().hex}", pattern=r"^reply-[0-9a-f]{32}$")
    agent_id: str = ""
    scopes: list[str] = Field(default_factory=list)
    query: str = ""
    limit: int = 5
    passages: list[Passage] = Field(default_factory=list)


class ArchiveReply(BaseModel):
    """The answer: a JSON result, or the error that stopped it."""

    result: str = "null"
    error: str | None = None


class NoServerAnswered(RuntimeError):
    """No process holding archival memory answered in time."""


class RemoteArchive:
    """The part of `ArchivalMemory` the CLI uses, answered by a running server."""

    def __init__(self, redis: Redis, queue: JobQueue, timeout_s: float = 30.0) -> None:
        self._redis = redis
        self._queue = queue
        self._timeout_s = timeout_s

    async def _ask(self, request: ArchiveRequest) -> str:
        await self._queue.enqueue(ARCHIVE_JOB, request.model_dump_json())
        answer = await self._redis.blpop([keys.reply(request.reply_to)], timeout=self._timeout_s)
        if answer is None:  # withdraw it, so that a server started later does not run a request reported as failed
            await self._queue.discard(lambda payload: request.reply_to in payload)
            raise NoServerAnswered(f"no running server answered within {self._timeout_s:.0f} s (is `confab serve` running on this Redis?)")
        reply = ArchiveReply.model_validate_json(answer[1])
        if reply.error is not None:
            raise RuntimeError(f"the server could not do it: {reply.error}")
        return reply.result

    async def insert(self, passages: Sequence[Passage]) -> list[str]:
        """Embed and store passages; their ids."""
        return TypeAdapter(list[str]).validate_json(await self._ask(ArchiveRequest(op="insert", passages=list(passages))))

    async def search(self, agent_id: str, query: str, *, scopes: Sequence[str], limit: int = 5) -> list[ScoredPassage]:
        """The agent's passages of `scopes` closest to `query`, best first."""
        request = ArchiveRequest(op="search", agent_id=agent_id, scopes=list(scopes), query=query, limit=limit)
        return _SCORED.validate_json(await self._ask(request))

    async def count(self, agent_id: str, scopes: Sequence[str] = ()) -> int:
        """How many passages the agent has (in `scopes` only, when given)."""
        return int(await self._ask(ArchiveRequest(op="count", agent_id=agent_id, scopes=list(scopes))))

    async def delete_scope(self, agent_id: str, scope: str) -> int:
        """Forget the agent's passages of one scope; how many there were."""
        return int(await self._ask(ArchiveRequest(op="delete_scope", agent_id=agent_id, scopes=[scope])))


async def _run(archive: ArchivalMemory, request: ArchiveRequest) -> str:
    match request.op:
        case "insert":
            return TypeAdapter(list[str]).dump_json(await archive.insert(request.passages)).decode()
        case "search":
            found = await archive.search(request.agent_id, request.query, scopes=request.scopes, limit=request.limit)
            return _SCORED.dump_json(found).decode()
        case "count":
            return str(await archive.count(request.agent_id, request.scopes))
        case "delete_scope":
            [scope] = request.scopes
            return str(await archive.store.delete_scope(request.agent_id, scope))


async def answer_archive_request(archive: ArchivalMemory, redis: Redis, job: Job) -> None:
    """The job handler: run the request and push the reply (an error is a reply too, never a retry)."""
    request = ArchiveRequest.model_validate_json(job.payload)
    try:
        reply = ArchiveReply(result=await _run(archive, request))
    except Exception as exc:  # the CLI shows it; retrying an operator's bad request would not help
        reply = ArchiveReply(error=f"{type(exc).__name__}: {exc}")
    key = keys.reply(request.reply_to)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.rpush(key, reply.model_dump_json())
        pipe.expire(key, REPLY_TTL_S)
        await pipe.execute()
