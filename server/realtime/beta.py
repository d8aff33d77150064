"""The beta Realtime dialect (`OpenAI-Beta: realtime=v1`), converted to and from GA shapes at the edge.

Sans-I/O, JSON dicts in and out. Client events are rewritten to GA before they are validated
(`client_event_to_ga`); server events, built as GA models, are rewritten to beta just before
they are sent (`server_event_to_beta`): event names, the session shape (`modalities`,
`input_audio_format`, `voice`, `turn_detection`, `input_audio_transcription`,
`max_response_output_tokens`...), the response shape and content types (`text`/`audio` for
the assistant's `output_text`/`output_audio`). A beta field with no GA equivalent is refused
by name (`BetaFieldError`), never dropped.
"""

from __future__ import annotations

from typing import Any

_FORMATS_TO_GA: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "pcm16_16k": {"type": "audio/pcm", "rate": 16000},  # Confab's extension: 16 kHz PCM
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
_TOOL_CHOICE_MODES = {"auto", "none", "required"}
_ASSISTANT_CONTENT_TO_GA = {"text": "output_text", "audio": "output_audio"}
_USER_CONTENT_TO_GA = {"text": "input_text"}
_CONTENT_TO_BETA = {"output_text": "text", "output_audio": "audio"}
_CONTENT_FIELDS = ("id", "type", "text", "audio", "transcript")
_ITEM_FIELDS = ("id", "object", "type", "status", "role", "content", "call_id", "name", "arguments", "output")
_TURN_DETECTION_FIELDS = ("type", "threshold", "prefix_padding_ms", "silence_duration_ms", "create_response", "interrupt_response", "eagerness")
_TOOL_FIELDS = ("type", "name", "description", "parameters")
_RESPONSE_FIELDS = ("id", "object", "status", "status_details", "output", "conversation_id", "metadata", "max_output_tokens")

_EVENTS_TO_BETA = {
    "conversation.item.added": "conversation.item.created",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
}
_GA_ONLY_EVENTS = {"conversation.item.done", "input_audio_buffer.timeout_triggered", "conversation.item.input_audio_transcription.segment"}
_GA_ONLY_FIELDS = {
    "conversation.item.input_audio_transcription.completed": ("languages",),
    "response.function_call_arguments.done": ("name",),
}


class BetaFieldError(ValueError):
    """A beta client sent a field that has no GA equivalent, or a value Confab cannot map; `param` names it."""

    def __init__(self, param: str, message: str, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.param = param
        self.code = code
        """`unknown_parameter` for a field with no GA equivalent, `invalid_value` for a value that cannot be mapped."""


# -- client -> server ---------------------------------------------------------------------


def client_event_to_ga(event: dict[str, Any]) -> dict[str, Any]:
    """A beta client event in its GA shape (events whose shape did not change come back as they are)."""
    kind = event.get("type")
    if kind == "session.update" and isinstance(event.get("session"), dict):
        return {**event, "session": _session_to_ga(event["session"])}
    if kind == "response.create" and isinstance(event.get("response"), dict):
        return {**event, "response": _response_to_ga(event["response"])}
    if kind == "conversation.item.create" and isinstance(event.get("item"), dict):
        return {**event, "item": _item_to_ga(event["item"], "item")}
    return event


def _format_to_ga(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, str) or value not in _FORMATS_TO_GA:
        raise BetaFieldError(param, f"{param} must be one of {', '.join(_FORMATS_TO_GA)}, not {value!r}")
    return dict(_FORMATS_TO_GA[value])


def _modalities_to_ga(value: Any, param: str) -> list[str]:
    if not isinstance(value, list) or not value or any(m not in ("text", "audio") for m in value):
        raise BetaFieldError(param, f"{param} must be [\"text\"] or [\"audio\", \"text\"], not {value!r}")
    return ["audio"] if "audio" in value else ["text"]


def _tool_choice_to_ga(value: Any) -> Any:
    """A beta tool choice: a mode, or a function's name (the GA shape is already accepted as is)."""
    if isinstance(value, str) and value not in _TOOL_CHOICE_MODES:
        return {"type": "function", "name": value}
    return value


def _session_to_ga(session: dict[str, Any]) -> dict[str, Any]:
    ga: dict[str, Any] = {"type": "realtime"}
    audio_in: dict[str, Any] = {}
    audio_out: dict[str, Any] = {}
    for key, value in session.items():
        param = f"session.{key}"
        match key:
            case "modalities":
                ga["output_modalities"] = _modalities_to_ga(value, param)
            case "max_response_output_tokens":
                ga["max_output_tokens"] = value
            case "tool_choice":
                ga["tool_choice"] = _tool_choice_to_ga(value)
            case "instructions" | "tools" | "model" | "tracing":
                ga[key] = value
            case "input_audio_format":
                audio_in["format"] = _format_to_ga(value, param)
            case "input_audio_transcription":
                audio_in["transcription"] = value
            case "turn_detection":
                audio_in["turn_detection"] = {"type": "server_vad", **value} if isinstance(value, dict) else value  # beta's default type
            case "input_audio_noise_reduction":
                audio_in["noise_reduction"] = value
            case "output_audio_format":
                audio_out["format"] = _format_to_ga(value, param)
            case "voice":
                audio_out["voice"] = value
            case "speed":
                audio_out["speed"] = value
            case _:
                raise BetaFieldError(param, f"{param} is not supported", "unknown_parameter")
    audio = {name: part for name, part in (("input", audio_in), ("output", audio_out)) if part}
    if audio:
        ga["audio"] = audio
    return ga


def _response_to_ga(response: dict[str, Any]) -> dict[str, Any]:
    ga: dict[str, Any] = {}
    audio_out: dict[str, Any] = {}
    for key, value in response.items():
        param = f"response.{key}"
        match key:
            case "modalities":
                ga["output_modalities"] = _modalities_to_ga(value, param)
            case "max_response_output_tokens":
                ga["max_output_tokens"] = value
            case "tool_choice":
                ga["tool_choice"] = _tool_choice_to_ga(value)
            case "input":
                ga["input"] = [_item_to_ga(item, f"{param}[{i}]") for i, item in enumerate(value)] if isinstance(value, list) else value
            case "instructions" | "tools" | "conversation" | "metadata":
                ga[key] = value
            case "output_audio_format":
                audio_out["format"] = _format_to_ga(value, param)
            case "voice":
                audio_out["voice"] = value
            case _:
                raise BetaFieldError(param, f"{param} is not supported", "unknown_parameter")
    if audio_out:
        ga["audio"] = {"output": audio_out}
    return ga


def _item_to_ga(item: Any, param: str) -> Any:
    """A beta item with GA content types (`text`/`audio` of the assistant are `output_text`/`output_audio`)."""
    if not isinstance(item, dict) or not isinstance(item.get("content"), list):
        return item
    renames = _ASSISTANT_CONTENT_TO_GA if item.get("role") == "assistant" else _USER_CONTENT_TO_GA
    content = [
        {**part, "type": renames[part["type"]]} if isinstance(part, dict) and part.get("type") in renames else part
        for part in item["content"]
    ]
    return {**item, "content": content}


# -- server -> client ---------------------------------------------------------------------


def server_event_to_beta(event: dict[str, Any]) -> dict[str, Any] | None:
    """A GA server event (as JSON) in its beta shape, or None when the beta dialect has no such event."""
    kind = event["type"]
    if kind in _GA_ONLY_EVENTS:
        return None
    beta = {**event, "type": _EVENTS_TO_BETA.get(kind, kind)}
    if isinstance(beta.get("session"), dict):
        beta["session"] = session_to_beta(beta["session"])
    if isinstance(beta.get("response"), dict):
        beta["response"] = _response_to_beta(beta["response"])
    if isinstance(beta.get("item"), dict):
        beta["item"] = _item_to_beta(beta["item"])
    for field in _GA_ONLY_FIELDS.get(kind, ()):
        beta.pop(field, None)
    return beta


def _pick(source: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: source[k] for k in fields if k in source}


def _format_to_beta(fmt: dict[str, Any]) -> str:
    if fmt.get("type") == "audio/pcmu":
        return "g711_ulaw"
    if fmt.get("type") == "audio/pcma":
        return "g711_alaw"
    return "pcm16_16k" if fmt.get("rate", fmt.get("confab_rate", 24000)) == 16000 else "pcm16"


def _modalities_to_beta(modalities: list[str]) -> list[str]:
    return ["audio", "text"] if "audio" in modalities else ["text"]


def _tool_choice_to_beta(choice: Any) -> Any:
    return choice.get("name") if isinstance(choice, dict) else choice


def session_to_beta(session: dict[str, Any]) -> dict[str, Any]:
    """A GA session as the beta `Session`: fields the beta dialect cannot express (`type`, `truncation`,
    `prompt`, `include`, and `model`, which names a Confab agent, not an OpenAI model) are left out."""
    beta = _pick(session, ("id", "instructions", "tracing"))
    if "output_modalities" in session:
        beta["modalities"] = _modalities_to_beta(session["output_modalities"])
    if "max_output_tokens" in session:
        beta["max_response_output_tokens"] = session["max_output_tokens"]
    if "tool_choice" in session:
        beta["tool_choice"] = _tool_choice_to_beta(session["tool_choice"])
    if "tools" in session:
        beta["tools"] = [_pick(tool, _TOOL_FIELDS) for tool in session["tools"] if tool.get("type") == "function"]
    audio_in = session.get("audio", {}).get("input", {})
    audio_out = session.get("audio", {}).get("output", {})
    if "format" in audio_in:
        beta["input_audio_format"] = _format_to_beta(audio_in["format"])
    if "transcription" in audio_in:
        beta["input_audio_transcription"] = audio_in["transcription"]
    if "turn_detection" in audio_in:
        detection = audio_in["turn_detection"]
        beta["turn_detection"] = _pick(detection, _TURN_DETECTION_FIELDS) if isinstance(detection, dict) else detection
    if "noise_reduction" in audio_in:
        beta["input_audio_noise_reduction"] = audio_in["noise_reduction"]
    if "format" in audio_out:
        beta["output_audio_format"] = _format_to_beta(audio_out["format"])
    beta.update(_pick(audio_out, ("voice", "speed")))
    return beta


def _response_to_beta(response: dict[str, Any]) -> dict[str, Any]:
    beta = _pick(response, _RESPONSE_FIELDS)
    if "output_modalities" in response:
        beta["modalities"] = _modalities_to_beta(response["output_modalities"])
    audio_out = response.get("audio", {}).get("output", {})
    if "format" in audio_out:
        beta["output_audio_format"] = _format_to_beta(audio_out["format"])
    if "voice" in audio_out:
        beta["voice"] = audio_out["voice"]
    if "output" in beta:
        beta["output"] = [_item_to_beta(item) for item in beta["output"]]
    if isinstance(response.get("usage"), dict):
        beta["usage"] = _usage_to_beta(response["usage"])
    return beta


def _usage_to_beta(usage: dict[str, Any]) -> dict[str, Any]:
    beta = _pick(usage, ("input_tokens", "output_tokens", "total_tokens", "output_token_details", "confab_usage_reported"))
    if isinstance(usage.get("input_token_details"), dict):
        beta["input_token_details"] = _pick(usage["input_token_details"], ("audio_tokens", "cached_tokens", "text_tokens"))
    return beta


def _item_to_beta(item: dict[str, Any]) -> dict[str, Any]:
    beta = _pick(item, _ITEM_FIELDS)
    if isinstance(beta.get("content"), list):
        beta["content"] = [
            {**_pick(part, _CONTENT_FIELDS), "type": _CONTENT_TO_BETA.get(part.get("type"), part.get("type"))}
            for part in beta["content"]
        ]
    return beta
