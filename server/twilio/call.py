"""One phone call over a Twilio Media Stream: the caller's audio in, the agent's spoken answers out.

The caller's mu-law audio goes to a `Listener` (server VAD, speculative STT); each
finished utterance is persisted and answered by the agent through a `SpokenReply`
(paced 20 ms frames, a `mark` after each chunk). When the caller speaks or presses a
key while the agent talks, Twilio is told to `clear` its buffered audio, the answer is
cancelled and its history keeps only what Twilio confirmed played (the echoed marks).
Key presses reach the agent as hidden notes; the agent answers once the caller paused
on the keypad (or at once on `#`). The socket is not here: frames come in through
`handle_frame` and leave through `send_frame`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from websockets.frames import CloseCode

from agent.events import TurnFailed
from agent.voice_agent import VoiceAgent
from audio.turns import TurnSettings
from server.runtime import Runtime
from server.twilio.caller_token import caller_tokens
from server.twilio.playback import TWILIO_FORMAT, SpokenReply
from server.twilio.protocol import MULAW_ENCODING, MULAW_RATE, Dtmf, Mark, Media, MediaStream, Start, StartInfo, Unknown
from server.voice.listener import Listener, ListenerEvent, Transcribed, VoiceStarted, VoiceStopped
from server.voice.models import SpeechModels
from server.voice.reply import stream_reply

log = logging.getLogger(__name__)

SendFrame = Callable[[str], Awaitable[None]]
KEYPAD_NOTE = "[The caller pressed {digit} on the keypad]"
KEYPAD_PAUSE_S = 1.5
ANSWER_NOW_KEY = "#"


class CallRefused(Exception):
    """The stream may not go on (bad token, unknown agent, wrong audio format); closed with `code` and the message."""

    def __init__(self, reason: str, code: CloseCode = CloseCode.POLICY_VIOLATION) -> None:
        super().__init__(reason)
        self.code = code


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@dataclass
class _Line:
    """What a call has once its `start` was accepted."""

    agent: VoiceAgent
    speech: SpeechModels
    listener: Listener


@dataclass
class TwilioCall:
    """Drives one call: Twilio messages in (`handle_frame`), Twilio messages out (`send_frame`)."""

    runtime: Runtime
    send_frame: SendFrame
    stream: MediaStream = field(default_factory=MediaStream, init=False)
    _line: _Line | None = field(default=None, init=False)
    _reply: SpokenReply | None = field(default=None, init=False)
    _keypad_answer: asyncio.Task[None] | None = field(default=None, init=False)
    _caller_speaking: bool = field(default=False, init=False)

    @property
    def ended(self) -> bool:
        """Twilio sent `stop`: the call is over."""
        return self.stream.stopped

    @property
    def line(self) -> _Line:
        """The accepted call's agent, speech models and listener (the stream guarantees `start` came first)."""
        if self._line is None:
            raise RuntimeError("the call has not started")
        return self._line

    async def handle_frame(self, frame: str | bytes) -> None:
        """Handle one frame from Twilio; raises ProtocolViolation or CallRefused when the stream must close."""
        message = self.stream.receive(frame)
        match message:
            case Media() if message.media.track == "inbound":
                await self.line.listener.append(message.media.payload)
            case Start():
                await self._start(message.start)
            case Dtmf():
                await self._key_pressed(message.dtmf.digit)
            case Mark() if self._reply is not None:
                self._reply.mark_played(message.mark.name)
            case Unknown():
                log.debug("ignoring Twilio event %r", message.event)

    async def _start(self, info: StartInfo) -> None:
        params = info.custom_parameters
        owner = self.runtime.keys.owner_of(params.get("token"))
        if owner is None:
            raise CallRefused("missing or invalid token: customParameters.token must be one of the server's API keys")
        media = info.media_format
        if (media.encoding, media.sample_rate, media.channels) != (MULAW_ENCODING, MULAW_RATE, 1):
            raise CallRefused(f"unsupported media format {media.encoding} {media.sample_rate} Hz x{media.channels}: "
                              f"{MULAW_ENCODING} {MULAW_RATE} Hz mono expected")
        record = await self.runtime.agents.resolve(owner, params.get("agent"))
        if record is None:
            raise CallRefused(f"unknown agent {params.get('agent')!r}")
        try:
            speech = self.runtime.require_speech()
        except RuntimeError as exc:
            raise CallRefused(str(exc), CloseCode.INTERNAL_ERROR) from None
        listener = Listener(speech, TWILIO_FORMAT, TurnSettings(), self._on_voice, lambda: _new_id("utt"))
        tokens = await caller_tokens(self.runtime.redis, self.runtime.settings.caller_token_secret)
        caller = tokens.vouched_caller(params.get("caller_token"), owner, record.id, info.call_sid)
        conversation = await self.runtime.memory.conversations.open(record, caller)
        self._line = _Line(self.runtime.voice_agent(record, conversation), speech, listener)
        log.info("call %s (stream %s) connected to agent %s of %s", info.call_sid, info.stream_sid, record.name, owner)

    # -- the caller ----------------------------------------------------------------------------

    async def _on_voice(self, event: ListenerEvent) -> None:
        match event:
            case VoiceStarted():
                self._caller_speaking = True
                self._cancel_keypad_answer()
                await self._interrupt()
            case VoiceStopped():
                self._caller_speaking = False
            case Transcribed() if event.text:
                await self.line.agent.add_user_message(event.text)
                if event.respond:
                    self._answer()

    async def _key_pressed(self, digit: str) -> None:
        """A key interrupts the agent like speech; the note is persisted at once, the answer waits for a pause."""
        await self._interrupt()
        await self.line.agent.add_user_message(KEYPAD_NOTE.format(digit=digit), hidden=True)
        self._cancel_keypad_answer()
        delay = 0.0 if digit == ANSWER_NOW_KEY else KEYPAD_PAUSE_S
        self._keypad_answer = asyncio.create_task(self._answer_keys_after(delay), name="keypad answer")

    async def _answer_keys_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if not self._caller_speaking:  # else the utterance's own answer will see the notes
            self._answer()

    def _cancel_keypad_answer(self) -> None:
        if self._keypad_answer is not None:
            self._keypad_answer.cancel()
            self._keypad_answer = None

    # -- the agent -----------------------------------------------------------------------------

    def _answer(self) -> None:
        """Start answering what is in the context, unless an answer is being generated already.

        The tail of a finished answer that Twilio is still playing stays whole in history:
        the new answer's audio queues behind it.
        """
        if self._reply is not None and self._reply.generating:
            return
        reply = SpokenReply(_new_id("resp"), self.line.speech, self._send_media, self._send_mark)
        reply.task = asyncio.create_task(self._speak(reply), name=f"answer {reply.response_id}")
        self._reply = reply

    async def _speak(self, reply: SpokenReply) -> None:
        try:
            await stream_reply(self.line.agent, reply.response_id, reply, self._model_failed)
            await reply.speaker.drain()
        except Exception:  # a bug must end this answer, not the call
            log.exception("answer %s failed", reply.response_id)
            await reply.speaker.stop()

    async def _model_failed(self, event: TurnFailed) -> None:
        log.warning("call %s: the model failed (%s): %s; the caller hears an apology", self._call_sid(), event.code, event.message)

    async def _interrupt(self) -> None:
        """Barge-in: silence the agent now, drop Twilio's buffered audio, keep only what was played."""
        reply = self._reply
        if reply is None or not reply.audible:
            return
        self._reply = None
        reply.speaker.mute()
        await self.send_frame(self.stream.clear())
        await asyncio.shield(self._end(reply))  # a hang-up that stops the listener mid-barge-in must not skip the cut

    async def _end(self, reply: SpokenReply) -> None:
        """Cancel an answer and cut its history to the played position."""
        if reply.task is not None:
            reply.task.cancel()
            await asyncio.gather(reply.task, return_exceptions=True)
        await reply.speaker.stop()
        await self.line.agent.truncate_response(reply.response_id, reply.heard())

    async def _send_media(self, audio: bytes) -> None:
        await self.send_frame(self.stream.media(audio))

    async def _send_mark(self, name: str) -> None:
        await self.send_frame(self.stream.mark(name))

    def _call_sid(self) -> str:
        return self.stream.info.call_sid if self.stream.info is not None else "?"

    async def close(self) -> None:
        """The call ended (stop, hang-up or refusal): stop listening; an answer keeps only what was played."""
        self._cancel_keypad_answer()
        if self._line is None:
            return
        await self._line.listener.close()
        reply, self._reply = self._reply, None
        if reply is not None and reply.audible:
            await self._end(reply)
        log.info("call %s ended", self._call_sid())
