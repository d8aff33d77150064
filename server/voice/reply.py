"""Streaming one answer of the agent into a voice output: the loop every voice protocol shares."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Literal, Protocol

from agent.events import ClientToolCall, TextDelta, ToolStarted, TurnDone, TurnFailed
from agent.voice_agent import VoiceAgent

ReplyStatus = Literal["completed", "incomplete", "failed"]


class ReplySink(Protocol):
    """Where the answer's speakable text goes (a speaker, or a text stream)."""

    async def text(self, delta: str) -> None:
        """Speakable text arrived."""

    def flush(self) -> None:
        """A tool is about to run: say what has been written so far now."""

    async def function_call(self, call: ClientToolCall) -> None:
        """Hand a call of a client-side tool to the client (only sessions that declared client tools get these)."""


async def stream_reply(
    agent: VoiceAgent,
    response_id: str,
    sink: ReplySink,
    on_failure: Callable[[TurnFailed], Awaitable[None]],
    timings: dict[str, float] | None = None,
) -> ReplyStatus:
    """Run the agent's answer to what is in its context into `sink` and return how it ended.

    Text goes to the sink as it streams, buffered text is flushed before a tool runs,
    client-side tool calls are handed to the sink, and when the model fails the caller
    gets the apology, then `on_failure` is told.
    `timings` (when given) receives `llm_first_token`. The sink is not drained here.
    """
    status: ReplyStatus = "completed"
    async with aclosing(agent.step_stream(response_id)) as events:  # a cancelled reply persists its step at once
        async for event in events:
            match event:
                case TextDelta():
                    if timings is not None:
                        timings.setdefault("llm_first_token", time.monotonic())
                    await sink.text(event.text)
                case ToolStarted():
                    sink.flush()
                case ClientToolCall():
                    await sink.function_call(event)
                case TurnFailed():
                    status = "failed"
                    await sink.text(event.apology)
                    await on_failure(event)
                case TurnDone() if event.stop_reason == "max_steps":
                    status = "incomplete"
    return status
