"""One request's input applied to the agent's stored conversation, before the agent answers.

The stored conversation is the truth; a request only adds to it: the answer the caller heard
only part of is cut to match (as `conversation.item.truncate` does on `/v1/realtime`), the
platform's tool results are recorded, then the caller's new message.
"""

from __future__ import annotations

import string

from agent.voice_agent import VoiceAgent
from memory.records import MessageRecord, Role, ToolCallRecord
from server.chat.request import ChatMessage, InvalidRequest, TurnInput

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
    context = await agent.messages.buffer(agent.conversation.id)
    last = next((m for m in reversed(context) if m.role == "assistant" and m.content and m.response_id), None)
    if last is None or last.response_id is None:
        return
    said = " ".join(m.content for m in context if m.role == "assistant" and m.response_id == last.response_id and m.content)
    if heard_part(said, heard):
        await agent.truncate_response(last.response_id, heard)


def _record(conversation_id: str, message: ChatMessage) -> MessageRecord:
    calls = [
        ToolCallRecord(id=str(c.get("id", "")), name=str(c.get("function", {}).get("name", "")), arguments=str(c.get("function", {}).get("arguments") or "{}"))
        for c in message.tool_calls or []
    ]
    role: Role = "tool" if message.role in ("tool", "function") else "assistant" if message.role == "assistant" else "user"
    return MessageRecord(conversation_id=conversation_id, role=role, content=message.text() or None, tool_calls=calls, tool_call_id=message.tool_call_id)


async def apply_input(agent: VoiceAgent, turn: TurnInput) -> None:
    """Bring the stored conversation up to date with one request; InvalidRequest for a result nobody waits for.

    An anonymous caller has no memory: the platform's resent conversation becomes the (fresh)
    conversation's history first. A known caller's memory is the truth, only cut to what was heard.
    """
    if agent.conversation.caller_id is None:
        await agent.messages.append([_record(agent.conversation.id, m) for m in turn.earlier])
    elif turn.heard is not None:
        await match_heard(agent, turn.heard)
    for output in turn.tool_outputs:
        if not await agent.add_tool_output(output.call_id, output.output):
            raise InvalidRequest(f"no tool call {output.call_id!r} is waiting for a result", "messages")
    if turn.user_text is not None:
        await agent.add_user_message(turn.user_text)
