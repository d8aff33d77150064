"""The sleeptime memory agent: turns messages evicted from the context into archival passages and a new `human` block.

It runs as a background job (see `memory.worker`), never inside a caller's turn. It is a
tool-calling loop on the background memory model, with three tools, each phase asked for
with `tool_choice`:
`store_memories(chunks)`, `rethink_user_memory(new_memory)` and `finish_rethinking_memory()`.
The model's mistakes (bad line numbers, a block over its limit) go back to it as tool
errors; anything else (model, store or Redis failures) fails the job, which is retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, ValidationError

from agent.llm import ChatModel
from agent.prompts import SLEEPTIME_SYSTEM_PROMPT, sleeptime_request
from agent.streaming import PendingToolCall, StreamParser
from agent.tools.search_memory import MEMORY_TOOLS
from memory.agents import AgentStore
from memory.archival import Passage
from memory.archive import ArchivalMemory
from memory.blocks import HUMAN, PERSONA, SLEEPTIME, BlockLimitError, BlockStore
from memory.buffer import Eviction
from memory.conversations import Conversation
from memory.jobs import Job
from memory.messages import MessageStore
from memory.records import AgentRecord, MessageRecord, ToolCallRecord, utc_now

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


_TOOL_LINE_CHARS = 400
_KEEP_SHARE = 0.5
_FREE_REWRITE_WORDS = 8


@dataclass(frozen=True)
class Line:
    """One transcript line: who said it (`user`, `assistant` or `tool <name>`), what, and its message."""

    speaker: str
    text: str
    message: MessageRecord

    def render(self, zone: ZoneInfo) -> str:
        """`[Fri 2026-12-04 14:05] speaker: text`, in the agent's time zone."""
        return f"[{self.message.created_at.astimezone(zone).strftime('%a %Y-%m-%d %H:%M')}] {self.speaker}: {self.text}"


def _tool_text(content: str | None) -> str | None:
    """What a tool returned, compactly (None for errors and empty results: they carry no facts)."""
    try:
        parsed = json.loads(content or "")
    except json.JSONDecodeError:
        return None
    if not isinstance(parsed, dict) or "result" not in parsed or parsed["result"] in (None, "", [], {}):
        return None
    result = parsed["result"]
    text = result if isinstance(result, str) else json.dumps(result, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= _TOOL_LINE_CHARS else text[: _TOOL_LINE_CHARS - 1] + "…"


def transcript_lines(messages: list[MessageRecord], tool_names: dict[str, str]) -> list[Line]:
    """The lines worth remembering: what was said aloud and what tools (other than memory tools) returned."""
    lines = []
    for m in messages:
        if m.role in ("user", "assistant") and not m.hidden and m.content:
            lines.append(Line(m.role, m.content, m))
        elif m.role == "tool" and m.tool_call_id in tool_names and tool_names[m.tool_call_id] not in MEMORY_TOOLS:
            text = _tool_text(m.content)
            if text is not None:
                lines.append(Line(f"tool {tool_names[m.tool_call_id]}", text, m))
    return lines


@dataclass(frozen=True)
class Transcript:
    """The lines of an eviction, numbered: evicted ones are (Older), kept ones (Newer)."""

    older: list[Line]
    newer: list[Line]

    @classmethod
    def of(cls, evicted: list[MessageRecord], kept: list[MessageRecord]) -> Transcript:
        """The caller's words, the assistant's text and tool results, each side in order."""
        names = {c.id: c.name for m in (*evicted, *kept) for c in m.tool_calls}
        return cls(transcript_lines(evicted, names), transcript_lines(kept, names))

    def render(self, zone: ZoneInfo) -> str:
        """`(Older)` then `(Newer)`, each line `N. [time] speaker: text`, numbered across both."""
        lines = ["(Older)"] + [f"{i}. {line.render(zone)}" for i, line in enumerate(self.older)]
        lines += ["(Newer)"] + [f"{i}. {line.render(zone)}" for i, line in enumerate(self.newer, len(self.older))]
        return "\n".join(lines)

    def chunk(self, chunk: MemoryChunk) -> list[Line]:
        """The (Older) lines a chunk spans."""
        last = len(self.older) - 1
        if not chunk.start_index <= chunk.end_index <= last:
            raise ToolMistake(
                f"chunk {chunk.start_index}-{chunk.end_index} is not a range of (Older) lines 0-{last}"
            )
        return self.older[chunk.start_index : chunk.end_index + 1]


def chunk_passage(conversation: Conversation, lines: list[Line], context: str) -> Passage:
    """A chunk as a passage of the conversation: the context sentence then the lines; dated by its first line.

    Its id derives from the lines it spans, so a retried job replaces rather than duplicates it.
    """
    text = "\n".join([context.strip(), *(f"{line.speaker}: {line.text}" for line in lines)])
    first, last = lines[0].message, lines[-1].message
    passage_id = uuid.uuid5(_PASSAGE_NAMESPACE, f"{conversation.id}:{first.id}:{last.id}")
    return Passage(
        id=str(passage_id), agent_id=conversation.agent_id, conversation_id=conversation.id,
        text=text, created_at=first.created_at, tags=[PASSAGE_TAG],
    )


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


def check_rewrite(label: str, old: str, new: str) -> None:
    """Refuse (with the reason, for the model) a rewrite that empties a block or drops most of it.

    "Most" is judged on words: a block of at least 8 distinct words must keep at least half of
    them. Rephrasing keeps the names, numbers and places that carry the facts; a rewrite that
    loses them forgot something. Smaller blocks may be rewritten freely.
    """
    if not new.strip():
        raise ToolMistake(f"the <{label}> block cannot be emptied: send its complete new text")
    before = _words(old)
    if len(before) < _FREE_REWRITE_WORDS:
        return
    lost = sorted(before - _words(new))
    if len(lost) > len(before) * (1 - _KEEP_SHARE):
        raise ToolMistake(
            f"refused: this rewrite would drop {len(lost)} of the {len(before)} words of the <{label}> block "
            f"(for example {', '.join(lost[:8])}). Send the complete block: keep every fact that is still true "
            "and add the new ones."
        )


class SleeptimeIncomplete(RuntimeError):
    """A run ended without rewriting memory (no tool call, or `finish` first): the job must run again."""


def _force(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


@dataclass
class _Run:
    """One sleeptime run's tools, bound to its agent and transcript, and how far it got.

    Phases: `store_memories`, then `rethink_user_memory` (again as often as the model likes),
    then `finish_rethinking_memory`. A call out of order is refused back to the model,
    except `finish` before any rewrite, which ends the run as incomplete.
    """

    agent: AgentRecord
    conversation: Conversation
    transcript: Transcript
    blocks: BlockStore
    archive: ArchivalMemory
    stored: bool = False
    rewritten: bool = False
    finished: bool = False

    @property
    def tool_choice(self) -> dict[str, Any] | str:
        """What the next step must call: the phase's tool, then (memory rewritten) any tool."""
        if not self.stored:
            return _force("store_memories")
        if not self.rewritten:
            return _force("rethink_user_memory")
        return "required"

    async def call(self, name: str, arguments: str) -> str:
        """Run one tool call; the model's mistakes come back as an error result, other failures raise."""
        try:
            raw = json.loads(arguments or "{}")
            if name == "store_memories":
                result = await self.store_memories(StoreMemoriesArgs.model_validate(raw))
            elif name == "rethink_user_memory":
                result = await self.rethink_user_memory(RethinkArgs.model_validate(raw))
            elif name == "finish_rethinking_memory":
                if not self.rewritten:
                    raise SleeptimeIncomplete("the model finished before rewriting the human block")
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
        self.stored = True
        return f"archived {len(passages)} chunks"

    async def rethink_user_memory(self, args: RethinkArgs) -> str:
        """Rewrite the conversation's `human` block, unless that would empty it or drop most of it."""
        if not self.stored:
            raise ToolMistake("call store_memories first")

        def rewrite(current: str) -> str:
            check_rewrite(HUMAN, current, args.new_memory)
            return args.new_memory

        block = await self.blocks.edit(self.agent, self.conversation, HUMAN, rewrite, author=SLEEPTIME)
        self.rewritten = True
        return f"the <{HUMAN}> block now has {len(block.value)}/{block.limit} characters"


@dataclass
class SleeptimeAgent:
    """Handles `sleeptime` jobs: one run per eviction, serialised per conversation within this process.

    `model_for` picks the model for background memory work (`CONFAB_SLEEPTIME_MODEL`, by
    default the agent's voice model). A run that ends without rewriting the `human` block
    raises `SleeptimeIncomplete`, so the job is retried and finally parked, never acknowledged.
    """

    agents: AgentStore
    messages: MessageStore
    blocks: BlockStore
    archive: ArchivalMemory
    model_for: Callable[[AgentRecord], ChatModel]
    max_steps: int = 8
    clock: Callable[[], datetime] = utc_now
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
        rendered = transcript.render(ZoneInfo(agent.timezone))
        dialogue: list[dict[str, Any]] = [
            {"role": "system", "content": SLEEPTIME_SYSTEM_PROMPT},
            {"role": "user", "content": sleeptime_request(rendered, persona, human, self.clock(), agent.timezone)},
        ]
        model = self.model_for(agent)
        for _ in range(self.max_steps):
            calls = await self._step(model, dialogue, run.tool_choice)
            if not calls:
                break
            for call in calls:
                content = await run.call(call.name, call.arguments)
                dialogue.append({"role": "tool", "tool_call_id": call.id, "content": content})
            if run.finished:
                return
        if not run.rewritten:
            raise SleeptimeIncomplete(f"the sleeptime run for conversation {conversation.id} ended without rewriting the human block")
        log.info("sleeptime run for conversation %s rewrote memory but did not call finish", conversation.id)

    async def _step(
        self, model: ChatModel, conversation: list[dict[str, Any]], tool_choice: dict[str, Any] | str
    ) -> list[PendingToolCall]:
        """One model call; appends its assistant message and returns its tool calls."""
        parser = StreamParser()
        async for chunk in model.stream(messages=conversation, tools=TOOL_SPECS, tool_choice=tool_choice):
            parser.feed(chunk)
        calls = [c for c in parser.calls if c.name]
        records = [ToolCallRecord(id=c.id, name=c.name, arguments=c.arguments or "{}") for c in calls]
        conversation.append(
            MessageRecord(conversation_id="sleeptime", role="assistant", content=parser.content or None, tool_calls=records).to_openai()
        )
        return calls
