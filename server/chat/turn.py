"""One request's input applied to the agent's stored conversation, before the agent answers.

The stored conversation is the truth; a request only adds to it: the answer the caller heard
only part of is cut to match (as `conversation.item.truncate` does on `/v1/realtime`), the
platform's tool results are recorded, then the caller's new message.
"""

from __future__ import annotations

import string

from agent.voice_agent import VoiceAgent
from server.chat.request import InvalidRequest, TurnInput

_PUNCTUATION = string.punctuation + "“”‘’…"


def _words(text: str) -> list[str]:
    words = (w.strip(_PUNCTUATION).casefold() for w in text.split())
    return [w for w in words if w]


def heard_part(said: str, heard: str) -> bool:
    """Whether `heard` is a shorter beginning of `said`: the platform cut the answer on barge-in.

    Words are compared without case and punctuation; the last heard word may be cut itself.
    """
    said_words, heard_words = _words(said), _words(heard)
    if not heard_words or len(heard_words) >= len(said_words):
        return False
    *whole, last = heard_words
    return said_words[: len(whole)] == whole and said_words[len(whole)].startswith(last)


async def match_heard(agent: VoiceAgent, heard: str) -> None:
    """Cut the agent's last answer to what the platform says the caller heard of it."""
    context = await agent.messages.buffer(agent.agent.id)
    last = next((m for m in reversed(context) if m.role == "assistant" and m.content and m.response_id), None)
    if last is None or last.response_id is None:
        return
    said = " ".join(m.content for m in context if m.role == "assistant" and m.response_id == last.response_id and m.content)
    if heard_part(said, heard):
        await agent.truncate_response(last.response_id, heard)


async def apply_input(agent: VoiceAgent, turn: TurnInput) -> None:
    """Bring the stored conversation up to date with one request; InvalidRequest for a result nobody waits for."""
    if turn.heard is not None:
        await match_heard(agent, turn.heard)
    for output in turn.tool_outputs:
        if not await agent.add_tool_output(output.call_id, output.output):
            raise InvalidRequest(f"no tool call {output.call_id!r} is waiting for a result", "messages")
    if turn.user_text is not None:
        await agent.add_user_message(turn.user_text)
