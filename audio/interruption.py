"""Interruption classification (sans-I/O): while the agent speaks, is the caller's speech a real interruption?

Fed the VAD's 512-sample windows with their speech probabilities, and the quick transcripts it
asks for, it tells the speaker what to do with the answer's audio:

- `Pause` as soon as the caller makes a sound the VAD calls speech (nothing more is played
  while deciding, so a real interruption costs no extra audio);
- `Interrupt` once it is a real interruption: enough voiced speech not known to be a
  backchannel (`interruption_min_speech_ms`), any speech past `backchannel_max_ms`, or a
  transcript with a word that is not a backchannel ("wait", "no", "stop", a question...) of
  the whole sound so far, or of `WORD_MIN_MS` of it (a shorter start waits for the next);
- `Resume` (after a `Pause`) or `Ignore` (when pausing is off) once the caller has been quiet
  for `resume_after_silence_ms` after a short sound: the answer goes on from the sample where
  it paused, so a backchannel ("uh-huh", "yeah") or noise costs a pause of its own length
  plus that silence, however slow the transcription;
- `Transcribe` at the first silence after speech: run a quick transcription of `audio` (the
  sound with `LEAD_IN_MS` of what came before it) and hand the text back with `transcript()`;
  a word that is not a backchannel interrupts even if the answer has gone on meanwhile.

Positions are milliseconds of the input stream. The decision logic is the one table `_TABLE`.
"""

import re
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from audio.vad import SAMPLE_RATE, WINDOW_SAMPLES

WINDOW_MS = WINDOW_SAMPLES * 1000 // SAMPLE_RATE
# Whisper (tiny.en) writes nothing for a sound that starts at the clip's first sample: a caller's
# "wait, stop" over a call's echo, cut at its first speech window, was transcribed "" and with
# 200 ms before it "wait stop"; so a quick transcript gets what preceded the sound, as server_vad's
# prefix_padding_ms gives a turn.
LEAD_IN_MS = 320
# Words in a shorter start of a sound that went on wait for the transcript of more of it: Whisper
# wrote "But..." and "up" for the 96-128 ms "uh" of an "uh-huh" (and "Uh-uh." for all of it), and
# "Wait." for 160-256 ms of "wait".
WORD_MIN_MS = 160
DEFAULT_BACKCHANNEL_WORDS = (
    "uh-huh", "uh huh", "uh-uh", "uh-oh", "mm-hm", "mm-hmm", "mhm", "mm", "hm", "hmm", "uh", "um", "ah", "oh",
    "yeah", "yes", "yep", "yup", "ok", "okay", "alright", "all right", "right", "sure", "i see",
    "got it", "cool", "great", "nice", "wow", "true", "exactly", "indeed",
)  # fmt: skip
# "uh-uh", "uh-oh": Whisper writes them for an "uh-huh" over an 8 kHz phone line; a caller who means
# "no" or "something is wrong" says more


class InterruptionSettings(BaseModel):
    """Thresholds of the classifier, named as they appear under `turn_detection` in `session.update`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5  # VAD probability that counts as speech (server_vad's)
    # voiced speech that interrupts unless heard to be a backchannel; over a one-word backchannel's
    # length ("okay" measured 480 ms of VAD speech, "uh-huh" over a call's echo up to ~500)
    interruption_min_speech_ms: Annotated[int, Field(ge=0)] = 800
    backchannel_max_ms: Annotated[int, Field(ge=0)] = 1500  # voiced speech that interrupts even if every word is a backchannel
    resume_after_silence_ms: Annotated[int, Field(ge=0)] = 300  # quiet after a backchannel or noise before the answer goes on
    pause_on_speech: bool = True  # hold the answer's audio while deciding (False: play on, then stop or ignore)
    backchannel_words: tuple[str, ...] = DEFAULT_BACKCHANNEL_WORDS  # phrases that never interrupt on their own


class Reason(Enum):
    """Why the classifier decided as it did."""

    LONG_SPEECH = "long_speech"  # enough voiced speech
    WORDS = "words"  # a transcript with a word that is not a backchannel
    BACKCHANNEL = "backchannel"  # only backchannel words
    NOISE = "noise"  # no words at all
    SHORT = "short"  # too short to interrupt, its words not transcribed yet


@dataclass(frozen=True)
class Pause:
    """Stop playing the answer for now, keeping its position: the caller made a sound."""

    at_ms: int


@dataclass(frozen=True)
class Resume:
    """Play the paused answer on from where it stopped: the sound was a backchannel or noise."""

    at_ms: int
    reason: Reason


@dataclass(frozen=True)
class Ignore:
    """The sound was a backchannel or noise, and the answer was never paused: nothing to do."""

    at_ms: int
    reason: Reason


@dataclass(frozen=True)
class Interrupt:
    """A real interruption: stop and cancel the answer. The caller's speech began at `onset_ms`."""

    at_ms: int
    onset_ms: int
    reason: Reason


@dataclass(frozen=True)
class Transcribe:
    """Transcribe `audio` (the caller's sound so far) and pass the text to `transcript(text, audio_end_ms)`."""

    audio_end_ms: int
    audio: np.ndarray


InterruptionEvent = Pause | Resume | Ignore | Interrupt | Transcribe


class _State(Enum):
    IDLE = "idle"  # the caller is quiet
    SPEAKING = "speaking"  # the caller is making sounds, undecided
    QUIET = "quiet"  # the caller paused, undecided
    INTERRUPTED = "interrupted"  # decided: a real interruption (until reset)


class _Signal(Enum):
    SPEECH = "speech"  # a speech window, below the length limits
    LONG_SPEECH = "long_speech"  # a speech window that reaches a length limit
    UNSURE = "unsure"  # a window between speech and silence (hysteresis)
    SILENCE = "silence"  # a silent window, before the caller has been quiet long enough
    SETTLED = "settled"  # a silent window after resume_after_silence_ms
    WORDS = "words"  # a transcript with a word that is not a backchannel
    BACKCHANNEL = "backchannel"  # a transcript of backchannel words only, or of no words


class _Action(Enum):
    NONE = "none"
    START = "start"  # open a candidate and pause
    TRANSCRIBE = "transcribe"
    INTERRUPT = "interrupt"
    DISMISS = "dismiss"  # resume or ignore


_S, _G, _A = _State, _Signal, _Action
_TABLE: dict[tuple[_State, _Signal], tuple[_State, _Action]] = {
    (_S.IDLE, _G.SPEECH): (_S.SPEAKING, _A.START),
    (_S.IDLE, _G.LONG_SPEECH): (_S.SPEAKING, _A.START),  # only with a zero-length limit; decided next window
    (_S.IDLE, _G.WORDS): (_S.INTERRUPTED, _A.INTERRUPT),  # a late transcript of a sound already dismissed
    (_S.SPEAKING, _G.SPEECH): (_S.SPEAKING, _A.NONE),
    (_S.SPEAKING, _G.LONG_SPEECH): (_S.INTERRUPTED, _A.INTERRUPT),
    (_S.SPEAKING, _G.SILENCE): (_S.QUIET, _A.TRANSCRIBE),
    (_S.SPEAKING, _G.SETTLED): (_S.QUIET, _A.TRANSCRIBE),
    (_S.SPEAKING, _G.WORDS): (_S.INTERRUPTED, _A.INTERRUPT),
    (_S.QUIET, _G.SPEECH): (_S.SPEAKING, _A.NONE),
    (_S.QUIET, _G.LONG_SPEECH): (_S.INTERRUPTED, _A.INTERRUPT),
    (_S.QUIET, _G.SETTLED): (_S.IDLE, _A.DISMISS),
    (_S.QUIET, _G.WORDS): (_S.INTERRUPTED, _A.INTERRUPT),
}  # any other (state, signal): stay, do nothing


class InterruptionClassifier:
    """Decides, window by window while the agent speaks, what the caller's sounds mean (one per stream)."""

    def __init__(self, settings: InterruptionSettings = InterruptionSettings()) -> None:
        self.settings = settings
        self._backchannels = frozenset(_normalise(p) for p in settings.backchannel_words)
        self._position_ms = 0
        self._state = _State.IDLE
        self._audio: list[np.ndarray] = []  # the caller's sound since it began, after its lead-in
        self._recent: deque[np.ndarray] = deque(maxlen=LEAD_IN_MS // WINDOW_MS + 1)  # the last windows: a lead-in and one more
        self._onset_ms = 0
        self._voiced_ms = 0  # speech windows since the onset
        self._cleared_ms = 0  # voiced speech a transcript showed to be backchannel words
        self._pending: dict[int, int] = {}  # this sound's transcripts asked for: audio_end_ms -> voiced ms by then
        self._late: set[int] = set()  # transcripts asked for about sounds already dismissed
        self._quiet_since_ms = 0
        self._heard: str | None = None  # backchannel words transcribed so far; None: no transcript yet

    def reset(self) -> None:
        """Start afresh (a new answer begins); the stream position keeps counting."""
        self._state = _State.IDLE
        self._reset_candidate()
        self._late.clear()
        self._recent.clear()  # the caller's words before the answer are not a lead-in to a sound over it

    @property
    def position_ms(self) -> int:
        """Milliseconds of caller audio pushed so far."""
        return self._position_ms

    @property
    def deciding(self) -> bool:
        """The caller has made a sound that is not decided yet (the answer is paused, if pausing is on)."""
        return self._state in (_State.SPEAKING, _State.QUIET)

    def push(self, window: np.ndarray, probability: float) -> list[InterruptionEvent]:
        """Advance by one 512-sample window of caller audio with its VAD speech probability."""
        start_ms, self._position_ms = self._position_ms, self._position_ms + WINDOW_MS
        self._recent.append(window)
        if self.deciding:
            self._audio.append(window)
        if probability >= self.settings.threshold:
            if self._state is _State.IDLE:
                self._audio, self._onset_ms = list(self._recent), start_ms
            self._voiced_ms += WINDOW_MS
            return self._step(self._speech_signal())
        if probability >= max(self.settings.threshold - 0.15, 0.01):
            return self._step(_Signal.UNSURE)
        if self._state is _State.SPEAKING:
            self._quiet_since_ms = start_ms
        settled = self._position_ms - self._quiet_since_ms >= self.settings.resume_after_silence_ms
        return self._step(_Signal.SETTLED if settled else _Signal.SILENCE)

    def transcript(self, text: str, audio_end_ms: int) -> list[InterruptionEvent]:
        """The quick transcript asked for by the `Transcribe` whose audio ends at `audio_end_ms`."""
        words = _normalise(text)
        interrupts = bool(words) and not self._is_backchannel(words)
        if audio_end_ms in self._late:
            self._late.discard(audio_end_ms)
            return self._step(_Signal.WORDS) if interrupts else []
        voiced_then = self._pending.pop(audio_end_ms, None)
        if voiced_then is None:  # asked for before a reset: about another answer
            return []
        if interrupts:
            return self._step(_Signal.WORDS) if self._decides(voiced_then) else []
        self._heard = " ".join(part for part in (self._heard, words) if part)
        if words:  # without words Whisper heard nothing it was sure of, so the speech stays unjudged
            self._cleared_ms = max(self._cleared_ms, voiced_then)
        return self._step(_Signal.BACKCHANNEL)

    def _decides(self, voiced_then: int) -> bool:
        """Can words transcribed from the sound's first `voiced_then` ms decide it: all of it, or enough to hold a word?"""
        return voiced_then == self._voiced_ms or voiced_then >= WORD_MIN_MS

    def _speech_signal(self) -> _Signal:
        unjudged_ms = self._voiced_ms - self._cleared_ms
        if unjudged_ms >= self.settings.interruption_min_speech_ms or self._voiced_ms >= self.settings.backchannel_max_ms:
            return _Signal.LONG_SPEECH
        return _Signal.SPEECH

    def _is_backchannel(self, words: str) -> bool:
        """Is `words` nothing but backchannel phrases (longest phrase first at each point)?"""
        tokens = words.split()
        i = 0
        while i < len(tokens):
            for n in (3, 2, 1):
                if " ".join(tokens[i : i + n]) in self._backchannels:
                    i += n
                    break
            else:
                return False
        return True

    def _step(self, signal: _Signal) -> list[InterruptionEvent]:
        self._state, action = _TABLE.get((self._state, signal), (self._state, _Action.NONE))
        at_ms = self._position_ms
        if action is _Action.START:
            return [Pause(at_ms)] if self.settings.pause_on_speech else []
        if action is _Action.TRANSCRIBE:
            self._pending[at_ms] = self._voiced_ms
            return [Transcribe(at_ms, np.concatenate(self._audio))]
        if action is _Action.INTERRUPT:
            return [Interrupt(at_ms, self._onset_ms, Reason.WORDS if signal is _Signal.WORDS else Reason.LONG_SPEECH)]
        if action is _Action.DISMISS:
            reason = Reason.SHORT if self._heard is None else Reason.BACKCHANNEL if self._heard else Reason.NOISE
            self._late.update(end for end, voiced_then in self._pending.items() if self._decides(voiced_then))
            self._reset_candidate()
            return [Resume(at_ms, reason) if self.settings.pause_on_speech else Ignore(at_ms, reason)]
        return []

    def _reset_candidate(self) -> None:
        self._audio, self._voiced_ms, self._cleared_ms, self._heard = [], 0, 0, None
        self._pending.clear()


def _normalise(text: str) -> str:
    """Lower-case words: hyphens kept inside words ("uh-huh"), other punctuation dropped."""
    return " ".join(re.sub(r"[^a-z0-9'\- ]", " ", text.lower()).replace(" -", " ").replace("- ", " ").split())
