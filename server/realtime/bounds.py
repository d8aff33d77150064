"""The bounds on what a Realtime client controls, checked on each typed event before the session sees it.

Frame size, rate and queue are bounded at the socket (see `server.websocket_io`);
these are the limits inside a well-formed event. They are listed in the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openai.types.realtime import (
    ConversationItemCreateEvent,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeFunctionTool,
    RealtimeSessionCreateRequest,
    ResponseCreateEvent,
    SessionUpdateEvent,
)
from pydantic import BaseModel

MAX_DEPTH = 32
MAX_TEXT_CHARS = 100_000
MAX_INSTRUCTIONS_CHARS = 100_000
MAX_TOOLS = 64
MAX_INPUT_ITEMS = 512  # a response's own `input` context
VAD_THRESHOLD = (0.0, 1.0)
VAD_PREFIX_PADDING_MS = (0, 2_000)
VAD_SILENCE_DURATION_MS = (0, 10_000)
VAD_IDLE_TIMEOUT_MS = (100, 3_600_000)


@dataclass(frozen=True)
class Problem:
    """What is out of bounds, and where in the event."""

    message: str
    param: str


def check(event: BaseModel) -> Problem | None:
    """The first bound `event` exceeds, or None."""
    if isinstance(event, SessionUpdateEvent):
        return _check_session(event.session)
    if isinstance(event, ConversationItemCreateEvent):
        return _check_item(event.item, "item")
    if isinstance(event, ResponseCreateEvent) and event.response is not None:
        return _check_response(event.response)
    return None


def _check_response(response: Any) -> Problem | None:
    problem = _check_instructions_and_tools(response, "response")
    if problem is not None or response.input is None:
        return problem
    if len(response.input) > MAX_INPUT_ITEMS:
        return Problem(f"a response's input is limited to {MAX_INPUT_ITEMS} items", "response.input")
    return next((p for i, item in enumerate(response.input) if (p := _check_item(item, f"response.input.{i}")) is not None), None)


def _check_session(session: Any) -> Problem | None:
    if not isinstance(session, RealtimeSessionCreateRequest):  # refused before validation
        return None
    problem = _check_instructions_and_tools(session, "session")
    if problem is not None:
        return problem
    audio_in = session.audio.input if session.audio is not None else None
    detection = audio_in.turn_detection if audio_in is not None else None
    if detection is None or detection.type != "server_vad":
        return None
    for name, (low, high) in (
        ("threshold", VAD_THRESHOLD),
        ("prefix_padding_ms", VAD_PREFIX_PADDING_MS),
        ("silence_duration_ms", VAD_SILENCE_DURATION_MS),
        ("idle_timeout_ms", VAD_IDLE_TIMEOUT_MS),
    ):
        value = getattr(detection, name)
        if value is not None and not low <= value <= high:
            return Problem(f"turn_detection.{name} must be between {low} and {high}", f"session.audio.input.turn_detection.{name}")
    return None


def _check_instructions_and_tools(fields: Any, prefix: str) -> Problem | None:
    """The bounds shared by a session and a response: instructions' length, the tools and their schemas."""
    if fields.instructions is not None and len(fields.instructions) > MAX_INSTRUCTIONS_CHARS:
        return Problem(f"instructions are limited to {MAX_INSTRUCTIONS_CHARS} characters", f"{prefix}.instructions")
    if fields.tools is None:
        return None
    if len(fields.tools) > MAX_TOOLS:
        return Problem(f"at most {MAX_TOOLS} tools may be declared", f"{prefix}.tools")
    for index, tool in enumerate(fields.tools):
        where = f"{prefix}.tools.{index}.parameters"
        parameters = getattr(tool, "parameters", None) if isinstance(tool, RealtimeFunctionTool) else None
        problem = None if parameters is None else _schema_problem(parameters, where)
        if problem is not None:
            return Problem(f"{problem} (a tool's parameters are a JSON schema of type object)", where)
    return None


def _schema_problem(schema: Any, where: str) -> str | None:
    """What makes `schema` unusable as a tool's JSON schema (the parts the model's tool specs read), or None."""
    if not isinstance(schema, dict):
        return f"{where} must be an object"
    kind = schema.get("type")
    if kind is not None and not (isinstance(kind, str) or (isinstance(kind, list) and all(isinstance(k, str) for k in kind))):
        return f"{where}.type must be a type name or a list of them"
    required = schema.get("required")
    if required is not None and not (isinstance(required, list) and all(isinstance(r, str) for r in required)):
        return f"{where}.required must be a list of property names"
    if "enum" in schema and not isinstance(schema["enum"], list):
        return f"{where}.enum must be a list"
    nested: list[tuple[Any, str]] = []
    for key in ("properties", "$defs"):
        if key in schema:
            if not isinstance(schema[key], dict):
                return f"{where}.{key} must be an object"
            nested += [(sub, f"{where}.{key}.{name}") for name, sub in schema[key].items()]
    if "anyOf" in schema:
        if not isinstance(schema["anyOf"], list):
            return f"{where}.anyOf must be a list"
        nested += [(sub, f"{where}.anyOf.{i}") for i, sub in enumerate(schema["anyOf"])]
    if "items" in schema and not isinstance(schema["items"], (dict, list)):
        return f"{where}.items must be a schema"
    if isinstance(schema.get("items"), dict):
        nested.append((schema["items"], f"{where}.items"))
    return next((p for sub, path in nested if (p := _schema_problem(sub, path)) is not None), None)


def _check_item(item: Any, where: str) -> Problem | None:
    if isinstance(item, RealtimeConversationItemFunctionCallOutput):
        if len(item.output) > MAX_TEXT_CHARS:
            return Problem(f"a function_call_output is limited to {MAX_TEXT_CHARS} characters", f"{where}.output")
        return None
    content = getattr(item, "content", None) or []
    size = sum(len(getattr(part, "text", None) or getattr(part, "transcript", None) or "") for part in content)
    if size > MAX_TEXT_CHARS:
        return Problem(f"a message's text is limited to {MAX_TEXT_CHARS} characters", f"{where}.content")
    return None
