"""One phone call over a Twilio Media Stream, mapped to a `Conversation`.

The caller's mu-law audio goes to the conversation (server VAD, speculative STT, a reply
to each finished utterance, barge-in); its reply frames leave as `media` with a `mark`
after each chunk, and Twilio's echoed marks tell it what was played, so an interrupted
reply keeps in history only that. An interruption sends `clear`, so Twilio drops the
audio it still buffers. Key presses interrupt like speech and reach the agent as hidden
notes; the agent answers once the caller paused on the keypad (or at once on `#`). The
socket is not here: frames come in through `handle_frame` and leave through `send_frame`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from websockets.frames import CloseCode

from audio.echo import EchoSettings
from audio.interruption import InterruptionSettings
from audio.turns import TurnSettings
from memory.redis_client import OUTAGE_ERRORS
from server.runtime import VoiceServices
from server.twilio.playback import TWILIO_FORMAT, TWILIO_OUTPUT
from server.twilio.caller_token import CallerTokens
from server.twilio.protocol import (
    MULAW_ENCODING, MULAW_RATE, Dtmf, InboundMessage, Mark, Media, MediaStream, Start, StartInfo, Unknown,
)
from server.voice.conversation import MEMORY_UNAVAILABLE, ConversationEngine
from server.voice.events import (
    ConversationError,
    ConversationEvent,
    ConversationOptions,
    ReplyAudio,
    ReplyInterrupted,
    ReplyMark,
)

log = logging.getLogger(__name__)

SendFrame = Callable[[str], Awaitable[None]]
KEYPAD_NOTE = "[The caller pressed {digit} on the keypad]"
KEYPAD_PAUSE_S = 1.5
ANSWER_NOW_KEY = "#"
_OPTIONS = ConversationOptions(TWILIO_FORMAT, TurnSettings(), TWILIO_OUTPUT, interruptions=InterruptionSettings(), echo=EchoSettings())


class CallRefused(Exception):
    """The stream may not go on (bad token, unknown agent, wrong audio format); closed with `code` and the message."""

    def __init__(self, reason: str, code: CloseCode = CloseCode.POLICY_VIOLATION) -> None:
        super().__init__(reason)
        self.code = code


@dataclass
class TwilioCall:
    """Maps one call: Twilio messages in (`handle_frame`), Twilio messages out (`send_frame`)."""

    services: VoiceServices
    caller_tokens: CallerTokens
    send_frame: SendFrame
    stream: MediaStream = field(default_factory=MediaStream, init=False)
    _engine: ConversationEngine | None = field(default=None, init=False)

    @property
    def ended(self) -> bool:
        """Twilio sent `stop`: the call is over."""
        return self.stream.stopped

    @property
    def engine(self) -> ConversationEngine:
        """The accepted call's conversation engine (the stream guarantees `start` came first)."""
        if self._engine is None:
            raise RuntimeError("the call has not started")
        return self._engine

    async def handle_frame(self, frame: str | bytes) -> None:
        """Handle one frame from Twilio; raises ProtocolViolation or CallRefused when the stream must close."""
        message = self.stream.receive(frame)
        try:
            await self._handle(message)
        except OUTAGE_ERRORS as exc:
            if self._engine is None:
                raise  # the call cannot start (`serve_call` closes it 1013)
            log.warning("call %s: a %s event was not applied: %s (%s)", self._call_sid(), type(message).__name__, MEMORY_UNAVAILABLE, exc)

    async def _handle(self, message: InboundMessage | Unknown) -> None:
        match message:
            case Media() if message.media.track == "inbound":
                await self.engine.append_audio(message.media.payload)
            case Start():
                await self._start(message.start)
            case Dtmf():
                await self._key_pressed(message.dtmf.digit)
            case Mark():
                self.engine.confirm_played(message.mark.name)
            case Unknown():
                log.debug("ignoring Twilio event %r", message.event)

    async def _start(self, info: StartInfo) -> None:
        params = info.custom_parameters
        owner = self.services.keys.owner_of(params.get("token"))
        if owner is None:
            raise CallRefused("missing or invalid token: customParameters.token must be one of the server's API keys")
        media = info.media_format
        if (media.encoding, media.sample_rate, media.channels) != (MULAW_ENCODING, MULAW_RATE, 1):
            raise CallRefused(f"unsupported media format {media.encoding} {media.sample_rate} Hz x{media.channels}: "
                              f"{MULAW_ENCODING} {MULAW_RATE} Hz mono expected")
        record = await self.services.agents.resolve(owner, params.get("agent"))
        if record is None:
            raise CallRefused(f"unknown agent {params.get('agent')!r}")
        if self.services.speech is None:
            raise CallRefused("this server runs without speech models (CONFAB_SPEECH=false): use text", CloseCode.INTERNAL_ERROR)
        caller = self.caller_tokens.vouched_caller(params.get("caller_token"), owner, record.id, info.call_sid)
        conversation = await self.services.conversations.open(record, caller)
        self._engine = ConversationEngine(
            self.services.voice_agent(record, conversation), self.services.speech, _OPTIONS, self._on_event,
            claim=functools.partial(self.services.responses.acquire, conversation),
        )
        log.info("call %s (stream %s) connected to agent %s of %s", info.call_sid, info.stream_sid, record.name, owner)

    async def _key_pressed(self, digit: str) -> None:
        """A key interrupts the agent like speech; the note is stored at once, the answer waits for a pause."""
        await self.engine.interrupt("turn_detected")
        await self.engine.add_user_text(KEYPAD_NOTE.format(digit=digit), hidden=True)
        self.engine.respond_after(0.0 if digit == ANSWER_NOW_KEY else KEYPAD_PAUSE_S)

    async def _on_event(self, event: ConversationEvent) -> None:
        match event:
            case ReplyAudio():
                await self.send_frame(self.stream.media(event.audio))
            case ReplyMark():
                await self.send_frame(self.stream.mark(event.mark))
            case ReplyInterrupted():
                await self.send_frame(self.stream.clear())
            case ConversationError():
                log.warning("call %s: %s (%s); the caller hears an apology", self._call_sid(), event.message, event.code)

    def _call_sid(self) -> str:
        return self.stream.info.call_sid if self.stream.info is not None else "?"

    async def close(self) -> None:
        """The call ended (stop, hang-up or refusal): stop listening; a reply keeps only what was played."""
        if self._engine is None:
            return
        await self._engine.close()
        log.info("call %s ended", self._call_sid())
