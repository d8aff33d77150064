"""The voice agent loop: stream the model, speak as it writes, run tools, persist every message."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agent.client_calls import NO_CLIENT_RESULT, client_result, unanswered_calls
from agent.events import AgentEvent, ClientToolCall, ToolStarted, TurnDone, TurnFailed
from agent.llm import ChatModel, ModelError
from agent.prompts import APOLOGY, HIDDEN_TOOL_FOLLOW_UP
from agent.streaming import StreamParser
from agent.tools.base import CallContext
from agent.tools.toolset import ToolArgumentsError, ToolResult, ToolSet
from memory.conversations import Conversation
from memory.messages import ConversationMessages
from memory.records import AgentRecord, MessageRecord, ToolCallRecord

log = logging.getLogger(__name__)

_CANCELLED_RESULT = ToolResult(json.dumps({"error": "cancelled: the caller interrupted before the tool ran"}), True)


@dataclass(frozen=True)
class ModelOptions:
    """What a client asked of the model calls of an answer, in chat-completions terms.

    `tool_choice` (`auto`, `none`, `required` or `{"type": "function", "function": {"name": ...}}`)
    binds the answer's first call only: forcing a tool on every step would never let the model
    sum up the result; `none` holds for every step. `max_tokens` caps each call's output.
    """

    tool_choice: str | dict[str, Any] | None = None
    max_tokens: int | None = None

    def apply(self, request: dict[str, Any], first_step: bool) -> None:
        """Add these options to one chat-completions request."""
        if self.max_tokens is not None:
            request["max_tokens"] = self.max_tokens
        if "tools" in request and self.tool_choice is not None and (first_step or self.tool_choice == "none"):
            request["tool_choice"] = self.tool_choice


@dataclass
class VoiceAgent:
    """One agent's turn-taking loop in one caller's conversation (the reference is Letta's VoiceAgent).

    `system_prompt` compiles the system message afresh for every step (memory blocks
    and counts change between steps). Messages are persisted as soon as they are
    complete: the caller's at once, the assistant's at the end of its step.
    """

    agent: AgentRecord
    conversation: Conversation
    model: ChatModel
    tools: ToolSet
    messages: ConversationMessages
    system_prompt: Callable[[], Awaitable[str]]
    after_turn: Callable[[], Awaitable[None]] | None = None
    options: ModelOptions = ModelOptions()
    _response_id: str | None = field(default=None, init=False)

    async def add_user_message(self, text: str, hidden: bool = False) -> MessageRecord:
        """Persist something the caller said (or a hidden system note) into history and context."""
        await self._close_unanswered()
        message = MessageRecord(conversation_id=self.conversation.id, role="user", content=text, hidden=hidden)
        await self.messages.append([message])
        return message

    async def add_tool_output(self, call_id: str, output: str) -> bool:
        """Persist the client's result for one of its tool calls; False when no call with that id awaits one.

        The hidden "summarize the result" note follows the last awaited result.
        """
        waiting = unanswered_calls(await self.messages.buffer(self.conversation.id))
        if call_id not in {c.id for c in waiting}:
            return False
        names = {c.id: c.name for c in waiting}
        await self.messages.append(self._tool_messages({call_id: client_result(output)}, names, follow_up=len(waiting) == 1))
        return True

    async def _close_unanswered(self) -> None:
        """Give client-side calls still waiting an error result, so the conversation can go on."""
        waiting = unanswered_calls(await self.messages.buffer(self.conversation.id))
        if waiting:
            names = {c.id: c.name for c in waiting}
            await self.messages.append(self._tool_messages(dict.fromkeys(names, NO_CLIENT_RESULT), names, follow_up=True))

    async def forget(self, message_id: str | None = None, response_id: str | None = None) -> None:
        """Take a message, or every message of a response, out of the model's context (history keeps them)."""
        ids = [message_id] if message_id is not None else []
        if response_id is not None:
            ids += [m.id for m in await self.messages.for_response(self.conversation.id, response_id)]
        await self.messages.drop_from_buffer(self.conversation.id, ids)

    async def truncate_response(self, response_id: str, heard: str) -> None:
        """Keep in history only what the caller heard of a response's assistant text.

        Words are counted through the response's assistant messages in order; the
        message where hearing stopped is cut there and marked interrupted, later ones
        lose their text (their tool calls stay, so the conversation remains valid).
        """
        budget = len(heard.split())
        for message in await self.messages.for_response(self.conversation.id, response_id):
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

    async def _request(self, first_step: bool) -> dict[str, Any]:
        await self.tools.refresh()
        context = await self.messages.buffer(self.conversation.id)
        request: dict[str, Any] = {
            "messages": [{"role": "system", "content": await self.system_prompt()}]
            + [m.to_openai() for m in context],
        }
        if len(self.tools):
            request["tools"] = self.tools.specs(strict=self.agent.llm.strict)
        if self.agent.llm.temperature is not None:
            request["temperature"] = self.agent.llm.temperature
        self.options.apply(request, first_step)
        return request

    async def step_stream(self, response_id: str | None = None) -> AsyncGenerator[AgentEvent, None]:
        """Answer what is in the context: yields text as it streams, tool events, then `TurnDone`.

        Each model call ends with a `ModelUsage` (unreported zeros when the model sent none).

        Every message this answer persists is tagged with `response_id`, so a later
        truncation (the caller heard only part of it) can find it.

        If the consumer cancels mid-step, what was already said is persisted as an
        interrupted assistant message, and tool calls that never ran get a
        `cancelled` result so the conversation stays valid for the next request.
        Calls to client-side tools are handed over (`ClientToolCall`) and end the turn.
        """
        self._response_id = response_id
        await self._close_unanswered()
        for step in range(self.agent.llm.max_steps):
            parser = StreamParser()
            try:
                async for chunk in self.model.stream(**await self._request(first_step=step == 0)):
                    for delta in parser.feed(chunk):
                        yield delta
            except ModelError as exc:
                await self._save_partial(parser)
                yield parser.usage
                yield TurnFailed(str(exc), exc.code, APOLOGY)
                yield await self._done("failed")
                return
            except (asyncio.CancelledError, GeneratorExit):
                await asyncio.shield(self._save_partial(parser))
                raise
            yield parser.usage
            calls = [c for c in parser.calls if c.name]
            if not calls:
                cut_off = parser.finish_reason == "length"  # the model hit its output limit mid-answer
                await self._save_assistant(parser.content, interrupted=cut_off)
                yield await self._done("length" if cut_off else "completed")
                return
            records = [ToolCallRecord(id=c.id, name=c.name, arguments=c.arguments or "{}") for c in calls]
            said = " ".join(c.spoken for c in calls if c.spoken)
            here = [c for c in records if not self.tools.runs_on_client(c.name)]
            results = dict.fromkeys((c.id for c in records), _CANCELLED_RESULT)
            try:
                for call in here:
                    yield ToolStarted(call.id, call.name)
                ran = await asyncio.gather(*(
                    self.tools.call(c.name, c.arguments, CallContext(self.agent.id, c.id, self._response_id)) for c in here
                ))
                results = dict(zip((c.id for c in here), ran, strict=True))
            finally:
                await asyncio.shield(self._save_step(parser.content or said or None, records, results))
            handed = [c for c in records if c.id not in results]
            if handed:
                for call in handed:
                    yield ClientToolCall(call.id, call.name, self._client_arguments(call))
                yield await self._done("client_tools")
                return
        yield await self._done("max_steps")

    async def _done(self, stop_reason: str) -> TurnDone:
        """End the turn: run the `after_turn` upkeep (the buffer trim) before reporting it done."""
        if self.after_turn is not None:
            await self.after_turn()
        return TurnDone(stop_reason)

    def _assistant(
        self, content: str | None, tool_calls: list[ToolCallRecord] | None = None, interrupted: bool = False
    ) -> MessageRecord:
        return MessageRecord(
            conversation_id=self.conversation.id,
            role="assistant",
            content=content,
            tool_calls=tool_calls or [],
            interrupted=interrupted,
            response_id=self._response_id,
        )

    async def _save_assistant(self, content: str | None, interrupted: bool = False) -> None:
        await self.messages.append([self._assistant(content, interrupted=interrupted)])

    async def _save_partial(self, parser: StreamParser) -> None:
        """Keep what was said of a step cut short: its text, or the pre-execution lines of calls that never ran."""
        said = parser.content or " ".join(c.spoken for c in parser.calls if c.spoken)
        if said:
            await self._save_assistant(said, interrupted=True)

    async def _save_step(self, content: str | None, calls: list[ToolCallRecord], results: dict[str, ToolResult]) -> None:
        """Persist a tool-calling step at once: the assistant's calls and the results there are.

        Written together after the tools ran, so a cancellation never leaves a call
        without its result; client-side calls get theirs later (`add_tool_output`).
        """
        answered = {c.id: results[c.id] for c in calls if c.id in results}
        follow_up = len(answered) == len(calls)
        names = {c.id: c.name for c in calls}
        await self.messages.append([self._assistant(content, tool_calls=calls), *self._tool_messages(answered, names, follow_up)])

    def _tool_messages(self, results: dict[str, ToolResult], names: dict[str, str], follow_up: bool) -> list[MessageRecord]:
        """Tool result messages, then (with `follow_up`) the hidden note asking the model to sum them up."""
        messages = [
            MessageRecord(
                conversation_id=self.conversation.id, role="tool", content=r.content, tool_call_id=call_id,
                tool_name=names.get(call_id), response_id=self._response_id,
            )
            for call_id, r in results.items()
        ]
        if follow_up:
            messages.append(MessageRecord(conversation_id=self.conversation.id, role="user", content=HIDDEN_TOOL_FOLLOW_UP, hidden=True))
        return messages

    def _client_arguments(self, call: ToolCallRecord) -> str:
        """The arguments a client-side tool gets: its own (no `pre_exec_msg`), or the raw text if not JSON."""
        try:
            return json.dumps(self.tools.arguments(call.name, call.arguments))
        except ToolArgumentsError:
            return call.arguments

