"""Parsing a streamed chat completion: content, fragmented tool calls and the early `pre_exec_msg`."""

from __future__ import annotations

from dataclasses import dataclass, field

import jiter
from openai.types.chat import ChatCompletionChunk

from agent.events import TextDelta, TokenUsage
from agent.tools.schemas import PRE_EXEC_MSG


@dataclass
class PendingToolCall:
    """A tool call as its fragments arrive."""

    id: str = ""
    name: str = ""
    arguments: str = ""
    spoken: str = ""


def partial_pre_exec_msg(arguments: str) -> str:
    """The `pre_exec_msg` value as far as it has been written in partial JSON arguments."""
    if PRE_EXEC_MSG not in arguments:
        return ""
    try:
        parsed = jiter.from_json(arguments.encode(), partial_mode="trailing-strings")
    except ValueError:
        return ""
    value = parsed.get(PRE_EXEC_MSG) if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else ""


@dataclass
class StreamParser:
    """Accumulates one streamed response and turns each chunk into speakable deltas."""

    content: str = ""
    finish_reason: str | None = None
    tool_calls: dict[int, PendingToolCall] = field(default_factory=dict)
    usage: TokenUsage = TokenUsage()

    def feed(self, chunk: ChatCompletionChunk) -> list[TextDelta]:
        """Take one chunk; return the reply text and pre-execution text it adds."""
        out: list[TextDelta] = []
        if chunk.usage is not None:
            self.usage = TokenUsage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        for choice in chunk.choices:
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
            delta = choice.delta
            if delta.content:
                self.content += delta.content
                out.append(TextDelta(delta.content))
            for fragment in delta.tool_calls or []:
                call = self.tool_calls.setdefault(fragment.index, PendingToolCall())
                call.id = fragment.id or call.id
                if fragment.function is not None:
                    call.name += fragment.function.name or ""
                    call.arguments += fragment.function.arguments or ""
                said = partial_pre_exec_msg(call.arguments)
                if len(said) > len(call.spoken) and said.startswith(call.spoken):
                    out.append(TextDelta(said[len(call.spoken):], kind="pre_exec"))
                    call.spoken = said
        return out

    @property
    def calls(self) -> list[PendingToolCall]:
        """The complete tool calls, in the model's order."""
        return [self.tool_calls[i] for i in sorted(self.tool_calls)]
