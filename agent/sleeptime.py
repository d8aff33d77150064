"""The sleeptime memory agent: turns messages evicted from the context into archival passages and a new `human` block.

It runs as a background job (see `memory.worker`), never inside a caller's turn. It is a
plain tool-calling loop on the agent's own model, with three tools:
`store_memories(chunks)`, `rethink_user_memory(new_memory)` and `finish_rethinking_memory()`.
The model's mistakes (bad line numbers, a block over its limit) go back to it as tool
errors; anything else (model, store or Redis failures) fails the job, which is retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agent.llm import ChatModel
from agent.prompts import SLEEPTIME_SYSTEM_PROMPT, sleeptime_request
from agent.streaming import PendingToolCall, StreamParser
from memory.agents import AgentStore
from memory.archival import Passage
from memory.archive import ArchivalMemory
from memory.blocks import HUMAN, PERSONA, BlockLimitError, BlockStore
from memory.buffer import Eviction
from memory.conversations import Conversation
from memory.jobs import Job
from memory.messages import MessageStore
from memory.records import AgentRecord, MessageRecord, ToolCallRecord

log = logging.getLogger(__name__)

PASSAGE_TAG = "conversation"
_PASSAGE_NAMESPACE = uuid.UUID("8f1f6f0e-2b7c-4d55-9a53-6c1f3f0c9e21")


class MemoryChunk(BaseModel):
    """A topic chunk of the (Older) transcript lines, as the model gives it to `store_memories`."""

    start_index: int = Field(ge=0)
    end_index: int = Field(ge=0)
    context: str = Field(min_length=1)


class StoreMemoriesArgs(BaseModel):
    """Arguments of `store_memories`."""

    chunks: list[MemoryChunk]


class RethinkArgs(BaseModel):
    """Arguments of `rethink_user_memory`."""

    new_memory: str


class ToolMistake(ValueError):
    """The model called a tool wrongly; the message goes back to it."""


def _function(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False},
        },
    }


TOOL_SPECS = [
    _function(
        "store_memories",
        "Archive chunks of the (Older) transcript lines as long-term memories, one topic per chunk.",
        {"chunks": {
            "type": "array",
            "description": "The chunks to archive.",
            "items": {
                "type": "object",
                "properties": {
                    "start_index": {"type": "integer", "description": "Number of the chunk's first (Older) line."},
                    "end_index": {"type": "integer", "description": "Number of the chunk's last (Older) line, inclusive."},
                    "context": {"type": "string", "description": "One sentence: what the chunk is about and why it matters."},
                },
                "required": ["start_index", "end_index", "context"],
                "additionalProperties": False,
            },
        }},
    ),
    _function(
        "rethink_user_memory",
        "Replace the whole <human> memory block with a rewritten version.",
        {"new_memory": {"type": "string", "description": "The complete new text of the <human> block."}},
    ),
    _function("finish_rethinking_memory", "Call when memory is up to date; ends this run.", {}),
]


@dataclass(frozen=True)
class Transcript:
    """The spoken lines of an eviction, numbered: evicted ones are (Older), kept ones (Newer)."""

    older: list[MessageRecord]
    newer: list[MessageRecord]

    @classmethod
    def of(cls, evicted: list[MessageRecord], kept: list[MessageRecord]) -> Transcript:
        """Keep only what was said aloud: the caller's words and the assistant's text."""

        def spoken(messages: list[MessageRecord]) -> list[MessageRecord]:
            """The messages said aloud, in order."""
            return [m for m in messages if m.role in ("user", "assistant") and not m.hidden and m.content]

        return cls(spoken(evicted), spoken(kept))

    def render(self) -> str:
        """`(Older)` then `(Newer)`, each line `N. role: text`, numbered across both."""
        lines = ["(Older)"] + [f"{i}. {m.role}: {m.content}" for i, m in enumerate(self.older)]
        lines += ["(Newer)"] + [f"{i}. {m.role}: {m.content}" for i, m in enumerate(self.newer, len(self.older))]
        return "\n".join(lines)

    def chunk(self, chunk: MemoryChunk) -> list[MessageRecord]:
        """The (Older) lines a chunk spans."""
        last = len(self.older) - 1
        if not chunk.start_index <= chunk.end_index <= last:
            raise ToolMistake(
                f"chunk {chunk.start_index}-{chunk.end_index} is not a range of (Older) lines 0-{last}"
            )
        return self.older[chunk.start_index : chunk.end_index + 1]


def chunk_passage(conversation: Conversation, lines: list[MessageRecord], context: str) -> Passage:
    """A chunk as a passage of the conversation: the context sentence then the lines; dated by its first line.

    Its id derives from the lines it spans, so a retried job replaces rather than duplicates it.
    """
    text = "\n".join([context.strip(), *(f"{m.role}: {m.content}" for m in lines)])
    passage_id = uuid.uuid5(_PASSAGE_NAMESPACE, f"{conversation.id}:{lines[0].id}:{lines[-1].id}")
    return Passage(
        id=str(passage_id), agent_id=conversation.agent_id, conversation_id=conversation.id,
        text=text, created_at=lines[0].created_at, tags=[PASSAGE_TAG],
    )


@dataclass
class _Run:
    """One sleeptime run's tools, bound to its agent, conversation and transcript."""

    agent: AgentRecord
    conversation: Conversation
    transcript: Transcript
    blocks: BlockStore
    archive: ArchivalMemory
    finished: bool = False

    async def call(self, name: str, arguments: str) -> str:
        """Run one tool call; the model's mistakes come back as an error result, other failures raise."""
        try:
            raw = json.loads(arguments or "{}")
            if name == "store_memories":
                result = await self.store_memories(StoreMemoriesArgs.model_validate(raw))
            elif name == "rethink_user_memory":
                result = await self.rethink_user_memory(RethinkArgs.model_validate(raw))
            elif name == "finish_rethinking_memory":
                self.finished = True
                result = "done"
            else:
                raise ToolMistake(f"unknown tool {name!r}")
        except (json.JSONDecodeError, ValidationError, ToolMistake, BlockLimitError) as exc:
            return json.dumps({"error": str(exc)})
        return json.dumps({"result": result})

    async def store_memories(self, args: StoreMemoriesArgs) -> str:
        """Archive every chunk (all checked before any is stored)."""
        passages = [chunk_passage(self.conversation, self.transcript.chunk(c), c.context) for c in args.chunks]
        await self.archive.insert(passages)
        return f"archived {len(passages)} chunks"

    async def rethink_user_memory(self, args: RethinkArgs) -> str:
        """Rewrite the conversation's `human` block."""
        block = await self.blocks.set(self.agent, self.conversation, HUMAN, args.new_memory)
        return f"the <{HUMAN}> block now has {len(block.value)}/{block.limit} characters"


@dataclass
class SleeptimeAgent:
    """Handles `sleeptime` jobs: one run per eviction, serialised per conversation within this process."""

    agents: AgentStore
    messages: MessageStore
    blocks: BlockStore
    archive: ArchivalMemory
    model_for: Callable[[AgentRecord], ChatModel]
    max_steps: int = 8
    _locks: defaultdict[str, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock), init=False)

    async def handle(self, job: Job) -> None:
        """Run the sleeptime agent on one eviction; raises on failures worth a retry."""
        eviction = Eviction.model_validate_json(job.payload)
        agent = await self.agents.get(eviction.owner, eviction.agent_id)
        if agent is None:
            log.info("sleeptime job %s: agent %s no longer exists", job.id, eviction.agent_id)
            return
        transcript = Transcript.of(
            await self.messages.get_many(eviction.evicted_ids), await self.messages.get_many(eviction.kept_ids)
        )
        if not transcript.older:
            return
        conversation = eviction.conversation
        async with self._locks[conversation.id]:
            await self._converse(agent, conversation, transcript)

    async def _converse(self, agent: AgentRecord, conversation: Conversation, transcript: Transcript) -> None:
        run = _Run(agent, conversation, transcript, self.blocks, self.archive)
        persona = await self.blocks.get(agent, conversation, PERSONA)
        human = await self.blocks.get(agent, conversation, HUMAN)
        assert persona is not None and human is not None
        dialogue: list[dict[str, Any]] = [
            {"role": "system", "content": SLEEPTIME_SYSTEM_PROMPT},
            {"role": "user", "content": sleeptime_request(transcript.render(), persona, human)},
        ]
        model = self.model_for(agent)
        for _ in range(self.max_steps):
            calls = await self._step(model, dialogue)
            if not calls:
                return
            for call in calls:
                content = await run.call(call.name, call.arguments)
                dialogue.append({"role": "tool", "tool_call_id": call.id, "content": content})
            if run.finished:
                return
        log.warning("sleeptime run for conversation %s did not finish within %d steps", conversation.id, self.max_steps)

    async def _step(self, model: ChatModel, conversation: list[dict[str, Any]]) -> list[PendingToolCall]:
        """One model call; appends its assistant message and returns its tool calls (ids filled in)."""
        parser = StreamParser()
        async for chunk in model.stream(messages=conversation, tools=TOOL_SPECS):
            parser.feed(chunk)
        calls = [c for c in parser.calls if c.name]
        for call in calls:
            call.id = call.id or f"call_{uuid.uuid4().hex[:12]}"
        records = [ToolCallRecord(id=c.id, name=c.name, arguments=c.arguments or "{}") for c in calls]
        conversation.append(
            MessageRecord(conversation_id="sleeptime", role="assistant", content=parser.content or None, tool_calls=records).to_openai()
        )
        return calls
