"""OpenAI's speech API on the wire (sans-I/O): requests parsed and checked, responses and errors encoded.

`POST /v1/audio/transcriptions` is multipart form data (`file`, `model`, `language`,
`prompt`, `response_format`, `stream`); `POST /v1/audio/speech` is JSON (`model`,
`input`, `voice`, `speed`, `response_format`, `stream_format`). Anything a client sends
is honoured or refused with an OpenAI-style 400 naming the field.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audio.stt import Segment

TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
SPEECH_PATH = "/v1/audio/speech"
SPEECH_RATE = 24000  # OpenAI's pcm and wav are 24 kHz 16-bit mono
MAX_INPUT_CHARS = 4096


class ApiError(Exception):
    """An OpenAI-style error: HTTP status, message, code and the parameter at fault."""

    def __init__(self, message: str, code: str, param: str | None = None,
                 status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.message, self.code, self.param, self.status = message, code, param, status

    def body(self) -> bytes:
        """The JSON error body clients parse."""
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return json.dumps({"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}).encode()


@dataclass(frozen=True)
class TranscriptionRequest:
    """A checked transcription request; `audio` is the uploaded file's bytes."""

    audio: bytes
    filename: str
    content_type: str
    model: str
    language: str | None
    prompt: str | None
    response_format: Literal["json", "text", "verbose_json"]
    stream: bool


class SpeechRequest(BaseModel):
    """A checked speech request (unknown fields refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    input: str = Field(min_length=1, max_length=MAX_INPUT_CHARS)
    voice: str | dict[str, Any]
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    response_format: Literal["pcm", "wav"] = "wav"
    stream_format: Literal["audio"] = "audio"
    instructions: str | None = Field(default=None, max_length=0)  # Piper cannot follow delivery instructions


def _form_fields(body: bytes, content_type: str) -> dict[str, tuple[bytes, str, str]]:
    """Multipart form fields by name: (value bytes, filename, content type)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError("expected multipart/form-data with a `file` field", "invalid_content_type")
    message = BytesParser(policy=policy.HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart() or message.defects:
        raise ApiError("malformed multipart/form-data body", "invalid_multipart")
    fields: dict[str, tuple[bytes, str, str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = (payload, part.get_filename() or "", part.get_content_type() if part.get("Content-Type") else "")
    return fields


def _text(fields: dict[str, tuple[bytes, str, str]], name: str) -> str | None:
    if name not in fields:
        return None
    try:
        return fields[name][0].decode()
    except UnicodeDecodeError:
        raise ApiError(f"`{name}` is not UTF-8 text", "invalid_value", name) from None


_TRANSCRIPTION_FIELDS = {"file", "model", "language", "prompt", "response_format", "stream", "temperature"}


def parse_transcription(body: bytes, content_type: str, languages: tuple[str, ...] | None) -> TranscriptionRequest:
    """Check a transcription upload (`languages`: what the model knows, None for any)."""
    fields = _form_fields(body, content_type)
    unknown = sorted(set(fields) - _TRANSCRIPTION_FIELDS)
    if unknown:
        raise ApiError(f"unsupported parameter `{unknown[0]}`", "unsupported_parameter", unknown[0])
    if "file" not in fields or not fields["file"][0]:
        raise ApiError("`file` is required: the audio to transcribe", "missing_file", "file")
    model = _text(fields, "model")
    if not model:
        raise ApiError("`model` is required", "missing_model", "model")
    language = _text(fields, "language") or None
    if language is not None and languages is not None and language.lower() not in languages:
        raise ApiError(f"this model transcribes only {', '.join(languages)}, not {language!r}", "unsupported_language", "language")
    response_format = _text(fields, "response_format") or "json"
    if response_format not in ("json", "text", "verbose_json"):
        raise ApiError(f"unsupported response_format {response_format!r} (json, text or verbose_json)",
                       "unsupported_response_format", "response_format")
    stream = (_text(fields, "stream") or "false").lower()
    if stream not in ("true", "false"):
        raise ApiError("`stream` must be true or false", "invalid_value", "stream")
    temperature = _text(fields, "temperature")
    if temperature not in (None, "0", "0.0"):
        raise ApiError("only temperature 0 is supported (greedy decoding)", "unsupported_value", "temperature")
    data, filename, file_type = fields["file"]
    return TranscriptionRequest(data, filename, file_type, model, language, _text(fields, "prompt"),
                                response_format, stream == "true")  # type: ignore[arg-type]


def parse_speech(body: bytes) -> SpeechRequest:
    """Check a speech request's JSON body."""
    try:
        return SpeechRequest.model_validate_json(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        param = ".".join(str(p) for p in error["loc"]) or None
        raise ApiError(f"{param or 'body'}: {error['msg']}", "invalid_value", param) from None


def transcription_body(response_format: str, text: str, language: str, duration_s: float,
                       segments: list[Segment]) -> tuple[bytes, str]:
    """The non-streamed answer in the requested format, with its content type."""
    if response_format == "text":
        return text.encode(), "text/plain; charset=utf-8"
    if response_format == "json":
        return json.dumps({"text": text}).encode(), "application/json"
    verbose = {
        "task": "transcribe", "language": language, "duration": round(duration_s, 3), "text": text,
        "segments": [
            {"id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text, "tokens": list(s.tokens), "temperature": 0.0,
             "avg_logprob": s.avg_logprob, "compression_ratio": s.compression_ratio, "no_speech_prob": s.no_speech_prob}
            for i, s in enumerate(segments)
        ],
    }
    return json.dumps(verbose).encode(), "application/json"


def sse_event(event: dict[str, Any]) -> bytes:
    """One server-sent event carrying a JSON object."""
    return f"data: {json.dumps(event)}\n\n".encode()


def text_delta(delta: str) -> bytes:
    """A `transcript.text.delta` event."""
    return sse_event({"type": "transcript.text.delta", "delta": delta})


def text_done(text: str) -> bytes:
    """The closing `transcript.text.done` event."""
    return sse_event({"type": "transcript.text.done", "text": text})


def wav_header(rate: int = SPEECH_RATE) -> bytes:
    """A 16-bit mono WAV header for a stream of unknown length (sizes set to the maximum, as OpenAI does)."""
    unknown = 0xFFFFFFFF
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return b"RIFF" + struct.pack("<I", unknown) + b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", unknown)


def speech_content_type(response_format: str) -> str:
    """The content type of a speech response."""
    return "audio/wav" if response_format == "wav" else "audio/pcm"
