"""Sans-I/O adapter for Twilio Media Streams: Twilio's JSON frames in, typed messages out, and back.

Twilio sends `connected`, `start` (stream and call ids, `customParameters`,
`mediaFormat`), `media` (base64 mu-law 8 kHz, 20 ms per frame), `dtmf`, `mark` (the
echo of ours once the audio before it has played) and `stop`. A bidirectional stream
accepts `media`, `mark` and `clear` back. Fields are camelCase on the wire and
snake_case here. Nothing in this module touches a socket.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from server.wire_json import UnsafeJson, load_checked

MULAW_ENCODING = "audio/x-mulaw"
MULAW_RATE = 8000
MAX_DEPTH = 8  # Twilio's messages nest three levels deep


class ProtocolViolation(ValueError):
    """A frame that is not a well-formed Twilio message, or one out of order; the stream is closed."""


def _strict_base64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("payload must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"payload is not valid base64 ({exc})") from None


Base64Payload = Annotated[bytes, BeforeValidator(_strict_base64)]


class _Wire(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are ignored (Twilio adds some)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, coerce_numbers_to_str=True, extra="ignore")


class _Inbound(_Wire):
    sequence_number: str | None = None
    stream_sid: str | None = None


class Connected(_Inbound):
    """The first message: which protocol the stream speaks."""

    event: Literal["connected"]
    protocol: str = "Call"
    version: str = ""


class MediaFormat(_Wire):
    """The inbound audio format; Twilio sends mu-law, 8 kHz, mono."""

    encoding: str
    sample_rate: int
    channels: int = 1


class StartInfo(_Wire):
    """The stream's metadata: ids, tracks, the `<Parameter>`s of the TwiML and the audio format."""

    stream_sid: str
    account_sid: str = ""
    call_sid: str = ""
    tracks: list[str] = Field(default_factory=lambda: ["inbound"])
    custom_parameters: dict[str, str] = Field(default_factory=dict)
    media_format: MediaFormat


class Start(_Inbound):
    """Sent once, right after `connected`."""

    event: Literal["start"]
    start: StartInfo


class MediaChunk(_Wire):
    """One frame of the caller's audio (the payload already base64-decoded)."""

    track: str = "inbound"
    chunk: str | None = None
    timestamp: str | None = None
    payload: Base64Payload


class Media(_Inbound):
    """Caller audio."""

    event: Literal["media"]
    media: MediaChunk


class DtmfInfo(_Wire):
    """A key the caller pressed."""

    track: str = "inbound_track"
    digit: str = Field(pattern=r"^[0-9*#A-Da-d]$")


class Dtmf(_Inbound):
    """A keypad press on the call."""

    event: Literal["dtmf"]
    dtmf: DtmfInfo


class MarkInfo(_Wire):
    """A mark's name."""

    name: str


class Mark(_Inbound):
    """The echo of a mark we sent: the audio sent before it has played (or was cleared)."""

    event: Literal["mark"]
    mark: MarkInfo


class StopInfo(_Wire):
    """Which call ended."""

    account_sid: str = ""
    call_sid: str = ""


class Stop(_Inbound):
    """The stream ended (the call hung up, or the TwiML moved on)."""

    event: Literal["stop"]
    stop: StopInfo = Field(default_factory=StopInfo)


class Unknown(BaseModel):
    """A message type this server does not know; ignored, so newer Twilio events do no harm."""

    event: str


InboundMessage = Connected | Start | Media | Dtmf | Mark | Stop
_INBOUND: TypeAdapter[InboundMessage] = TypeAdapter(Annotated[InboundMessage, Field(discriminator="event")])
_KNOWN_EVENTS = {"connected", "start", "media", "dtmf", "mark", "stop"}


class MediaOut(_Wire):
    """The `media` object of an outbound media message."""

    payload: str


class SendMedia(_Wire):
    """Audio for Twilio to play to the caller (base64 mu-law 8 kHz)."""

    event: Literal["media"] = "media"
    stream_sid: str
    media: MediaOut


class SendMark(_Wire):
    """A mark after the audio sent so far: Twilio echoes it when that audio has played."""

    event: Literal["mark"] = "mark"
    stream_sid: str
    mark: MarkInfo


class Clear(_Wire):
    """Drop the audio Twilio has buffered but not played yet (barge-in)."""

    event: Literal["clear"] = "clear"
    stream_sid: str


OutboundMessage = SendMedia | SendMark | Clear


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"][1:])  # loc[0] is the `event` tag
    return f"{where}: {first['msg'].removeprefix('Value error, ')}"


def parse_frame(frame: str | bytes) -> InboundMessage | Unknown:
    """One WebSocket frame as a typed message; raises ProtocolViolation when it is not a Twilio message."""
    if isinstance(frame, bytes):
        raise ProtocolViolation("binary frame: Twilio Media Streams messages are JSON text")
    try:
        data = load_checked(frame, MAX_DEPTH)
    except UnsafeJson as exc:
        raise ProtocolViolation(f"not JSON this server accepts ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        raise ProtocolViolation("not a Twilio message: a JSON object with an `event` is expected")
    if data["event"] not in _KNOWN_EVENTS:
        return Unknown(event=data["event"][:64])
    try:
        return _INBOUND.validate_python(data)
    except ValidationError as exc:
        raise ProtocolViolation(f"malformed {data['event']} message: {_describe(exc)}") from None


def encode(message: OutboundMessage) -> str:
    """An outbound message as the JSON text frame Twilio expects."""
    return message.model_dump_json(by_alias=True)


class MediaStream:
    """One stream's order rules (`start` first and once; nothing after `stop`) and its outbound messages."""

    def __init__(self) -> None:
        self.info: StartInfo | None = None
        self.stopped = False

    def receive(self, frame: str | bytes) -> InboundMessage | Unknown:
        """Parse an incoming frame and check it fits the stream so far (ProtocolViolation when not)."""
        message = parse_frame(frame)
        if isinstance(message, (Connected, Unknown)):
            return message
        if self.stopped:
            raise ProtocolViolation(f"{message.event} after stop")
        if isinstance(message, Start):
            if self.info is not None:
                raise ProtocolViolation("a second start message")
            self.info = message.start
            return message
        if self.info is None:
            raise ProtocolViolation(f"{message.event} before start")
        if message.stream_sid is not None and message.stream_sid != self.info.stream_sid:
            raise ProtocolViolation(f"{message.event} for stream {message.stream_sid}, not {self.info.stream_sid}")
        if isinstance(message, Stop):
            self.stopped = True
        return message

    @property
    def stream_sid(self) -> str:
        """The stream's id (only once `start` arrived)."""
        if self.info is None:
            raise RuntimeError("the stream has not started")
        return self.info.stream_sid

    def media(self, audio: bytes) -> str:
        """A `media` frame carrying mu-law audio."""
        return encode(SendMedia(stream_sid=self.stream_sid, media=MediaOut(payload=base64.b64encode(audio).decode())))

    def mark(self, name: str) -> str:
        """A `mark` frame."""
        return encode(SendMark(stream_sid=self.stream_sid, mark=MarkInfo(name=name)))

    def clear(self) -> str:
        """A `clear` frame."""
        return encode(Clear(stream_sid=self.stream_sid))
