"""What the agent loop yields while it answers one turn."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class TextDelta:
    """Speakable text as the model writes it: the reply, or a tool's pre-execution message."""

    text: str


@dataclass(frozen=True)
class ToolStarted:
    """A tool call is about to run."""

    call_id: str
    name: str


@dataclass(frozen=True)
class ClientToolCall:
    """The model called a tool the caller's client runs: hand it over; the turn ends after these.

    `arguments` is the JSON the client gets: the tool's own arguments, without `pre_exec_msg`.
    """

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ModelUsage:
    """Tokens one model call used, as the model's stream reported them (one event per call).

    `reported` is False when the model sent no usage: the counts are then zeros, never guesses.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reported: bool = False

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    @classmethod
    def total(cls, calls: Iterable[ModelUsage]) -> ModelUsage:
        """The usage of several calls (one response's steps); reported only if every call reported it."""
        counted = list(calls)
        return cls(
            sum(c.input_tokens for c in counted),
            sum(c.output_tokens for c in counted),
            sum(c.cached_tokens for c in counted),
            reported=bool(counted) and all(c.reported for c in counted),
        )


@dataclass(frozen=True)
class TurnFailed:
    """The model could not be reached or broke off; `apology` is what to tell the caller."""

    message: str
    code: str
    apology: str


@dataclass(frozen=True)
class TurnDone:
    """The turn ended; `stop_reason` is `completed`, `length` (cut off by the model's output limit),
    `client_tools` (waiting for the client), `max_steps` or `failed`."""

    stop_reason: str


AgentEvent = TextDelta | ToolStarted | ClientToolCall | ModelUsage | TurnFailed | TurnDone
