"""Which fields of `session.update` and `response.create` Confab honours, and the refusal of every other one.

The rule (issue 12): a field a client sends is either honoured or refused with an `error` event
naming it, never accepted and dropped. A field whose value is what is already in force
(`truncation: "auto"`...) is honoured; any other value of a field Confab cannot change is refused. Sans-I/O: the session turns each `Refusal` into an `error` event.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from agent.voice_agent import ModelOptions
from audio.codecs import AudioFormat
from server.agent_names import is_openai_model_name

VOICE = "joe"  # the one voice the server speaks with, reported in session.audio.output.voice
OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"})
"""OpenAI's voice names: each means VOICE, so clients that hard-code one work unchanged."""
SPEEDS = (0.25, 1.5)  # OpenAI's range for session.audio.output.speed


@dataclass(frozen=True)
class Refusal:
    """One field the server will not honour: `param` is its dotted path, `code` is the error code."""

    param: str
    message: str
    code: Literal["unknown_parameter", "invalid_value"] = "unknown_parameter"


@dataclass(frozen=True)
class ModelSettings:
    """A session's (or one response's) `tool_choice` and `max_output_tokens`, as sent and as model options."""

    tool_choice: Any = "auto"
    max_output_tokens: int | Literal["inf"] = "inf"

    def updated(self, fields: Any, prefix: str) -> tuple[ModelSettings, list[Refusal]]:
        """These settings with a `session` or `response` object's changes, and the refusals among them."""
        settings, refusals = self, []
        choice = getattr(fields, "tool_choice", None)
        if choice is not None:
            if isinstance(choice, str) or choice.type == "function":
                settings = replace(settings, tool_choice=choice)
            else:
                refusals.append(Refusal(f"{prefix}.tool_choice", "tool_choice can be auto, none, required or a function; MCP tools are not supported", "invalid_value"))
        if getattr(fields, "max_output_tokens", None) is not None:
            settings = replace(settings, max_output_tokens=fields.max_output_tokens)
        return settings, refusals

    def options(self) -> ModelOptions:
        """The chat-completions options these settings mean."""
        choice = self.tool_choice
        if not isinstance(choice, str):
            choice = {"type": "function", "function": {"name": choice.name}}
        return ModelOptions(
            tool_choice=None if choice == "auto" else choice,
            max_tokens=None if self.max_output_tokens == "inf" else self.max_output_tokens,
        )

    def wire(self) -> dict[str, Any]:
        """The fields as echoed in `session.created|updated`."""
        choice = self.tool_choice if isinstance(self.tool_choice, str) else self.tool_choice.model_dump(exclude_none=True)
        return {"tool_choice": choice, "max_output_tokens": self.max_output_tokens}


def _unsupported(fields: Any, prefix: str, names: tuple[str, ...], why: str) -> list[Refusal]:
    return [Refusal(f"{prefix}.{name}", f"{prefix}.{name} is not supported: {why}") for name in names if getattr(fields, name, None)]


def _parallel_calls(fields: Any, prefix: str) -> list[Refusal]:
    if getattr(fields, "parallel_tool_calls", None) is False:
        return [Refusal(f"{prefix}.parallel_tool_calls", "the tool calls of one model step always run together", "invalid_value")]
    return []


_IDLE = "session.audio.input.turn_detection.idle_timeout_ms"


def session_refusals(session: Any, agent_name: str) -> list[Refusal]:
    """The fields of a `session.update` the server does not honour (their siblings still apply)."""
    refusals = _unsupported(session, "session", ("include", "prompt", "reasoning", "tracing"), "not implemented")
    refusals += _parallel_calls(session, "session")
    truncation = getattr(session, "truncation", None)
    if truncation is not None and truncation != "auto":
        refusals.append(Refusal("session.truncation", "only truncation \"auto\" is supported: memory trims the context after each "
                                "turn itself (CONFAB_MAX_MESSAGE_BUFFER_LENGTH) and keeps what it evicts as memories", "invalid_value"))
    model = getattr(session, "model", None)
    if model is not None and model != agent_name and not is_openai_model_name(model):
        refusals.append(Refusal("session.model", f"the agent is chosen when connecting (?model=); this session talks to {agent_name!r}", "invalid_value"))
    audio = getattr(session, "audio", None)
    audio_in, audio_out = getattr(audio, "input", None), getattr(audio, "output", None)
    refusals += _unsupported(audio_in, "session.audio.input", ("noise_reduction",), "not implemented")
    detection = getattr(audio_in, "turn_detection", None)
    if detection is not None and getattr(detection, "idle_timeout_ms", None) is not None:
        if detection.type != "server_vad":
            refusals.append(Refusal(_IDLE, "idle_timeout_ms needs turn_detection server_vad", "invalid_value"))
        elif session.type == "transcription":
            refusals.append(Refusal(_IDLE, "a transcription session never answers, and the idle timeout asks for an answer", "invalid_value"))
    refusals += _voice(audio_out, "session.audio.output.voice")
    speed = getattr(audio_out, "speed", None)
    if speed is not None and not SPEEDS[0] <= speed <= SPEEDS[1]:
        refusals.append(Refusal("session.audio.output.speed", f"speed is {SPEEDS[0]} to {SPEEDS[1]}, not {speed}", "invalid_value"))
    return refusals


def _voice(audio_out: Any, param: str) -> list[Refusal]:
    """A refusal of an `audio.output.voice` the server cannot speak (none for `joe` or an OpenAI voice name)."""
    voice = getattr(audio_out, "voice", None)
    if voice is None or voice == VOICE or (isinstance(voice, str) and voice in OPENAI_VOICES):
        return []
    return [Refusal(param, f"the only voice is {VOICE!r} (OpenAI's voice names mean it too), not {voice!r}", "invalid_value")]


def _format_of(fmt: Any) -> AudioFormat | None:
    try:
        return AudioFormat.parse(fmt.type or "audio/pcm", getattr(fmt, "rate", None))
    except ValueError:
        return None


def response_refusals(response: Any, output_format: AudioFormat) -> list[Refusal]:
    """The fields of a `response.create` the server does not honour (the response is then not started);
    `output_format` is the session's, the only one a response can speak in."""
    refusals = _unsupported(response, "response", ("prompt", "reasoning"), "not implemented per response")
    refusals += _parallel_calls(response, "response")
    conversation = getattr(response, "conversation", None)
    if conversation is not None and conversation not in ("auto", "none"):
        refusals.append(Refusal("response.conversation", "conversation can be \"auto\" or \"none\" (out-of-band)", "invalid_value"))
    audio_out = getattr(getattr(response, "audio", None), "output", None)
    refusals += _voice(audio_out, "response.audio.output.voice")
    fmt = getattr(audio_out, "format", None)
    if fmt is not None and _format_of(fmt) != output_format:
        refusals.append(Refusal("response.audio.output.format", "a response speaks in the session's output format; "
                                "change it with session.update", "invalid_value"))
    return refusals
