"""One live conversation, whatever the wire: listening, the reply in flight, barge-in and what was heard.

A front end (Realtime, Twilio) turns its frames into commands (`append_audio`,
`respond`, `interrupt`, `truncate`, ...) and the typed events this engine emits into
its frames; it knows nothing of turn-taking. The engine owns, for one connection:

- the listener, whose events it reads on its own task, so handling one (a barge-in's
  Redis writes) never holds up the audio intake;
- at most one reply in flight (`ReplyHandle`), its state kept by the one table
  `REPLY_TRANSITIONS`;
- barge-in, cancellation and truncation: an interrupted reply keeps in history only
  what its audio output says was played (`server.voice.playout`);
- every task it starts, in one `TaskSet` that `close()` ends within a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from agent.events import AgentEvent, ClientToolCall, ModelUsage, TextDelta, ToolStarted, TurnDone, TurnFailed
from agent.prompts import CALLER_SILENT
from audio.endpointing import Endpointer, EndpointEvent, TurnEnded, TurnHeld
from audio.interruption import Ignore, Interrupt, Pause, Resume
from audio.turns import WindowScorer
from memory.records import MessageRecord
from memory.redis_client import OUTAGE_ERRORS
from memory.response_lock import ConversationBusyError
from server.ids import new_id
from server.metrics import RESPONSES, observe_turn
from server.voice import listener as heard
from server.voice.events import (
    CancelReason,
    ConversationError,
    ConversationOptions,
    Emit,
    EmptyAudioBuffer,
    IdleTimeout,
    ReplyAudio,
    ReplyDone,
    ReplyFailure,
    ReplyInProgress,
    ReplyInterrupted,
    ReplyMark,
    ReplyStarted,
    ReplyStatus,
    ReplyText,
    ReplyToolCall,
    SpeechStarted,
    SpeechStopped,
    SpeechUnavailable,
    Transcribed,
    TurnTimings,
)
from server.voice.listener import Listener
from server.voice.models import SpeechModels
from server.voice.playout import EchoedMarks, PacingEstimate, Playout
from server.voice.speaker import Speaker, heard_text
from server.voice.tasks import TaskSet, cancel_and_wait

log = logging.getLogger(__name__)

CLOSE_DEADLINE_S = 5.0
LOST_WORDS_APOLOGY = "Sorry, I could not hear that. Could you say it again?"
MEMORY_UNAVAILABLE = "the conversation memory (Redis) is unreachable"
_SPOKEN_REPLIES_KEPT = 8  # recent spoken replies a client may still truncate


def _ms(monotonic_s: float) -> int:
    """A monotonic time as the endpointer's millisecond position."""
    return int(monotonic_s * 1000)


# -- the reply state machine -------------------------------------------------------------------


class ReplyState(Enum):
    """Where the conversation's one reply slot is."""

    IDLE = "idle"  # no reply in flight
    GENERATING = "generating"  # the model writes and the speaker speaks
    PLAYING = "playing"  # all sent; the output has not yet confirmed that all of it played
    ENDING = "ending"  # interrupted: stopping and keeping what was heard


class ReplyInput(Enum):
    """What happens to the reply slot."""

    START = "start"
    GENERATED = "generated"
    PLAYED = "played"
    INTERRUPT = "interrupt"
    ENDED = "ended"


REPLY_TRANSITIONS: Mapping[tuple[ReplyState, ReplyInput], ReplyState] = {
    (ReplyState.IDLE, ReplyInput.START): ReplyState.GENERATING,
    # the tail of a finished reply still playing stays whole in history; the new one plays after it
    (ReplyState.PLAYING, ReplyInput.START): ReplyState.GENERATING,
    (ReplyState.GENERATING, ReplyInput.GENERATED): ReplyState.PLAYING,
    (ReplyState.PLAYING, ReplyInput.PLAYED): ReplyState.IDLE,
    (ReplyState.GENERATING, ReplyInput.INTERRUPT): ReplyState.ENDING,
    (ReplyState.PLAYING, ReplyInput.INTERRUPT): ReplyState.ENDING,
    (ReplyState.ENDING, ReplyInput.ENDED): ReplyState.IDLE,
}


@dataclass
class ReplyHandle:
    """The reply in flight: its task, its speaker and played position (spoken replies), and how to stop it."""

    reply_id: str
    speaker: Speaker | None
    playout: Playout | None
    cause: heard.Transcribed | None  # the utterance it answers, for the turn's timings
    script: str | None = None  # said as is, without the agent (an apology when the caller's words were lost)
    task: asyncio.Task[None] | None = None
    sending: asyncio.Task[None] | None = None
    ending: asyncio.Task[None] | None = None
    muted: bool = False
    playing: asyncio.Event = field(default_factory=asyncio.Event)  # clear while paused (the caller made a sound)
    interrupted: bool = False
    finished: bool = False  # its ReplyDone went out
    lease: ReplyLease | None = None
    first_token_at: float | None = None
    first_byte_at: float | None = None
    usage: list[ModelUsage] = field(default_factory=list)  # one per model call
    agent: ConversationAgent | None = None  # answers this reply instead of the engine's agent
    awaits_client: bool = False  # it handed tool calls to the client, whose results come next

    def played_ms(self) -> float:
        """How much of the reply's audio the caller has heard."""
        return self.playout.played_ms() if self.playout is not None else 0.0

    def heard(self) -> str | None:
        """The reply's text up to the played position (None for a text reply: all of it arrived)."""
        return heard_text(self.speaker.segments, self.played_ms()) if self.speaker is not None else None

    def __post_init__(self) -> None:
        self.playing.set()

    def mute(self) -> None:
        """No frame of this reply leaves after this call."""
        self.muted = True
        if self.sending is not None:
            self.sending.cancel()

    async def interrupt(self) -> str | None:
        """Silence the reply now and stop generating it; returns what the caller heard of it."""
        self.mute()
        if self.task is not None:
            if self.finished:  # only its closing events are still going out: let them
                await asyncio.wait({self.task})
            else:
                await cancel_and_wait(self.task)
        if self.speaker is not None:
            await self.speaker.stop()
        return self.heard()


class ReplyLease(Protocol):
    """A reply's hold on its stored conversation (`memory.response_lock.ResponseLease`)."""

    async def release(self) -> None:
        """Let the conversation's next reply start."""


ClaimReply = Callable[[str], Awaitable[ReplyLease]]
"""Claims the stored conversation for one reply id; raises `ConversationBusyError` while another
reply of it runs (another connection of the same caller)."""


class ConversationAgent(Protocol):
    """What the engine needs of the agent (`agent.voice_agent.VoiceAgent`)."""

    async def add_user_message(self, text: str, hidden: bool = False) -> MessageRecord:
        """Store what the caller said."""

    async def truncate_response(self, response_id: str, heard: str) -> None:
        """Keep in history only `heard` of a reply."""

    def step_stream(self, response_id: str | None = None) -> AsyncGenerator[AgentEvent, None]:
        """Answer what is in the context."""


# -- the engine --------------------------------------------------------------------------------


@dataclass
class ConversationEngine:
    """One live conversation between a caller and `agent`; events go to `emit`, in order.

    `scorer` replaces the Silero VAD (tests script speech with it); `claim` keeps replies of one
    stored conversation from running at once across connections.
    """

    agent: ConversationAgent
    speech: SpeechModels | None
    options: ConversationOptions
    emit: Emit
    scorer: WindowScorer | None = None
    claim: ClaimReply | None = None
    _tasks: TaskSet = field(default_factory=lambda: TaskSet("conversation"), init=False)
    _listener: Listener | None = field(default=None, init=False)
    _intake: asyncio.Task[None] | None = field(default=None, init=False)
    _state: ReplyState = field(default=ReplyState.IDLE, init=False)
    _reply: ReplyHandle | None = field(default=None, init=False)
    _spoken: OrderedDict[str, Speaker] = field(default_factory=OrderedDict, init=False)
    _caller_speaking: bool = field(default=False, init=False)
    _deferred: asyncio.Task[None] | None = field(default=None, init=False)
    _endpointer: Endpointer = field(default_factory=Endpointer, init=False)
    _turn_deadline: asyncio.Task[None] | None = field(default=None, init=False)  # ends a held turn
    _idle: asyncio.Task[None] | None = field(default=None, init=False)  # prompts the caller after a silence
    _held_cause: heard.Transcribed | None = field(default=None, init=False)  # the held turn's last utterance
    _undecided: dict[str, list[heard.ListenerEvent]] = field(default_factory=dict, init=False)  # utterances over a reply
    _dismissed: dict[str, list[heard.ListenerEvent]] = field(default_factory=dict, init=False)  # backchannels, noise:
    # kept until transcribed, as a late transcript with other words still makes them an interruption

    # -- state --

    @property
    def state(self) -> ReplyState:
        """Where the reply slot is."""
        return self._state

    @property
    def generating(self) -> bool:
        """A reply is being generated or ended: another cannot start yet."""
        return self._state in (ReplyState.GENERATING, ReplyState.ENDING)

    def _can(self, event: ReplyInput) -> bool:
        return (self._state, event) in REPLY_TRANSITIONS

    def _advance(self, event: ReplyInput) -> None:
        reply = self._reply
        try:
            self._state = REPLY_TRANSITIONS[self._state, event]
        except KeyError:
            raise RuntimeError(f"reply state {self._state.value} does not allow {event.value}") from None
        if self._state is ReplyState.IDLE:
            self._reply = None
        if event is ReplyInput.PLAYED:
            self._arm_idle_timeout(reply)
        if self._state in (ReplyState.IDLE, ReplyState.ENDING) and self._listener is not None:
            self._listener.unwatch()

    # -- commands: audio in --

    def configure(self, options: ConversationOptions) -> None:
        """Change what is heard and said; raises FormatLocked while an utterance is open."""
        if self._listener is not None:
            self._listener.configure(options.input_format, options.turn_settings)
            self._listener.hints = options.transcription
        self.options = options

    def _speech(self) -> SpeechModels:
        if self.speech is None:
            raise SpeechUnavailable("this server runs without speech models (CONFAB_SPEECH=false): use text")
        return self.speech

    def _ensure_listener(self) -> Listener:
        if self._listener is None:
            self._listener = Listener(self._speech(), self.options.input_format, self.options.turn_settings, self.scorer,
                                      self.options.echo, self.options.transcription)
            self._intake = self._tasks.spawn(self._hear(self._listener), "intake")
            if self._reply is not None and self._reply.speaker is not None and self._can(ReplyInput.INTERRUPT):
                # the first sound can come during a spoken reply nobody's words asked for (a key press, response.create)
                self._listener.watch(self.options.interruptions if self.options.barge_in else None)
        return self._listener

    async def append_audio(self, data: bytes) -> float:
        """Hear caller audio; returns how many seconds it runs ahead of real time.

        Raises SpeechUnavailable, ValueError on bytes that are not whole samples, and
        InputBufferFull when push-to-talk audio goes uncommitted for too long.
        """
        return await self._ensure_listener().append(data)

    async def commit_audio(self) -> None:
        """Push-to-talk: the caller finished; raises EmptyAudioBuffer when nothing is buffered."""
        if self._listener is None or self._listener.idle:
            raise EmptyAudioBuffer("the input audio buffer is empty")
        await self._listener.commit()

    async def clear_audio(self) -> None:
        """Drop buffered caller audio and any open utterance."""
        if self._listener is not None:
            await self._listener.clear()

    # -- commands: the conversation --

    async def add_user_text(self, text: str, hidden: bool = False) -> MessageRecord:
        """Store something the caller wrote (or a hidden note about what they did): the caller is not idle."""
        self._cancel_idle_timeout()
        return await self.agent.add_user_message(text, hidden)

    async def respond(self, spoken: bool | None = None, agent: ConversationAgent | None = None) -> str:
        """Start a reply to what is in the context and return its id; spoken unless the options say text.

        `agent` answers this reply only (a client's per-response instructions or limits) instead of `self.agent`.
        Raises ReplyInProgress while one is generated, SpeechUnavailable for speech on a text-only server.
        """
        if not self._can(ReplyInput.START):
            raise ReplyInProgress(self._reply.reply_id if self._reply is not None else "?")
        return await self._start(self.options.output is not None if spoken is None else spoken, None, agent=agent)

    def respond_after(self, delay_s: float) -> None:
        """Reply once `delay_s` passed without the caller speaking (replaces an earlier such request)."""
        self._cancel_deferred()
        self._deferred = self._tasks.spawn(self._respond_later(delay_s), "deferred reply")

    async def interrupt(self, reason: CancelReason = "client_cancelled") -> bool:
        """End the reply in flight now, keeping what was heard; False when there is none to end."""
        reply = self._reply
        if reply is None or not self._can(ReplyInput.INTERRUPT):
            return False
        await self._interrupt(reply, reason)
        return True

    async def truncate(self, reply_id: str, audio_end_ms: float) -> str:
        """The client played `reply_id` only up to `audio_end_ms`: history keeps that much; returns it.

        Raises LookupError for a reply that is not a recent spoken one, ValueError past what was sent.
        """
        speaker = self._spoken.get(reply_id)
        if speaker is None:
            raise LookupError(reply_id)
        if audio_end_ms > speaker.sent_ms + 1:
            raise ValueError(f"audio_end_ms {audio_end_ms} is past the {speaker.sent_ms:.0f} ms of audio sent")
        text = heard_text(speaker.segments, audio_end_ms)
        await self.agent.truncate_response(reply_id, text)
        return text

    def confirm_played(self, mark: str) -> None:
        """The output echoed `mark`: the reply in flight has played up to it.

        Marks echoed once the reply was interrupted are ignored: an output that drops its
        buffered audio (Twilio's `clear`) echoes the marks of audio that never played.
        """
        reply = self._reply
        if self._state is ReplyState.ENDING or reply is None or reply.playout is None or not reply.playout.confirm(mark):
            return
        if self._state is ReplyState.PLAYING and not reply.playout.unconfirmed:
            self._advance(ReplyInput.PLAYED)

    async def close(self) -> None:
        """The connection ended: stop listening; a reply in flight ends keeping what was heard; every task ends."""
        self._cancel_deferred()
        self._cancel_idle_timeout()
        if self._intake is not None:
            await cancel_and_wait(self._intake)
        if self._listener is not None:
            await self._listener.close()
        reply = self._reply
        if reply is not None and self._can(ReplyInput.INTERRUPT):
            await self._interrupt(reply, "client_cancelled")
        elif reply is not None and reply.ending is not None:
            await asyncio.wait({reply.ending}, timeout=CLOSE_DEADLINE_S)
        self._cancel_turn_deadline()
        for ended in self._endpointer.close(_ms(time.monotonic())):  # words held for the rest of their turn: kept, unanswered
            try:
                await self.agent.add_user_message(ended.text)
            except OUTAGE_ERRORS as exc:
                log.warning("words held at hang-up not stored: %s (%s)", MEMORY_UNAVAILABLE, exc)
        await self._tasks.close(CLOSE_DEADLINE_S)
        self._spoken.clear()

    # -- the caller --

    async def _hear(self, listener: Listener) -> None:
        while True:
            event = await listener.events.get()
            try:
                await self._heard(event)
            except OUTAGE_ERRORS as exc:
                log.warning("handling %s: %s (%s)", type(event).__name__, MEMORY_UNAVAILABLE, exc)
            except Exception:  # a bug in one event must not stop the listening
                log.exception("handling %s failed", type(event).__name__)
            finally:
                listener.events.task_done()
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # third-party code swallowed the cancellation: stop all the same
                raise asyncio.CancelledError

    async def _heard(self, event: heard.ListenerEvent) -> None:
        item_id = getattr(event, "item_id", None)
        if item_id in self._dismissed:  # a backchannel or noise: neither shown, stored nor answered
            if isinstance(event, heard.Transcribed):
                del self._dismissed[item_id]
            else:
                self._dismissed[item_id].append(event)
            return
        if item_id in self._undecided:
            self._undecided[item_id].append(event)
            return
        match event:
            case heard.VoiceStarted() if self._classifying():
                self._cancel_deferred()
                self._undecided[event.item_id] = [event]
            case heard.Interruption():
                await self._decided(event.decision)
            case _:
                await self._heard_now(event)

    def _classifying(self) -> bool:
        """Speech over the reply in flight goes through the interruption classifier."""
        reply = self._reply
        return (self.options.interruptions is not None and self.options.barge_in and reply is not None
                and reply.speaker is not None and self._can(ReplyInput.INTERRUPT))

    async def _decided(self, decision: Pause | Resume | Ignore | Interrupt) -> None:
        """The classifier's word on the caller's sound: hold, go on with, or end the reply."""
        reply = self._reply
        match decision:
            case Pause():
                if reply is not None:
                    reply.playing.clear()
            case Resume() | Ignore():
                if reply is not None:
                    reply.playing.set()
                self._dismissed.update(self._undecided)
                self._undecided.clear()
            case Interrupt():
                log.info("the caller's speech over the reply is an interruption (%s)", decision.reason.value)
                undecided = self._dismissed | self._undecided
                self._dismissed, self._undecided = {}, {}
                if not undecided and reply is not None and self.options.barge_in and self._can(ReplyInput.INTERRUPT):
                    await self._interrupt(reply, "turn_detected")
                for events in undecided.values():  # the first, VoiceStarted, barges in
                    for event in events:
                        await self._heard_now(event)

    async def _heard_now(self, event: heard.ListenerEvent) -> None:
        match event:
            case heard.VoiceStarted():
                self._caller_speaking = True
                self._cancel_deferred()
                self._cancel_idle_timeout()
                self._cancel_turn_deadline()
                self._endpointer.speech_started()
                reply = self._reply if self.options.barge_in and self._can(ReplyInput.INTERRUPT) else None
                if reply is not None:
                    reply.mute()
                await self.emit(SpeechStarted(event.item_id, event.audio_start_ms))
                if reply is not None:
                    await self._interrupt(reply, "turn_detected")
            case heard.VoiceStopped():
                self._caller_speaking = False
                if self.options.endpointing is not None and not event.cut:  # a cut monologue goes on at once
                    self._endpointer.speech_stopped(event.item_id)
                await self.emit(SpeechStopped(event.item_id, event.audio_end_ms))
            case heard.Transcribed():
                await self.emit(Transcribed(event.item_id, event.text, event.audio_s, event.error))
                if event.error is not None:
                    await self._apologise(ConversationError(event.error, "speech_unavailable"), event)
                if self.options.endpointing is not None and event.respond:
                    self._endpointer.settings = self.options.endpointing
                    ended = self._endpointer.utterance(event.text, _ms(event.speech_end), _ms(time.monotonic()), event.item_id)
                    await self._end_of_turn(ended, event)
                    return
                if not event.text or not await self._store_heard(event.text, event):
                    return
                if event.respond and self.options.auto_respond and self._can(ReplyInput.START):
                    await self._start_unasked(event)

    async def _end_of_turn(self, events: list[EndpointEvent], cause: heard.Transcribed | None) -> None:
        """Semantic end of turn: answer a finished turn (every utterance of it as one message), or wait for more."""
        for event in events:
            match event:
                case TurnHeld():
                    self._held_cause = cause
                    self._cancel_turn_deadline()
                    self._turn_deadline = self._tasks.spawn(self._hold_turn(event.until_ms), "held turn")
                case TurnEnded():
                    if not await self._store_heard(event.text, cause):
                        continue
                    if self.options.auto_respond and self._can(ReplyInput.START):
                        await self._start_unasked(cause)

    async def _store_heard(self, text: str, cause: heard.Transcribed | None) -> bool:
        """Store what the caller said; False when it is not to be answered: the conversation keeps nothing
        (a transcription session), or memory stayed unreachable (the caller was told and asked again)."""
        if not self.options.remember:
            return False
        try:
            await self.agent.add_user_message(text)
        except OUTAGE_ERRORS as exc:
            log.warning("the caller's words were not stored: %s (%s)", MEMORY_UNAVAILABLE, exc)
            await self._apologise(ConversationError(f"{MEMORY_UNAVAILABLE}: what the caller said was not stored; "
                                                    "they were asked to say it again", "memory_unavailable"), cause)
            return False
        return True

    async def _apologise(self, error: ConversationError, cause: heard.Transcribed | None) -> None:
        """The caller's words were lost: say why, and in a spoken conversation ask them to say it again."""
        await self.emit(error)
        if self.options.output is not None and self._can(ReplyInput.START):
            await self._start_unasked(cause, script=LOST_WORDS_APOLOGY)

    async def _hold_turn(self, until_ms: int) -> None:
        await asyncio.sleep(max(until_ms - _ms(time.monotonic()), 0) / 1000)
        self._turn_deadline = None  # from here the turn ends even if the caller speaks now
        await self._end_of_turn(self._endpointer.tick(until_ms), self._held_cause)

    def _cancel_turn_deadline(self) -> None:
        if self._turn_deadline is not None:
            self._turn_deadline.cancel()
            self._turn_deadline = None

    async def _settled(self) -> None:
        """Wait until every utterance committed so far is transcribed and stored."""
        if self._listener is not None:
            await self._listener.settled()
            await self._listener.events.join()

    def _cancel_deferred(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None

    def _arm_idle_timeout(self, reply: ReplyHandle | None) -> None:
        """A reply finished: with server VAD and an idle timeout, count the caller's silence from the end of its audio."""
        self._cancel_idle_timeout()
        timeout_ms = self.options.idle_timeout_ms
        if timeout_ms is not None and self.options.turn_settings is not None and not (reply is not None and reply.awaits_client):
            playing_ms = reply.speaker.sent_ms - reply.played_ms() if reply is not None and reply.speaker is not None else 0.0
            self._idle = self._tasks.spawn(self._idle_after(playing_ms, timeout_ms), "idle timeout")

    def _cancel_idle_timeout(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _heard_ms(self) -> int:
        return self._listener.position_ms if self._listener is not None else 0

    async def _idle_after(self, playing_ms: float, timeout_ms: int) -> None:
        """Commit an empty user turn (a hidden note the model reads) and answer it, as OpenAI's idle timeout does."""
        await asyncio.sleep(playing_ms / 1000)
        start_ms = self._heard_ms()
        await asyncio.sleep(timeout_ms / 1000)
        self._idle = None
        if self._caller_speaking or not self._can(ReplyInput.START):
            return
        end_ms = self._heard_ms()
        await self.emit(IdleTimeout(new_id("item"), start_ms, end_ms))
        await self.agent.add_user_message(CALLER_SILENT.format(seconds=timeout_ms / 1000), hidden=True)
        await self._start_unasked(None)

    async def _respond_later(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        if not self._caller_speaking and self._can(ReplyInput.START):  # else the utterance's own reply follows
            await self._start_unasked(None)

    # -- the reply --

    async def _start_unasked(self, cause: heard.Transcribed | None, script: str | None = None) -> None:
        """A reply nobody asked for by command (end of an utterance, a timer): a busy conversation is an error event."""
        try:
            await self._start(self.options.output is not None, cause, script)
        except ReplyInProgress as exc:
            await self.emit(ConversationError(f"conversation already has an active response in progress: {exc}",
                                              "conversation_already_has_active_response"))
        except OUTAGE_ERRORS as exc:  # the conversation's lease could not be taken
            log.warning("reply not started: %s (%s)", MEMORY_UNAVAILABLE, exc)
            await self.emit(ConversationError(f"{MEMORY_UNAVAILABLE}: the response could not start", "memory_unavailable"))

    async def _claim(self, reply_id: str) -> ReplyLease | None:
        if self.claim is None:
            return None
        try:
            return await self.claim(reply_id)
        except ConversationBusyError as exc:
            raise ReplyInProgress(exc.running) from None

    async def _start(self, spoken: bool, cause: heard.Transcribed | None, script: str | None = None,
                     agent: ConversationAgent | None = None) -> str:
        reply_id = new_id("resp")
        lease = await self._claim(reply_id) if script is None else None  # a script stores nothing: it needs no Redis
        self._cancel_idle_timeout()
        speaker: Speaker | None = None
        playout: Playout | None = None
        output = self.options.output
        if spoken:
            if output is None:
                raise SpeechUnavailable("this conversation has no audio output")
            speaker = Speaker(self._speech(), output.format, output.pacing, output.speed)
            playout = EchoedMarks(reply_id) if output.marks else PacingEstimate(speaker)
        reply = ReplyHandle(reply_id, speaker, playout, cause, script, lease=lease, agent=agent)
        self._advance(ReplyInput.START)
        self._reply = reply
        if speaker is not None and self._listener is not None:
            self._listener.watch(self.options.interruptions if self.options.barge_in else None)
        await self.emit(ReplyStarted(reply_id, spoken))
        if self._reply is reply and self._state is ReplyState.GENERATING:
            reply.task = self._tasks.spawn(self._run(reply), f"reply {reply_id}")
        elif lease is not None:
            await lease.release()
        return reply_id

    async def _run(self, reply: ReplyHandle) -> None:
        failure: ReplyFailure | None = None
        try:
            status, failure = await self._generate(reply)
        except OUTAGE_ERRORS as exc:
            log.warning("reply %s failed: %s (%s)", reply.reply_id, MEMORY_UNAVAILABLE, exc)
            status, failure = "failed", ReplyFailure("memory_unavailable", "server_error")
            await self.emit(ConversationError(f"{MEMORY_UNAVAILABLE}: the response could not be completed", "memory_unavailable"))
        except Exception:  # a bug must end this reply cleanly, not the conversation
            log.exception("reply %s crashed", reply.reply_id)
            status, failure = "failed", ReplyFailure("server_error", "server_error")
            await self.emit(ConversationError("the response failed because of a server error", "server_error"))
        finally:
            if reply.lease is not None:
                await reply.lease.release()
        if reply.interrupted:  # the cancellation was swallowed on the way (third-party code): it still ended cancelled
            return
        reply.finished = True
        if self._reply is reply and self._state is ReplyState.GENERATING:  # free the slot before saying so
            self._advance(ReplyInput.GENERATED)
            if reply.playout is None or not reply.playout.unconfirmed:
                self._advance(ReplyInput.PLAYED)
        await self.emit(self._done(reply, status, None, None, failure))

    async def _generate(self, reply: ReplyHandle) -> tuple[ReplyStatus, ReplyFailure | None]:
        """Say the agent's answer (or the reply's script); then, for speech, wait until it was all sent."""
        await self._settled()  # a reply asked for right after a commit answers what was just said
        speaker = reply.speaker
        if speaker is not None:
            reply.sending = self._tasks.spawn(self._send_audio(reply, speaker), f"reply {reply.reply_id} audio")
        status: ReplyStatus = "completed"
        failure: ReplyFailure | None = None
        try:
            if reply.script is not None:
                await self._say(reply, reply.script)
            else:
                status, failure = await self._stream_agent(reply)
            if speaker is not None and reply.sending is not None:
                speaker.end_text()
                await asyncio.wait({reply.sending})
            if speaker is not None and speaker.failure is not None:
                await self.emit(ConversationError(speaker.failure, "speech_unavailable"))
        finally:
            if reply.sending is not None:
                await cancel_and_wait(reply.sending)
            if speaker is not None:
                await speaker.stop()
        return status, failure

    async def _stream_agent(self, reply: ReplyHandle) -> tuple[ReplyStatus, ReplyFailure | None]:
        """The agent's answer into the reply; text is flushed to speech before a tool runs."""
        speaker = reply.speaker
        status: ReplyStatus = "completed"
        failure: ReplyFailure | None = None
        async with aclosing((reply.agent or self.agent).step_stream(reply.reply_id)) as events:  # a cancelled reply persists its step
            async for event in events:
                match event:
                    case TextDelta():
                        if reply.first_token_at is None:
                            reply.first_token_at = time.monotonic()
                        await self._say(reply, event.text)
                    case ModelUsage():
                        reply.usage.append(event)
                    case ToolStarted() if speaker is not None:
                        speaker.flush_text()
                    case ClientToolCall():
                        reply.awaits_client = True
                        if speaker is not None:
                            speaker.flush_text()
                        await self.emit(ReplyToolCall(reply.reply_id, event))
                    case TurnFailed():
                        status, failure = "failed", ReplyFailure(event.code, "server_error")
                        await self._say(reply, event.apology)
                        await self.emit(ConversationError(event.message, event.code))
                    case TurnDone() if event.stop_reason in ("max_steps", "length"):
                        status = "incomplete"
        return status, failure

    async def _say(self, reply: ReplyHandle, text: str) -> None:
        if reply.muted:
            return
        if reply.speaker is not None:
            reply.speaker.say(text)
        else:
            await self.emit(ReplyText(reply.reply_id, text))

    async def _send_audio(self, reply: ReplyHandle, speaker: Speaker) -> None:
        assert reply.playout is not None
        async with aclosing(speaker.frames()) as frames:
            async for frame in frames:
                await reply.playing.wait()
                if reply.muted:
                    return
                if reply.first_byte_at is None:
                    reply.first_byte_at = time.monotonic()
                await self.emit(ReplyAudio(reply.reply_id, frame.audio, frame.words))
                if self._listener is not None:
                    await self._listener.played(frame.audio, speaker.output_format)
                if frame.chunk_end is not None and (mark := reply.playout.chunk_sent(frame.chunk_end)) is not None:
                    await self.emit(ReplyMark(reply.reply_id, mark))

    async def _interrupt(self, reply: ReplyHandle, reason: CancelReason) -> None:
        """Silence the reply now; end it and cut its history to what was heard on a task of its own,
        which a hang-up cancelling the caller of this method does not stop."""
        self._advance(ReplyInput.INTERRUPT)
        reply.interrupted = True
        reply.mute()
        reply.ending = self._tasks.spawn(self._end(reply, reason), f"end reply {reply.reply_id}")
        await asyncio.shield(reply.ending)

    async def _end(self, reply: ReplyHandle, reason: CancelReason) -> None:
        try:
            await self.emit(ReplyInterrupted(reply.reply_id))
            if self._listener is not None:
                await self._listener.not_played()
            text = await reply.interrupt()
            if text is not None:
                await self.agent.truncate_response(reply.reply_id, text)
            if not reply.finished:
                reply.finished = True
                await self.emit(self._done(reply, "cancelled", reason, text, None))
        finally:
            self._advance(ReplyInput.ENDED)

    def _done(self, reply: ReplyHandle, status: ReplyStatus, reason: CancelReason | None, text: str | None,
              failure: ReplyFailure | None) -> ReplyDone:
        """The reply's closing event; counts it and its turn's timings."""
        if reply.speaker is not None:
            self._spoken[reply.reply_id] = reply.speaker
            while len(self._spoken) > _SPOKEN_REPLIES_KEPT:
                self._spoken.popitem(last=False)
        RESPONSES.labels(status).inc()
        timings = None
        if reply.cause is not None:
            timings = TurnTimings(
                reply.cause.speech_end, reply.cause.vad_end, reply.cause.stt_done, reply.first_token_at,
                reply.speaker.first_audio_at if reply.speaker is not None else None, reply.first_byte_at,
            )
            stages = timings.stages_ms()
            log.info("turn latency %s", stages)
            observe_turn(stages)
        return ReplyDone(reply.reply_id, status, reason, text, failure, timings, ModelUsage.total(reply.usage))
