"""Memory tools for the voice agent itself: edit the caller's blocks, archive a passage, search with an explicit query.

With these the agent keeps "please remember my gate code is 4412" at once, instead of waiting
for the buffer to overflow and a background run to notice it. Operators choose which ones an
agent has (`AgentRecord.memory_tools`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, get_args
from zoneinfo import ZoneInfo

from agent.tools.base import Tool
from agent.tools.python_tools import tool_from_function
from agent.tools.search_memory import ARCHIVAL_LIMIT, MIN_SCORE, latest_question, recallable, timestamp
from memory.archival import Passage
from memory.archive import ArchivalMemory
from memory.blocks import AGENT, HUMAN, BlockStore, is_per_caller
from memory.conversations import Conversation
from memory.messages import MessageStore
from memory.records import AgentRecord, MemoryToolName, MessageRecord

MEMORY_TOOL_NAMES: tuple[MemoryToolName, ...] = get_args(MemoryToolName)
AGENT_PASSAGE_TAG = "agent"
CONVERSATION_LIMIT = 5
_TAG = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


class MemoryToolError(ValueError):
    """A memory tool called wrongly; the message goes back to the model."""


def date_range(start_date: str | None, end_date: str | None, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """The instants a date range covers, in the agent's time zone; a date alone covers its whole day.

    Dates are `YYYY-MM-DD` or ISO date-times; reversed bounds are swapped, a missing one is open.
    """

    def parse(value: str | None, end: bool) -> datetime | None:
        if value is None or not value.strip():
            return None
        try:
            if len(value.strip()) == 10:
                day = date.fromisoformat(value.strip()) + timedelta(days=1 if end else 0)
                return datetime.combine(day, time(), zone)
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise MemoryToolError(f"{value!r} is not a date (YYYY-MM-DD) or an ISO date-time") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)

    start, end = parse(start_date, False), parse(end_date, True)
    if start is not None and end is not None and start > end:
        start, end = parse(end_date, False), parse(start_date, True)
    return start, end


@dataclass(frozen=True)
class MemoryTools:
    """The memory tools of one conversation: its own blocks, its passages, its history."""

    agent: AgentRecord
    conversation: Conversation
    blocks: BlockStore
    messages: MessageStore
    archive: ArchivalMemory | None
    min_score: float = MIN_SCORE

    def enabled(self) -> list[Tool]:
        """The tools the agent's operator turned on (archival ones described everywhere, runnable once archival memory is open)."""
        make = {
            "memory_insert": self.memory_insert, "memory_replace": self.memory_replace,
            "archival_memory_insert": self.archival_memory_insert, "archival_memory_search": self.archival_memory_search,
            "conversation_search": self.conversation_search,
        }
        return [
            make[name]() for name in MEMORY_TOOL_NAMES if name in self.agent.memory_tools
        ]

    def _archive(self) -> ArchivalMemory:
        if self.archive is None:
            raise RuntimeError("archival memory is not open in this process")
        return self.archive

    @property
    def zone(self) -> ZoneInfo:
        """The agent's time zone."""
        return ZoneInfo(self.agent.timezone)

    def _check_editable(self, label: str) -> None:
        """Only the caller's own blocks may be edited by the agent: a shared one would change every caller's agent."""
        if not is_per_caller(self.agent, label):
            own = ", ".join(repr(b) for b in (HUMAN, *self.agent.caller_blocks))
            raise MemoryToolError(f"only the caller's own blocks can be edited here ({own}), not {label!r}")

    def memory_insert(self) -> Tool:
        """`memory_insert(text, label)`."""

        async def memory_insert(text: str, label: str = HUMAN) -> str:
            """Save a fact about the caller in your memory block now, e.g. when they ask you to remember something.

            Args:
                text: The fact, as a short line with specific dates (e.g. "Gate code: 4412").
                label: The memory block to add it to.
            """
            self._check_editable(label)
            block = await self.blocks.edit(self.agent, self.conversation, label, lambda current: f"{current.rstrip()}\n{text.strip()}".strip(), author=AGENT)
            return f"saved; the <{label}> block has {len(block.value)}/{block.limit} characters"

        return tool_from_function(memory_insert)

    def memory_replace(self) -> Tool:
        """`memory_replace(old_text, new_text, label)`."""

        async def memory_replace(old_text: str, new_text: str, label: str = HUMAN) -> str:
            """Correct or remove a fact in your memory block (new_text empty removes old_text).

            Args:
                old_text: The exact text to change, as it appears in the block.
                new_text: What replaces it.
                label: The memory block to edit.
            """
            self._check_editable(label)

            def replace(current: str) -> str:
                found = current.count(old_text) if old_text else 0
                if found != 1:
                    raise MemoryToolError(f"old_text appears {found} times in <{label}>; quote exactly one passage of the block")
                return current.replace(old_text, new_text)

            block = await self.blocks.edit(self.agent, self.conversation, label, replace, author=AGENT)
            return f"replaced; the <{label}> block has {len(block.value)}/{block.limit} characters"

        return tool_from_function(memory_replace)

    def archival_memory_insert(self) -> Tool:
        """`archival_memory_insert(text, tags)`."""
        async def archival_memory_insert(text: str, tags: list[str] | None = None) -> str:
            """Archive a longer note for later (details, lists, what happened), found again by searching by meaning.

            Args:
                text: The note, self-contained, with specific dates.
                tags: Short lowercase labels to find it by (e.g. "orders", "family").
            """
            labels = [t.strip().lower() for t in tags or []]
            bad = [t for t in labels if not _TAG.fullmatch(t)]
            if bad or not text.strip():
                raise MemoryToolError("the note is empty" if not text.strip() else f"tags are lowercase words: {bad}")
            passage = Passage(
                agent_id=self.agent.id, conversation_id=self.conversation.id, text=text.strip(), tags=[AGENT_PASSAGE_TAG, *labels]
            )
            await self._archive().insert([passage])
            return "archived"

        return tool_from_function(archival_memory_insert)

    def archival_memory_search(self) -> Tool:
        """`archival_memory_search(query, start_date, end_date)`."""
        async def archival_memory_search(
            query: str, start_date: str | None = None, end_date: str | None = None
        ) -> list[dict[str, Any]]:
            """Search long-term memory by meaning, with your own query, optionally within dates.

            Args:
                query: What to look for, as a specific phrase (e.g. "Ada's sister's visit").
                start_date: Earliest date (YYYY-MM-DD), or null.
                end_date: Latest date (YYYY-MM-DD, inclusive), or null.
            """
            start, end = date_range(start_date, end_date, self.zone)
            hits = await self._archive().search(
                self.agent.id, query, scopes=self.conversation.scopes, limit=ARCHIVAL_LIMIT, start=start, end=end
            )
            return [{"timestamp": timestamp(h.passage.created_at, self.zone), "content": h.passage.text} for h in hits if h.score >= self.min_score]

        return tool_from_function(archival_memory_search)

    def conversation_search(self) -> Tool:
        """`conversation_search(query, start_date, end_date)`."""

        async def conversation_search(
            query: str, start_date: str | None = None, end_date: str | None = None
        ) -> list[dict[str, Any]]:
            """Find earlier messages of this conversation containing exact words, optionally within dates.

            Args:
                query: Exact words to find (a name, an order number, a place).
                start_date: Earliest date (YYYY-MM-DD), or null.
                end_date: Latest date (YYYY-MM-DD, inclusive), or null.
            """
            start, end = date_range(start_date, end_date, self.zone)
            earlier = recallable(await latest_question(self.messages, self.conversation.id))

            def wanted(message: MessageRecord) -> bool:
                when = message.created_at
                return (start is None or when >= start) and (end is None or when < end) and earlier(message)

            hits = await self.messages.search(self.conversation.id, query, limit=CONVERSATION_LIMIT, where=wanted)
            return [{"timestamp": timestamp(m.created_at, self.zone), "role": m.role, "content": m.content} for m in hits]

        return tool_from_function(conversation_search)
