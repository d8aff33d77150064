"""The built-in `search_memory` tool: archival search on the caller's latest words plus keyword search of the history.

It only ever sees one conversation: its history, its passages and the agent's knowledge passages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agent.tools.base import Tool
from agent.tools.python_tools import tool_from_function
from memory.archive import ArchivalMemory
from memory.conversations import Conversation
from memory.messages import MessageStore
from memory.records import AgentRecord, MessageRecord, utc_now

ARCHIVAL_LIMIT = 5
KEYWORD_LIMIT = 3
MIN_SCORE = 0.25
"""Archival hits less similar than this to the query are dropped (cosine, all-MiniLM-L6-v2).

Measured on conversation chunks: fillers ("yeah", "ok", "thanks", "uh-huh") score at most
0.24 against any passage, questions about a stored fact 0.27 and up (most above 0.4).
Another embedder needs its own value (`CONFAB_ARCHIVAL_MIN_SCORE`).
"""
MEMORY_TOOLS = frozenset({"search_memory", "memory_insert", "memory_replace", "archival_memory_insert", "archival_memory_search", "conversation_search"})
"""The tools that read or write memory: their results are memory already, so neither keyword
search nor the sleeptime transcript takes them in again."""


def time_window(
    now: datetime, start_minutes_ago: int | None, end_minutes_ago: int | None
) -> tuple[datetime | None, datetime | None]:
    """The (earliest, latest) datetimes of a window given in minutes before `now`; reversed bounds are swapped."""
    bounds = [now - timedelta(minutes=m) if m is not None else None for m in (end_minutes_ago, start_minutes_ago)]
    earliest, latest = bounds
    if earliest is not None and latest is not None and earliest > latest:
        earliest, latest = latest, earliest
    return earliest, latest


def timestamp(moment: datetime, zone: ZoneInfo) -> str:
    """How results show when something was said or archived: ISO, to the minute, in the agent's zone."""
    return moment.astimezone(zone).isoformat(timespec="minutes")


async def latest_question(messages: MessageStore, conversation_id: str) -> MessageRecord | None:
    """What the caller said last (hidden system notes are not the caller)."""
    for message in reversed(await messages.buffer(conversation_id)):
        if message.role == "user" and not message.hidden and message.content:
            return message
    return None


def recallable(question: MessageRecord | None) -> Callable[[MessageRecord], bool]:
    """Which messages keyword search may return: not the question being asked (it would find
    itself first), nor what a memory tool returned (memory read back)."""

    def keep(message: MessageRecord) -> bool:
        return (question is None or message.id != question.id) and message.tool_name not in MEMORY_TOOLS

    return keep


def search_memory_tool(
    agent: AgentRecord, conversation: Conversation, messages: MessageStore, archive: ArchivalMemory | None,
    clock: Callable[[], datetime] = utc_now, min_score: float = MIN_SCORE,
) -> Tool:
    """`search_memory` for one conversation, searching its archival memory (and the agent's knowledge) and its history.

    Without `archive` (a process that only lists tools) the tool is described but cannot run.
    """
    zone = ZoneInfo(agent.timezone)

    async def search_memory(
        convo_keyword_queries: list[str] | None = None,
        start_minutes_ago: int | None = None,
        end_minutes_ago: int | None = None,
    ) -> dict[str, Any]:
        """Look in long-term memory and in earlier conversation for something the caller refers to that is not in view.

        The caller's latest words are the search query; they are sent automatically.

        Args:
            convo_keyword_queries: Exact words to look for in earlier conversation (names, order numbers, places); null when the words are already specific.
            start_minutes_ago: Newer bound of the time window, in minutes before now; null for no bound.
            end_minutes_ago: Older bound of the time window, in minutes before now; null for no bound.
        """
        start, end = time_window(clock(), start_minutes_ago, end_minutes_ago)
        question = await latest_question(messages, conversation.id)
        if archive is None:
            raise RuntimeError("archival memory is not open in this process")
        found = []
        if question is not None and question.content:
            hits = await archive.search(
                conversation.agent_id, question.content, scopes=conversation.scopes, limit=ARCHIVAL_LIMIT, start=start, end=end
            )
            found = [h for h in hits if h.score >= min_score]
        keyword_hits = {
            kw: await messages.search(conversation.id, kw, limit=KEYWORD_LIMIT, where=recallable(question))
            for kw in convo_keyword_queries or [] if kw.strip()
        }
        return {
            "archival_search_results": [{"timestamp": timestamp(s.passage.created_at, zone), "content": s.passage.text} for s in found],
            "convo_keyword_search_results": {kw: [m.content for m in hits] for kw, hits in keyword_hits.items()},
        }

    return tool_from_function(search_memory)
