"""The voice agent loop: stream the model, speak as it writes, run tools, persist every message."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agent.events import AgentEvent, TextDelta, ToolFinished, ToolStarted, TurnDone, TurnFailed
from agent.llm import ChatModel, ModelError
from agent.prompts import APOLOGY, HIDDEN_TOOL_FOLLOW_UP
from agent.streaming import StreamParser
from agent.tools.toolset import ToolResult, ToolSet
from memory.messages import MessageStore
from memory.records import AgentRecord, MessageRecord, ToolCallRecord

log = logging.getLogger(__name__)

_CANCELLED_RESULT = ToolResult(json.dumps({"error": "cancelled: the caller interrupted before the tool ran"}), True)


@dataclass
class VoiceAgent:
    """One agent's turn-taking loop (the reference is Letta's VoiceAgent).

    `system_prompt` compiles the system message afresh for every step (memory blocks
    and counts change between steps). Messages are persisted as soon as they are
    complete: the caller's at once, the assistant's at the end of its step.
    """

    agent: AgentRecord
    model: ChatModel
    tools: ToolSet
    messages: MessageStore
    system_prompt: Callable[[], Awaitable[str]]
    _response_id: str | None = field(default=None, init=False)

    async def add_user_message(self, text: str, hidden: bool = False) -> MessageRecord:
        """Persist something the caller said (or a hidden system note) into history and context."""
        message = MessageRecord(agent_id=self.agent.id, role="user", content=text, hidden=hidden)
        await self.messages.append([message])
        return message

    async def truncate_response(self, response_id: str, heard: str) -> None:
        """Keep in history only what the caller heard of a response's assistant text.

        Words are counted through the response's assistant messages in order; the
        message where hearing stopped is cut there and marked interrupted, later ones
        lose their text (their tool calls stay, so the conversation remains valid).
        """
        budget = len(heard.split())
        for message in await self.messages.for_response(self.agent.id, response_id):
            if message.role != "assistant" or not message.content:
                continue
            words = message.content.split()
            if budget >= len(words):
                budget -= len(words)
                continue
            message.content = " ".join(words[:budget])
            message.interrupted = True
            budget = 0
            await self.messages.update(message)

    async def respond(self, user_text: str, response_id: str | None = None) -> AsyncIterator[AgentEvent]:
        """Persist the caller's utterance, then answer it."""
        await self.add_user_message(user_text)
        async for event in self.step_stream(response_id):
            yield event

    async def _request(self) -> dict[str, Any]:
        context = await self.messages.buffer(self.agent.id)
        request: dict[str, Any] = {
            "messages": [{"role": "system", "content": await self.system_prompt()}]
            + [m.to_openai() for m in context],
        }
        if len(self.tools):
            request["tools"] = self.tools.specs(strict=self.agent.llm.strict)
        if self.agent.llm.temperature is not None:
            request["temperature"] = self.agent.llm.temperature
        return request

    async def step_stream(self, response_id: str | None = None) -> AsyncIterator[AgentEvent]:
        """Answer what is in the context: yields text as it streams, tool events, then `TurnDone`.

        Every message this answer persists is tagged with `response_id`, so a later
        truncation (the caller heard only part of it) can find it.

        If the consumer cancels mid-step, what was already said is persisted as an
        interrupted assistant message, and tool calls that never ran get a
        `cancelled` result so the conversation stays valid for the next request.
        """
        self._response_id = response_id
        for _ in range(self.agent.llm.max_steps):
            parser = StreamParser()
            try:
                async for chunk in self.model.stream(**await self._request()):
                    for delta in parser.feed(chunk):
                        yield delta
            except ModelError as exc:
                await self._save_partial(parser)
                yield TurnFailed(str(exc), exc.code, APOLOGY)
                yield TurnDone("failed")
                return
            except (asyncio.CancelledError, GeneratorExit):
                await asyncio.shield(self._save_partial(parser))
                raise
            calls = [c for c in parser.calls if c.name]
            if not calls:
                await self._save_assistant(parser.content)
                yield TurnDone("completed")
                return
            records = [ToolCallRecord(id=c.id, name=c.name, arguments=c.arguments or "{}") for c in calls]
            said = " ".join(c.spoken for c in calls if c.spoken)
            await self._save_assistant(parser.content or said or None, tool_calls=records)
            for call in records:
                yield ToolStarted(call.id, call.name, _arguments(call.arguments))
            results = [_CANCELLED_RESULT] * len(records)
            try:
                results = list(await asyncio.gather(*(self.tools.call(c.name, c.arguments) for c in records)))
            finally:
                await asyncio.shield(self._save_tool_results(records, results))
            for call, result in zip(records, results, strict=True):
                yield ToolFinished(call.id, call.name, result.content, result.is_error)
        yield TurnDone("max_steps")

    async def _save_assistant(
        self, content: str | None, tool_calls: list[ToolCallRecord] | None = None, interrupted: bool = False
    ) -> None:
        await self.messages.append([
            MessageRecord(
                agent_id=self.agent.id,
                role="assistant",
                content=content,
                tool_calls=tool_calls or [],
                interrupted=interrupted,
                response_id=self._response_id,
            )
        ])

    async def _save_partial(self, parser: StreamParser) -> None:
        if parser.content:
            await self._save_assistant(parser.content, interrupted=True)

    async def _save_tool_results(self, calls: list[ToolCallRecord], results: list[ToolResult]) -> None:
        tool_messages = [
            MessageRecord(
                agent_id=self.agent.id, role="tool", content=r.content, tool_call_id=c.id, response_id=self._response_id
            )
            for c, r in zip(calls, results, strict=True)
        ]
        follow_up = MessageRecord(agent_id=self.agent.id, role="user", content=HIDDEN_TOOL_FOLLOW_UP, hidden=True)
        await self.messages.append([*tool_messages, follow_up])


def _arguments(raw: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
