"""What the agent loop yields while it answers one turn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class TextDelta:
    """Speakable text as the model writes it: the reply, or a tool's pre-execution message."""

    text: str
    kind: Literal["reply", "pre_exec"] = "reply"


@dataclass(frozen=True)
class ToolStarted:
    """A tool call is about to run."""

    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolFinished:
    """A tool call finished; `result` is what the model will see."""

    call_id: str
    name: str
    result: str
    is_error: bool


@dataclass(frozen=True)
class ClientToolCall:
    """The model called a tool the caller's client runs: hand it over; the turn ends after these.

    `arguments` is the JSON the client gets: the tool's own arguments, without `pre_exec_msg`.
    """

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class TurnFailed:
    """The model could not be reached or broke off; `apology` is what to tell the caller."""

    message: str
    code: str
    apology: str


@dataclass(frozen=True)
class TokenUsage:
    """Tokens the model reported for a turn, summed over its steps (0 when the endpoint reports none)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)


@dataclass(frozen=True)
class TurnDone:
    """The turn ended; `stop_reason` is `completed`, `client_tools` (waiting for the client), `max_steps` or `failed`."""

    stop_reason: str
    usage: TokenUsage = TokenUsage()


AgentEvent = TextDelta | ToolStarted | ToolFinished | ClientToolCall | TurnFailed | TurnDone
