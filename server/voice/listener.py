"""Listening to one caller: wire audio in, turn events and transcripts out.

Audio is decoded on arrival, then a per-session worker runs resampling and the VAD in
the shared VAD thread pool (never on the event loop) and the turn detector decides
where utterances start and stop (or, in push-to-talk, the caller's commit does).
Transcription starts speculatively at the first silence after speech, so Whisper runs
inside the endpointing wait; the result is kept if the silence lasts and dropped if
speech resumes. Events go into a queue read by the listener's owner, so the owner's
work on an event (a barge-in's Redis writes) never holds up the audio intake.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from audio.codecs import AudioFormat
from audio.echo import EchoCanceller, EchoSettings
from audio.interruption import Ignore, InterruptionClassifier, InterruptionSettings, Interrupt, Pause, Resume, Transcribe
from audio.scheduler import Job
from audio.resample import StreamResampler
from audio.stt import TranscriptionHints
from audio.turns import (
    ManualTurns,
    SilenceBegan,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    TurnDetector,
    TurnEvent,
    TurnSettings,
    WindowScorer,
)
from audio.vad import SAMPLE_RATE
from server.ids import new_id
from server.voice.models import SpeechModels

log = logging.getLogger(__name__)

_QUEUE_CHUNKS = 256
MAX_PUSH_TO_TALK_S = 120
"""The most audio push-to-talk buffers before a commit; more is refused with `InputBufferFull`."""
QUICK_WAIT_S = 2.0
"""How long an utterance's words wait for the interruption classifier's quick transcripts in flight."""


@dataclass(frozen=True)
class VoiceStarted:
    """The caller started speaking (barge-in point)."""

    item_id: str
    audio_start_ms: int


@dataclass(frozen=True)
class VoiceStopped:
    """The caller stopped (or an over-long utterance was cut: `cut` is True)."""

    item_id: str
    audio_end_ms: int
    cut: bool


@dataclass(frozen=True)
class Transcribed:
    """An utterance's text; `respond` is False for the first parts of a cut monologue.

    `speech_end` is when the caller's silence began, `vad_end` when the turn was
    decided and `stt_done` when the text was ready (monotonic clock).
    """

    item_id: str
    text: str
    respond: bool
    speech_end: float
    vad_end: float
    stt_done: float
    audio_s: float  # the utterance's length
    error: str | None = None  # why the words were lost (the speech-to-text failed)


@dataclass(frozen=True)
class Interruption:
    """While the agent speaks: what the caller's sound means for the answer (pause, resume, ignore, interrupt)."""

    decision: Pause | Resume | Ignore | Interrupt


ListenerEvent = VoiceStarted | VoiceStopped | Transcribed | Interruption


class FormatLocked(ValueError):
    """The input format cannot change while an utterance is open."""


class InputBufferFull(ValueError):
    """Push-to-talk audio past `MAX_PUSH_TO_TALK_S` without a commit."""


@dataclass(frozen=True)
class _Heard:
    """Caller audio (wire rate) and when it arrived (monotonic clock)."""

    samples: np.ndarray
    at: float


@dataclass(frozen=True)
class _Played:
    """Audio the agent sent at `at` (16 kHz), the echo canceller's reference; None: what it had not played was dropped."""

    samples: np.ndarray | None
    at: float


@dataclass
class _Command:
    kind: str  # "commit" or "clear"
    done: asyncio.Future[None]


@dataclass
class Listener:
    """The input half of one voice session."""

    models: SpeechModels
    input_format: AudioFormat
    turn_settings: TurnSettings | None
    """Server VAD, or None for push-to-talk (the caller commits)."""
    scorer: WindowScorer | None = None
    """The VAD (None: Silero)."""
    echo: EchoSettings | None = None
    """Cancel the agent's own voice from the input with what `played()` is told (None: don't)."""
    hints: TranscriptionHints = TranscriptionHints()
    """The language and prompt every transcription gets; may change at any time."""
    events: asyncio.Queue[ListenerEvent] = field(default_factory=asyncio.Queue, init=False)
    """What was heard, in order; the owner calls `task_done()` once it has handled each."""
    _queue: asyncio.Queue[_Heard | _Command | _Played] = field(default_factory=lambda: asyncio.Queue(_QUEUE_CHUNKS), init=False)
    _detector: TurnDetector | ManualTurns = field(init=False)
    _uncommitted: int = field(default=0, init=False)  # push-to-talk samples appended since the last commit or clear
    _resampler: StreamResampler = field(init=False)
    _worker: asyncio.Task[None] | None = field(default=None, init=False)
    _item_id: str | None = field(default=None, init=False)
    _speculation: tuple[int, Job[str], float] | None = field(default=None, init=False)
    _emitting: asyncio.Task[None] | None = field(default=None, init=False)
    _received_samples: int = field(default=0, init=False)
    _started_at: float | None = field(default=None, init=False)
    _classifier: InterruptionClassifier | None = field(default=None, init=False)
    _watching: bool = field(default=False, init=False)
    _canceller: EchoCanceller | None = field(default=None, init=False)
    _played_resamplers: dict[int, StreamResampler] = field(default_factory=dict, init=False)
    _quick: set[asyncio.Task[None]] = field(default_factory=set, init=False)  # quick transcripts for the classifier

    def __post_init__(self) -> None:
        self._reset_pipeline()

    def _reset_pipeline(self) -> None:
        self._canceller = EchoCanceller(self.echo) if self.echo is not None else None
        self._detector = ManualTurns() if self.turn_settings is None else TurnDetector(self.turn_settings, self.scorer)
        self._resampler = StreamResampler(self.input_format.rate, SAMPLE_RATE)

    @property
    def idle(self) -> bool:
        """No audio queued and no utterance open."""
        return self._queue.empty() and self._detector.idle

    @property
    def position_ms(self) -> int:
        """How much caller audio was appended so far, in milliseconds."""
        return self._received_samples * 1000 // self.input_format.rate

    def configure(self, input_format: AudioFormat, turn_settings: TurnSettings | None) -> None:
        """Change format or turn detection; refused (FormatLocked) while an utterance is open."""
        if input_format == self.input_format and turn_settings == self.turn_settings:
            return
        if not self.idle:
            raise FormatLocked("cannot change the input audio format or turn detection mid-utterance; "
                               "send input_audio_buffer.clear or wait for the turn to end")
        self.input_format, self.turn_settings = input_format, turn_settings
        self._reset_pipeline()

    def watch(self, settings: InterruptionSettings | None) -> None:
        """The agent starts speaking: classify the caller's sounds with `settings` (None: don't) until `unwatch()`."""
        if settings is None:
            self._watching = False
            return
        if self._classifier is None or self._classifier.settings != settings:
            self._classifier = InterruptionClassifier(settings)
        elif not self._classifier.deciding:
            self._classifier.reset()
        self._watching = True

    def unwatch(self) -> None:
        """The agent stopped speaking: a sound being classified is still decided, no new one is."""
        self._watching = False

    async def append(self, data: bytes) -> float:
        """Queue wire audio (raises ValueError on bytes that are not whole samples).

        Returns how far, in seconds, the caller's audio runs ahead of real time, so a
        flood can be reported; the bounded queue itself slows a flood down without
        dropping anything.
        """
        if len(data) % self.input_format.bytes_per_sample:
            raise ValueError(f"{len(data)} bytes is not a whole number of {self.input_format.type} samples")
        samples = self.input_format.decode(data)
        if self.turn_settings is None:
            if self._uncommitted + len(samples) > MAX_PUSH_TO_TALK_S * self.input_format.rate:
                raise InputBufferFull(f"the input audio buffer holds {MAX_PUSH_TO_TALK_S} s, the most push-to-talk keeps: "
                                      "commit or clear it; this chunk was not added")
            self._uncommitted += len(samples)
        now = time.monotonic()
        if self._started_at is None:
            self._started_at = now
        self._received_samples += len(samples)
        await self._enqueue(_Heard(samples, now))
        return self._received_samples / self.input_format.rate - (now - self._started_at)

    async def _command(self, kind: str) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._enqueue(_Command(kind, done))
        await done

    async def played(self, data: bytes, output_format: AudioFormat) -> None:
        """The agent sends `data` now: the echo canceller's reference (nothing without echo cancelling)."""
        if self.echo is None:
            return
        resampler = self._played_resamplers.get(output_format.rate)
        if resampler is None:
            # Quick (cubic) resampling gives each frame back as it is sent; HQ's filter held ~80 ms back and let
            # it out in 100 ms blocks, so after a pause the held audio was placed as new: the reference lagged its echo.
            resampler = self._played_resamplers[output_format.rate] = StreamResampler(output_format.rate, SAMPLE_RATE, quality="QQ")
        await self._enqueue(_Played(resampler.process(output_format.decode(data)), time.monotonic()))

    async def not_played(self) -> None:
        """The audio sent lately will not play after all (the answer was cut off)."""
        if self.echo is not None:
            await self._enqueue(_Played(None, time.monotonic()))

    async def _enqueue(self, item: _Heard | _Command | _Played) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="listener")
        await self._queue.put(item)

    async def commit(self) -> None:
        """Close the open utterance now (push-to-talk), after every queued chunk was heard."""
        self._uncommitted = 0
        await self._command("commit")

    async def clear(self) -> None:
        """Drop buffered audio and any open utterance."""
        self._uncommitted = 0
        await self._command("clear")

    async def settled(self) -> None:
        """Return once every committed utterance's transcript is in `events`."""
        if self._emitting is not None:
            await asyncio.wait({self._emitting})

    async def close(self) -> None:
        """Stop the worker, pending transcriptions and queued audio (what is buffered is dropped)."""
        for task in (self._worker, self._emitting, *self._quick):
            if task is not None:
                task.cancel()
                await asyncio.wait({task})
        if self._speculation is not None:
            self._speculation[1].cancel()
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, _Command):
                item.done.cancel()
        self._detector.clear()

    async def _emit(self, event: ListenerEvent) -> None:
        await self.events.put(event)

    def _listen(self, batch: list[_Heard]) -> list[tuple[np.ndarray | None, float, list[TurnEvent]]]:
        """Each window with its speech probability and the turn events it caused (push-to-talk: no windows)."""
        canceller, chunks = self._canceller, [self._resampler.process(heard.samples) for heard in batch]
        if canceller is not None:
            chunks = [canceller.capture(chunk, heard.at) for chunk, heard in zip(chunks, batch)]
        chunk = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        detector = self._detector
        if isinstance(detector, ManualTurns):
            return [(None, 0.0, detector.feed(chunk))]
        return [(window, probability, detector.push(window, probability)) for window, probability in detector.scored(chunk)]

    async def _run(self) -> None:
        while True:
            batch: list[_Heard] = []
            item = await self._queue.get()
            while True:
                if isinstance(item, _Command):
                    await self._hear(batch)
                    batch = []
                    await self._run_command(item)
                elif isinstance(item, _Played):
                    await self._hear(batch)
                    batch = []
                    self._reference(item)
                else:
                    batch.append(item)
                if self._queue.empty() or len(batch) >= 50:
                    break
                item = self._queue.get_nowait()
            await self._hear(batch)

    async def _hear(self, batch: list[_Heard]) -> None:
        if not batch:
            return
        try:
            windows = await asyncio.get_running_loop().run_in_executor(self.models.vad_pool, self._listen, batch)
        except Exception:
            log.exception("voice activity detection failed; chunk skipped")
            return
        for window, probability, events in windows:
            for event in events:
                await self._on_turn(event)
            classifier = self._classifier
            if window is not None and classifier is not None and (self._watching or classifier.deciding):
                await self._decided(classifier, classifier.push(window, probability))

    async def _decided(self, classifier: InterruptionClassifier, decisions: list[Pause | Resume | Ignore | Interrupt | Transcribe]) -> None:
        for decision in decisions:
            if isinstance(decision, Transcribe):
                job = self.models.transcriber.submit(decision.audio, hints=self.hints)
                job.promote()
                task = asyncio.create_task(self._quick_transcript(classifier, job, decision.audio_end_ms), name="transcript")
                self._quick.add(task)
                task.add_done_callback(self._quick.discard)
            else:
                await self._emit(Interruption(decision))

    async def _quick_transcript(self, classifier: InterruptionClassifier, job: Job[str], audio_end_ms: int) -> None:
        try:
            text = await job.future
        except Exception as exc:  # the sound stays undecided by words; length and silence still decide it
            log.warning("quick transcription failed: %s", exc)
            return
        if classifier is self._classifier:
            await self._decided(classifier, classifier.transcript(text, audio_end_ms))

    def _reference(self, played: _Played) -> None:
        if self._canceller is None:
            return
        if played.samples is None:
            self._canceller.forget_reference(played.at)
        else:
            self._canceller.played(played.samples, played.at)

    async def _run_command(self, command: _Command) -> None:
        try:
            if command.kind == "commit":
                stopped = self._detector.commit()
                if stopped is not None:
                    if self._item_id is None:
                        await self._on_turn(SpeechStarted(stopped.audio_start_ms))
                    await self._on_turn(stopped)
            else:
                self._detector.clear()
                self._drop_speculation()
                self._item_id = None
        finally:
            if not command.done.done():
                command.done.set_result(None)

    def _drop_speculation(self) -> None:
        if self._speculation is not None:
            self._speculation[1].cancel()
            self._speculation = None

    def _transcribe(self, audio: np.ndarray, speculative: bool) -> Job[str]:
        return self.models.transcriber.submit(audio, speculative, self.hints)

    async def _on_turn(self, event: TurnEvent) -> None:
        match event:
            case SpeechStarted():
                self._item_id = new_id("item")
                await self._emit(VoiceStarted(self._item_id, event.audio_start_ms))
            case SilenceBegan():
                self._drop_speculation()
                self._speculation = (len(event.audio), self._transcribe(event.audio, True), time.monotonic())
            case SpeechResumed():
                self._drop_speculation()
            case SpeechStopped():
                await self._stopped(event)

    async def _stopped(self, event: SpeechStopped) -> None:
        now = time.monotonic()
        item_id = self._item_id or new_id("item")
        self._item_id = None
        cut = event.cut
        speculation = self._speculation
        self._speculation = None
        if speculation is not None and speculation[0] == len(event.audio):
            speculation[1].promote()
            transcript, speech_end = speculation[1].future, speculation[2]
        else:
            if speculation is not None:
                speculation[1].cancel()
            transcript, speech_end = self._transcribe(event.audio, False).future, now
        await self._emit(VoiceStopped(item_id, event.audio_end_ms, cut))
        previous = self._emitting
        self._emitting = asyncio.create_task(
            self._emit_transcript(previous, item_id, transcript, not cut, speech_end, now, len(event.audio) / SAMPLE_RATE),
            name="transcript",
        )

    async def _emit_transcript(self, previous: asyncio.Task[None] | None, item_id: str, transcript: asyncio.Future[str],
                               respond: bool, speech_end: float, vad_end: float, audio_s: float) -> None:
        error = None
        try:
            if previous is not None:
                await asyncio.wait({previous})
            text = await transcript
            if self._quick:  # one may yet make a sound over the answer an interruption, whose words must then be kept
                await asyncio.wait(set(self._quick), timeout=QUICK_WAIT_S)
        except asyncio.CancelledError:
            transcript.cancel()
            if previous is not None:
                previous.cancel()
            raise
        except Exception as exc:
            log.warning("transcription failed: %s", exc)
            text, error = "", str(exc) or "transcription failed"
        await self._emit(Transcribed(item_id, text, respond, speech_end, vad_end, time.monotonic(), audio_s, error))
