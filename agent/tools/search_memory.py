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
from memory.records import AgentRecord, utc_now

ARCHIVAL_LIMIT = 5
KEYWORD_LIMIT = 3


def time_window(
    now: datetime, start_minutes_ago: int | None, end_minutes_ago: int | None
) -> tuple[datetime | None, datetime | None]:
    """The (earliest, latest) datetimes of a window given in minutes before `now`; reversed bounds are swapped."""
    bounds = [now - timedelta(minutes=m) if m is not None else None for m in (end_minutes_ago, start_minutes_ago)]
    earliest, latest = bounds
    if earliest is not None and latest is not None and earliest > latest:
        earliest, latest = latest, earliest
    return earliest, latest


def search_memory_tool(
    agent: AgentRecord, conversation: Conversation, messages: MessageStore, archive: ArchivalMemory | None,
    clock: Callable[[], datetime] = utc_now,
) -> Tool:
    """`search_memory` for one conversation, searching its archival memory (and the agent's knowledge) and its history.

    Without `archive` (a process that only lists tools) the tool is described but cannot run.
    """
    zone = ZoneInfo(agent.timezone)

    async def latest_utterance() -> str | None:
        """What the caller said last (hidden system notes are not the caller)."""
        for message in reversed(await messages.buffer(conversation.id)):
            if message.role == "user" and not message.hidden and message.content:
                return message.content
        return None

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
        query = await latest_utterance()
        if archive is None:
            raise RuntimeError("archival memory is not open in this process")
        found = []
        if query:
            found = await archive.search(
                conversation.agent_id, query, scopes=conversation.scopes, limit=ARCHIVAL_LIMIT, start=start, end=end
            )
        keyword_hits = {kw: await messages.search(conversation.id, kw, limit=KEYWORD_LIMIT) for kw in convo_keyword_queries or [] if kw.strip()}
        return {
            "archival_search_results": [
                {"timestamp": s.passage.created_at.astimezone(zone).isoformat(timespec="minutes"), "content": s.passage.text}
                for s in found
            ],
            "convo_keyword_search_results": {kw: [m.content for m in hits] for kw, hits in keyword_hits.items()},
        }

    return tool_from_function(search_memory)
