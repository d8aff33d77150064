"""The memory side of a `Runtime`: blocks, buffer trimming, the job queue, archival memory and the sleeptime worker."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from datetime import datetime

from redis.asyncio import Redis

from agent.llm import ChatModel
from agent.prompts import compile_system_prompt
from agent.sleeptime import SleeptimeAgent
from agent.tools.base import Tool
from agent.tools.memory_tools import MemoryTools
from agent.tools.search_memory import search_memory_tool
from memory.agents import AgentStore
from memory.archive import ArchivalConfig, ArchivalMemory
from memory.archive_requests import ARCHIVE_JOB, answer_archive_request
from memory.blocks import BlockStore
from memory.conversations import Conversation, ConversationStore
from memory.buffer import SLEEPTIME_JOB, BufferLimits, BufferTrimmer
from memory import keys
from memory.jobs import JobQueue
from memory.messages import MessageStore
from memory.records import AgentRecord, utc_now
from memory.response_lock import ResponseLocks
from memory.worker import JobWorker, WorkerSettings
from server.config import Settings

log = logging.getLogger(__name__)


def archival_config(settings: Settings) -> ArchivalConfig:
    """Where archival memory lives and how it embeds, from the settings."""
    return ArchivalConfig(
        data_dir=settings.data_dir, qdrant_url=settings.qdrant_url, qdrant_api_key=settings.qdrant_api_key,
        embedder=settings.embedder, embedding_model=settings.embedding_model, embedding_dim=settings.embedding_dim,
        embedding_base_url=settings.embedding_base_url, embedding_api_key=settings.embedding_api_key,
    )


def worker_settings(settings: Settings) -> WorkerSettings:
    """How the job worker runs, from the settings."""
    return WorkerSettings(
        concurrency=settings.jobs_concurrency, max_attempts=settings.jobs_max_attempts,
        retry_base_s=settings.jobs_retry_base_s, claim_idle_s=settings.jobs_claim_idle_s, poll_s=settings.jobs_poll_s,
    )


class ScopeEraser(Protocol):
    """Archival memory as `forget_caller` needs it: here (`ArchivalMemory`) or in a running server (`RemoteArchive`)."""

    async def delete_scope(self, agent_id: str, scope: str) -> int:
        """Forget the agent's passages of one scope; how many there were."""


@dataclass(frozen=True)
class Erased:
    """What forgetting a caller erased."""

    messages: int
    blocks: tuple[str, ...]
    jobs: int
    passages: int

    def describe(self) -> str:
        """One line for the operator."""
        blocks = ", ".join(self.blocks) or "none"
        return f"{self.messages} messages, blocks: {blocks}, {self.passages} archival passages, {self.jobs} queued jobs"


def _job_conversation(payload: str) -> str | None:
    try:
        found = json.loads(payload).get("conversation_id")
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


@dataclass
class MemoryServices:
    """Everything agents remember with, for one process.

    Redis-backed parts (blocks, buffer, jobs) exist at once; archival memory is opened by
    `open_archive()` (it loads the embedding model and, by default, takes the Qdrant Edge
    directory) and the sleeptime worker is started by `start_worker()`: a server does both,
    one-shot CLI commands only what they need.
    """

    settings: Settings
    redis: Redis
    agents: AgentStore
    messages: MessageStore
    model_for: Callable[[AgentRecord], ChatModel]
    """The model for background memory work (the sleeptime agent)."""
    clock: Callable[[], datetime] = field(default=utc_now)
    blocks: BlockStore = field(init=False)
    conversations: ConversationStore = field(init=False)
    responses: ResponseLocks = field(init=False)
    jobs: JobQueue = field(init=False)
    trimmer: BufferTrimmer = field(init=False)
    archive: ArchivalMemory | None = field(default=None, init=False)
    worker: JobWorker | None = field(default=None, init=False)
    requests: JobQueue = field(init=False)
    request_worker: JobWorker | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.blocks = BlockStore(self.redis, self.settings.block_char_limit)
        self.conversations = ConversationStore(self.redis)
        self.responses = ResponseLocks(self.redis)
        self.jobs = JobQueue(self.redis)
        self.requests = JobQueue(self.redis, keys.requests(), keys.dead_requests())
        limits = BufferLimits(self.settings.min_message_buffer_length, self.settings.max_message_buffer_length)
        self.trimmer = BufferTrimmer(self.redis, self.messages, self.jobs, limits)

    async def open_archive(self) -> ArchivalMemory:
        """Load the embedder (off the event loop) and open the archival store, once."""
        if self.archive is None:
            self.archive = await ArchivalMemory.open(archival_config(self.settings))
        return self.archive

    async def forget(self, agent_id: str) -> None:
        """Delete the agent's archival passages (opening just the store, no embedder, if it is not open)."""
        if self.archive is not None:
            await self.archive.store.delete_agent(agent_id)
            return
        store = await archival_config(self.settings).open_store(self.settings.embedding_dim)
        try:
            await store.delete_agent(agent_id)
        finally:
            await store.close()

    async def forget_caller(self, conversation: Conversation, archive: ScopeEraser) -> Erased:
        """Erase one caller's conversation everywhere: history, own blocks, queued jobs, archival passages, registration.

        Messages go first, so a sleeptime job already running finds nothing left to archive.
        """
        messages = await self.messages.delete(conversation.id)
        jobs = await self.jobs.discard(lambda payload: _job_conversation(payload) == conversation.id)
        blocks = await self.blocks.delete(conversation)
        passages = await archive.delete_scope(conversation.agent_id, conversation.id)
        await self.conversations.remove(conversation)
        return Erased(messages, blocks, jobs, passages)

    def start_worker(self) -> None:
        """Start this process's workers: sleeptime jobs, and (apart, so they never wait behind those) archival
        requests from the CLI. Archival memory must be open."""
        if self.archive is None:
            raise RuntimeError("open archival memory before starting the sleeptime worker")
        sleeptime = SleeptimeAgent(self.agents, self.messages, self.blocks, self.archive, self.model_for, clock=self.clock)
        self.worker = JobWorker(self.jobs, {SLEEPTIME_JOB: sleeptime.handle}, worker_settings(self.settings))
        self.worker.start()
        answer = functools.partial(answer_archive_request, self.archive, self.redis)
        self.request_worker = JobWorker(self.requests, {ARCHIVE_JOB: answer}, worker_settings(self.settings))
        self.request_worker.start()

    async def close(self) -> None:
        """Stop the worker (running jobs get a grace period, then stay queued) and close archival memory."""
        await asyncio.gather(*(worker.stop() for worker in (self.worker, self.request_worker) if worker is not None))
        if self.archive is not None:
            await self.archive.close()

    async def system_prompt(self, agent: AgentRecord, conversation: Conversation, instructions: str | None = None) -> str:
        """The system message of one conversation now: its blocks, memory counts and local time."""
        blocks, past, archived = await asyncio.gather(
            self.blocks.list(agent, conversation),
            self.messages.count(conversation.id),
            self._archived(conversation),
        )
        return compile_system_prompt(blocks, archived, past, agent.timezone, self.clock(), instructions)

    async def _archived(self, conversation: Conversation) -> int:
        if self.archive is None:
            return 0
        return await self.archive.count(conversation.agent_id, conversation.scopes)

    async def after_turn(self, conversation: Conversation) -> None:
        """Trim the conversation's buffer (queueing a sleeptime job if it evicted); a failure is logged, never raised."""
        try:
            eviction = await self.trimmer.trim(conversation)
        except Exception:  # the caller's turn is over and must not fail because of memory upkeep
            log.exception("could not trim the message buffer of conversation %s", conversation.id)
            return
        if eviction is not None:
            log.info("conversation %s: evicted %d messages, sleeptime job queued", conversation.id, len(eviction.evicted_ids))

    def builtin_tools(self, agent: AgentRecord, conversation: Conversation) -> list[Tool]:
        """`search_memory` (runnable once archival memory is open), then the memory tools the agent's operator turned on."""
        min_score = self.settings.archival_min_score
        memory_tools = MemoryTools(agent, conversation, self.blocks, self.messages, self.archive, min_score).enabled()
        return [search_memory_tool(agent, conversation, self.messages, self.archive, self.clock, min_score), *memory_tools]

    async def readiness(self) -> dict[str, object]:
        """Archival store and worker state for `/readyz`; `reachable` is False when the store does not answer."""
        if self.archive is None:
            return {"store": archival_config(self.settings).store_description, "reachable": False, "open": False}
        return {
            "store": self.archive.description,
            "reachable": await self.archive.healthy(),
            "sleeptime_worker": self.worker is not None and self.worker.alive,
        }
