"""The prompts: the voice agent's compiled system message and the sleeptime memory agent's instructions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from memory.blocks import HUMAN, PERSONA, MemoryBlock

HIDDEN_TOOL_FOLLOW_UP = (
    "[This is an automated system message hidden from the user] "
    "Tool finished executing. Summarize the result for the user."
)

CALLER_SILENT = (
    "[This is an automated system message hidden from the user] "
    "The caller has said nothing for {seconds:g} seconds since your last answer."
)

APOLOGY = "Sorry, I'm having trouble answering right now. Please try again in a moment."


METADATA_TAG = "memory_metadata"

VOICE_GUIDANCE = (
    "You are speaking on a voice call: answer in short, plain spoken sentences without "
    "markdown or lists. Before calling a tool, fill pre_exec_msg with a short sentence to say "
    "while it runs. When the caller refers to something you cannot see in this conversation, "
    "call search_memory."
)


def compile_system_prompt(
    blocks: Sequence[MemoryBlock],
    archived_passages: int,
    past_messages: int,
    timezone: str,
    now: datetime,
    instructions: str | None = None,
) -> str:
    """The system message for one step of the agent loop.

    The `persona` block opens it (followed by a session's extra `instructions`), then the
    other blocks with their sizes and the voice guidance: that prefix only changes when
    memory does, so providers' prompt caches can reuse it. What changes every step (the
    local time, how much older memory exists) is a short `<memory_metadata>` part at the end.
    """
    local = now.astimezone(ZoneInfo(timezone))
    persona = next((b.value for b in blocks if b.label == PERSONA), "")
    parts = [p.strip() for p in (persona, instructions) if p and p.strip()]
    memory = [b for b in blocks if b.label != PERSONA]
    if memory:
        rendered = "\n".join(
            f'<{b.label} characters="{len(b.value)}/{b.limit}">\n{b.value}\n</{b.label}>' for b in memory
        )
        parts.append(
            "Your memory blocks: what you know and keep in mind across calls "
            f"(<{HUMAN}> is about the person you are talking to).\n<memory_blocks>\n{rendered}\n</memory_blocks>"
        )
    parts.append(VOICE_GUIDANCE)
    parts.append(
        f"<{METADATA_TAG}>\n"
        f"- The current time is {local.strftime('%A, %Y-%m-%d %H:%M %Z')}.\n"
        f"- {past_messages} previous messages between you and the user are stored in recall memory.\n"
        f"- {archived_passages} passages are stored in archival memory (use search_memory to recall them).\n"
        f"</{METADATA_TAG}>"
    )
    return "\n\n".join(parts)


SLEEPTIME_SYSTEM_PROMPT = """\
You are the memory of a voice assistant, working in the background while it talks with a person.
Older parts of the conversation are leaving the assistant's context window. Your job is to make
sure nothing worth remembering is lost. Each transcript line shows when it was said; (tool) lines
are what the assistant's tools returned (order numbers, bookings, lookups): they are facts too.

1. Call store_memories once with chunks of the (Older) lines, each chunk one topic, given by the
   line numbers it spans (start_index, end_index, inclusive) and a one-sentence `context` saying
   what the chunk is about and why it matters. Skip small talk that carries no information.
2. Call rethink_user_memory with the complete new text of the <human> block: everything durable
   about the person (name, preferences, plans, relationships, facts they shared), merging what the
   block already holds with what the transcript adds. Write short factual lines; replace facts that
   changed; keep every fact that is still true; stay within the block's character limit.
3. Call finish_rethinking_memory.

Be precise about time: use specific dates and times, never relative terms like "today",
"yesterday", "recently" or "last month". Work them out from when each line was said ("last month"
said on 2026-03-14 means February 2026), because this memory is kept indefinitely.

Only use the tools; do not answer with text."""


def sleeptime_request(transcript: str, persona: MemoryBlock, human: MemoryBlock, now: datetime, timezone: str) -> str:
    """The user message of a sleeptime run: today's date, the current blocks and the numbered, timed transcript."""
    local = now.astimezone(ZoneInfo(timezone))
    return (
        f"Today is {local.strftime('%A, %Y-%m-%d')}; the time is {local.strftime('%H:%M %Z')} ({timezone}).\n\n"
        f"The assistant's persona:\n<{PERSONA}>\n{persona.value}\n</{PERSONA}>\n\n"
        f'The current <{HUMAN}> block ({len(human.value)}/{human.limit} characters):\n'
        f"<{HUMAN}>\n{human.value}\n</{HUMAN}>\n\n"
        f"The transcript; (Older) lines are leaving the context, (Newer) lines stay:\n{transcript}"
    )
