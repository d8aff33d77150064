"""Turn detection (sans-I/O): 16 kHz int16 chunks in, speech start/stop events out.

States: quiet -> starting -> speaking -> stopping -> quiet. Settings follow OpenAI's
server_vad (`threshold`, `prefix_padding_ms`, `silence_duration_ms`); positions are
milliseconds of the input stream, like OpenAI's `audio_start_ms`/`audio_end_ms`.

`TurnDetector.feed()` runs the Silero model (CPU work): call it from a worker thread,
one call at a time per stream. `TurnDetector.push()` is the pure state machine, fed one
scored 512-sample window at a time.
"""

from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np

from audio.vad import SAMPLE_RATE, WINDOW_SAMPLES, SileroVad

_SAMPLES_PER_MS = SAMPLE_RATE // 1000


@dataclass(frozen=True)
class TurnSettings:
    """Server-VAD settings (push-to-talk has none: it uses `ManualTurns`)."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    max_utterance_ms: int = 15000  # Whisper tiny drops words from windows near 30 s
    min_speech_ms: int = 64  # speech must last this long before SpeechStarted (filters clicks)


class WindowScorer(Protocol):
    """Speech probability of 512-sample windows (the Silero VAD, or a scripted stand-in)."""

    def score(self, windows: np.ndarray) -> np.ndarray:
        """One probability per row of `windows`."""


class TurnState(Enum):
    """Where the detector is in a turn."""

    QUIET = "quiet"
    STARTING = "starting"
    SPEAKING = "speaking"
    STOPPING = "stopping"


@dataclass
class SpeechStarted:
    """Speech confirmed; `audio_start_ms` is where the utterance audio begins (prefix padding included)."""

    audio_start_ms: int


@dataclass
class SilenceBegan:
    """First silent window after speech: `audio` is the utterance so far, worth transcribing speculatively.

    If the silence lasts, the SpeechStopped that follows carries exactly this audio.
    """

    audio_ms: int
    audio: np.ndarray


@dataclass
class SpeechResumed:
    """Speech came back before the silence lasted long enough: drop the speculative transcription."""

    audio_ms: int


@dataclass
class SpeechStopped:
    """An utterance is complete.

    `audio` runs from `audio_start_ms` to the end of the first silent window (the trailing
    silence is not included). `audio_end_ms` is the stream position when the stop was
    decided (OpenAI's meaning: it includes `silence_duration_ms`), or the cut position when
    `max_utterance_ms` split a monologue (the next utterance then starts at that position);
    `cut` is True then, while the caller is still speaking.
    """

    audio_start_ms: int
    audio_end_ms: int
    audio: np.ndarray
    cut: bool = False


TurnEvent = SpeechStarted | SilenceBegan | SpeechResumed | SpeechStopped


class ManualTurns:
    """Push-to-talk: audio is buffered until `commit()` closes the utterance; no voice detection."""

    def __init__(self) -> None:
        self._utterance: list[np.ndarray] = []
        self._position = 0  # samples received
        self._utterance_start = 0  # sample where the buffered utterance begins

    @property
    def idle(self) -> bool:
        """Nothing is waiting for a commit."""
        return self._position == self._utterance_start

    def feed(self, chunk: np.ndarray) -> list[TurnEvent]:
        """Buffer 16 kHz int16 samples; nothing happens until a commit."""
        self._utterance.append(np.asarray(chunk, dtype=np.int16))
        self._position += len(chunk)
        return []

    def commit(self) -> SpeechStopped | None:
        """Close the buffered utterance; None if nothing is buffered."""
        if self.idle:
            return None
        audio = np.concatenate(self._utterance)
        start, self._utterance, self._utterance_start = self._utterance_start, [], self._position
        return SpeechStopped(start // _SAMPLES_PER_MS, self._position // _SAMPLES_PER_MS, audio)

    def clear(self) -> None:
        """Drop the buffered audio (the stream position keeps counting)."""
        self._utterance = []
        self._utterance_start = self._position


class TurnDetector:
    """Turns a 16 kHz int16 stream into turn events with the VAD (server VAD)."""

    def __init__(self, settings: TurnSettings = TurnSettings(), vad: WindowScorer | None = None) -> None:
        self.settings = settings
        self._vad: WindowScorer = vad or SileroVad()
        self.state = TurnState.QUIET
        self._pending = np.zeros(0, dtype=np.int16)  # samples not yet a whole window
        self._position = 0  # samples pushed through the state machine
        self._prefix: deque[np.ndarray] = deque()  # recent quiet windows, for prefix padding
        self._utterance: list[np.ndarray] = []  # windows (or a prefix slice) of the open utterance
        self._utterance_start = 0  # sample where the open utterance begins
        self._speech_ms = 0  # speech heard while starting
        self._kept = 0  # while stopping: utterance pieces up to and including the first silent window
        self._silence_start = 0  # while stopping: sample where the silence began

    @property
    def position_ms(self) -> int:
        """Milliseconds of input stream received so far."""
        return (self._position + len(self._pending)) // _SAMPLES_PER_MS

    @property
    def idle(self) -> bool:
        """Quiet, with no audio held back (no partial window)."""
        return self.state is TurnState.QUIET and not len(self._pending)

    def feed(self, chunk: np.ndarray) -> list[TurnEvent]:
        """Add 16 kHz int16 samples (any length); score whole windows with the VAD and return the events."""
        events: list[TurnEvent] = []
        for window, probability in self.scored(chunk):
            events += self.push(window, probability)
        return events

    def scored(self, chunk: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Add 16 kHz int16 samples; the whole windows they complete, each with its speech probability, not yet pushed."""
        chunk = np.asarray(chunk, dtype=np.int16)
        self._pending = np.concatenate([self._pending, chunk])
        usable = len(self._pending) // WINDOW_SAMPLES * WINDOW_SAMPLES
        if not usable:
            return []
        windows = self._pending[:usable].reshape(-1, WINDOW_SAMPLES)
        self._pending = self._pending[usable:]
        return [(window, float(probability)) for window, probability in zip(windows, self._vad.score(windows))]

    def push(self, window: np.ndarray, probability: float) -> list[TurnEvent]:
        """Advance the state machine by one 512-sample window with its speech probability (pure, no model)."""
        start = self._position
        self._position += len(window)
        speech = probability >= self.settings.threshold
        silence = probability < max(self.settings.threshold - 0.15, 0.01)
        if self.state is TurnState.QUIET:
            return self._quiet(window, start, speech)
        if self.state is TurnState.STARTING:
            return self._starting(window, speech)
        if self.state is TurnState.SPEAKING:
            return self._speaking(window, start, silence)
        return self._stopping(window, start, speech)

    def commit(self) -> SpeechStopped | None:
        """Close the open utterance now; None if there is none."""
        return None if self.state is TurnState.QUIET else self._close(self._position)

    def clear(self) -> None:
        """Drop all buffered audio and return to quiet (the stream position keeps counting)."""
        self._position += len(self._pending)
        self._pending = np.zeros(0, dtype=np.int16)
        self._prefix.clear()
        self._utterance = []
        self._utterance_start = self._position
        self.state = TurnState.QUIET

    def _quiet(self, window: np.ndarray, start: int, speech: bool) -> list[TurnEvent]:
        if not speech:
            self._remember_quiet([window])
            return []
        prefix_samples = self.settings.prefix_padding_ms * _SAMPLES_PER_MS
        prefix = np.concatenate(self._prefix)[-prefix_samples:] if self._prefix and prefix_samples else window[:0]
        self._prefix.clear()
        self._utterance = [prefix]
        self._utterance_start = start - len(prefix)
        self._speech_ms = 0
        self.state = TurnState.STARTING
        return self._starting(window, speech)

    def _starting(self, window: np.ndarray, speech: bool) -> list[TurnEvent]:
        self._utterance.append(window)
        if not speech:
            self._remember_quiet(self._utterance)
            self._utterance = []
            self.state = TurnState.QUIET
            return []
        self._speech_ms += len(window) // _SAMPLES_PER_MS
        if self._speech_ms < self.settings.min_speech_ms:
            return []
        self.state = TurnState.SPEAKING
        return [SpeechStarted(self._utterance_start // _SAMPLES_PER_MS)]

    def _speaking(self, window: np.ndarray, start: int, silence: bool) -> list[TurnEvent]:
        events: list[TurnEvent] = []
        if self._too_long():
            audio = np.concatenate(self._utterance)
            events += [SpeechStopped(self._utterance_start // _SAMPLES_PER_MS, start // _SAMPLES_PER_MS, audio, cut=True)]
            events += [SpeechStarted(start // _SAMPLES_PER_MS)]
            self._utterance = []
            self._utterance_start = start
        self._utterance.append(window)
        if silence:
            self.state = TurnState.STOPPING
            self._kept = len(self._utterance)
            self._silence_start = start
            events.append(SilenceBegan(start // _SAMPLES_PER_MS, np.concatenate(self._utterance)))
        return events

    def _stopping(self, window: np.ndarray, start: int, speech: bool) -> list[TurnEvent]:
        if self._too_long():
            return [self._close(start)] + self._quiet(window, start, speech)
        self._utterance.append(window)
        if speech:
            self.state = TurnState.SPEAKING
            return [SpeechResumed(start // _SAMPLES_PER_MS)]
        if self._position - self._silence_start >= self.settings.silence_duration_ms * _SAMPLES_PER_MS:
            return [self._close(self._position)]
        return []

    def _too_long(self) -> bool:
        """Would the window just pushed take the open utterance past max_utterance_ms?"""
        return self._position - self._utterance_start > self.settings.max_utterance_ms * _SAMPLES_PER_MS

    def _close(self, end: int) -> SpeechStopped:
        """End the open utterance at stream position `end`; trailing silence goes back to the prefix buffer."""
        kept = self._kept if self.state is TurnState.STOPPING else len(self._utterance)
        audio = np.concatenate(self._utterance[:kept])
        self._remember_quiet(self._utterance[kept:])
        start, self._utterance, self._utterance_start = self._utterance_start, [], end
        self.state = TurnState.QUIET
        return SpeechStopped(start // _SAMPLES_PER_MS, end // _SAMPLES_PER_MS, audio)

    def _remember_quiet(self, windows: list[np.ndarray]) -> None:
        """Keep just enough recent non-speech audio to serve as prefix padding."""
        self._prefix.extend(windows)
        keep = self.settings.prefix_padding_ms * _SAMPLES_PER_MS
        while self._prefix and sum(map(len, self._prefix)) - len(self._prefix[0]) >= keep:
            self._prefix.popleft()
