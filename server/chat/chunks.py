"""The agent's events as `chat.completion.chunk`s (streamed) or one `chat.completion` (not streamed).

Built for speech: text is streamed the moment the model writes it, the pre-execution line
included; server-side tools, their results and the hidden follow-up never appear; only calls of
the tools the platform declared are handed over, as `delta.tool_calls`, and then the answer ends
with `finish_reason: "tool_calls"`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Literal

from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageFunctionToolCall, ChatCompletionMessageToolCallUnion
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import ChoiceDelta, ChoiceDeltaToolCall, ChoiceDeltaToolCallFunction
from openai.types.chat.chat_completion_message import ChatCompletionMessage
from openai.types.chat.chat_completion_message_function_tool_call import Function
from openai.types.completion_usage import CompletionUsage

from agent.events import AgentEvent, ClientToolCall, ModelUsage, TextDelta, ToolStarted, TurnDone, TurnFailed

FinishReason = Literal["stop", "length", "tool_calls"]
DONE = b"data: [DONE]\n\n"


def new_completion_id() -> str:
    """A fresh `chatcmpl-…` id; it also tags the messages this answer persists."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def sse(chunk: ChatCompletionChunk) -> bytes:
    """One Server-Sent Event carrying a chunk."""
    return b"data: " + chunk.model_dump_json(exclude_unset=True).encode() + b"\n\n"


@dataclass
class ChunkEncoder:
    """Turns one answer's agent events into chunks, and remembers the answer for a non-streamed reply."""

    completion_id: str
    model: str
    created: int = field(default_factory=lambda: int(time.time()))
    text: str = ""
    calls: list[ClientToolCall] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    usage: CompletionUsage = field(default_factory=lambda: CompletionUsage(prompt_tokens=0, completion_tokens=0, total_tokens=0))
    _calls_usage: list[ModelUsage] = field(default_factory=list, init=False)
    _tool_ran: bool = field(default=False, init=False)

    def _chunk(self, delta: ChoiceDelta, finish_reason: FinishReason | None = None) -> ChatCompletionChunk:
        choice = ChunkChoice(index=0, delta=delta, finish_reason=finish_reason)
        return ChatCompletionChunk(
            id=self.completion_id, object="chat.completion.chunk", created=self.created, model=self.model, choices=[choice],
        )

    def role(self) -> ChatCompletionChunk:
        """The first chunk: the assistant's role, no text yet."""
        return self._chunk(ChoiceDelta(role="assistant", content=""))

    def feed(self, event: AgentEvent) -> list[ChatCompletionChunk]:
        """The chunks one agent event becomes (none for the events that stay internal)."""
        match event:
            case TextDelta():
                return [self._text(event.text)]
            case ToolStarted():
                self._tool_ran = True
            case TurnFailed():
                return [self._text(event.apology)]
            case ClientToolCall():
                self.calls.append(event)
                call = ChoiceDeltaToolCall(
                    index=len(self.calls) - 1, id=event.call_id, type="function",
                    function=ChoiceDeltaToolCallFunction(name=event.name, arguments=event.arguments),
                )
                return [self._chunk(ChoiceDelta(tool_calls=[call]))]
            case ModelUsage():
                self._calls_usage.append(event)
                used = ModelUsage.total(self._calls_usage)
                self.usage = CompletionUsage(
                    prompt_tokens=used.input_tokens, completion_tokens=used.output_tokens, total_tokens=used.total_tokens
                )
            case TurnDone():
                self.finish_reason = "tool_calls" if self.calls else "length" if event.stop_reason == "max_steps" else "stop"
                return [self._chunk(ChoiceDelta(), self.finish_reason)]
        return []

    def _text(self, text: str) -> ChatCompletionChunk:
        """A content chunk; a space separates what was said before a tool ran from what follows it, for TTS."""
        if self._tool_ran and self.text and not self.text[-1].isspace() and not text[:1].isspace():
            text = " " + text
        self._tool_ran = False
        self.text += text
        return self._chunk(ChoiceDelta(content=text))

    def usage_chunk(self) -> ChatCompletionChunk:
        """The closing usage chunk (`stream_options.include_usage`): no choices."""
        return ChatCompletionChunk(
            id=self.completion_id, object="chat.completion.chunk", created=self.created, model=self.model,
            choices=[], usage=self.usage,
        )

    def completion(self) -> ChatCompletion:
        """The whole answer as one `chat.completion` (for `stream: false`)."""
        tool_calls: list[ChatCompletionMessageToolCallUnion] = [
            ChatCompletionMessageFunctionToolCall(id=c.call_id, type="function", function=Function(name=c.name, arguments=c.arguments))
            for c in self.calls
        ]
        message = ChatCompletionMessage(role="assistant", content=self.text or None, tool_calls=tool_calls or None)
        return ChatCompletion(
            id=self.completion_id, object="chat.completion", created=self.created, model=self.model,
            choices=[Choice(index=0, message=message, finish_reason=self.finish_reason or "stop")], usage=self.usage,
        )
