"""The compiled system prompt: persona, memory blocks, memory counts and the current time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

HIDDEN_TOOL_FOLLOW_UP = (
    "[This is an automated system message hidden from the user] "
    "Tool finished executing. Summarize the result for the user."
)

APOLOGY = "Sorry, I'm having trouble answering right now. Please try again in a moment."


def compile_system_prompt(
    persona: str,
    blocks: Mapping[str, str],
    archived_passages: int,
    past_messages: int,
    timezone: str,
    now: datetime,
) -> str:
    """The system message for one step of the agent loop."""
    local = now.astimezone(ZoneInfo(timezone))
    parts = [persona.strip()]
    if blocks:
        rendered = "\n".join(f"<{label}>\n{value}\n</{label}>" for label, value in blocks.items())
        parts.append(f"<memory_blocks>\n{rendered}\n</memory_blocks>")
    parts.append(
        "<memory_metadata>\n"
        f"- The current time is {local.strftime('%A, %Y-%m-%d %H:%M %Z')}.\n"
        f"- {past_messages} previous messages between you and the user are stored in recall memory.\n"
        f"- {archived_passages} passages are stored in archival memory (use search_memory to recall them).\n"
        "</memory_metadata>"
    )
    parts.append(
        "You are speaking on a voice call: answer in short, plain spoken sentences without "
        "markdown or lists. Before calling a tool, fill pre_exec_msg with a short sentence to say "
        "while it runs."
    )
    return "\n\n".join(parts)
