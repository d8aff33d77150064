"""Echo cancellation: remove Confab's own voice from the caller's microphone before the VAD hears it.

Confab knows every sample it plays, so this is reference-based: WebRTC's AEC3 (the canceller
Chrome runs, through the `pywebrtc-audio` bindings) adapts a filter from the played audio (the
far end) to its echo in the microphone (the near end), finds the delay itself (tested up to
300 ms) and subtracts it, leaving the caller's voice.

AEC3 also suppresses the near end while it is unsure, and on a line without echo (a headset,
a browser that cancels its own echo) it never becomes sure: it swallowed the first ~600 ms
of a caller talking over the agent. So the canceller also measures how loud the microphone
stays while the agent plays: over the last 2 s of 10 ms frames in which the agent was
audible, microphone level minus played level, at the delay (up to 400 ms) where that is
highest, taking the 20th percentile (about -20 dB on a speakerphone, below -45 dB on a clean
line; the caller's own speech only raises the upper frames). On a line without echo the
microphone passes through untouched. It starts by assuming echo, so the agent's first
words cannot interrupt it.

CPU work (~15 ms per second of audio): call it from the same worker thread as the VAD, one
stream per instance.
"""

from dataclasses import dataclass

import numpy as np
from pywebrtc_audio import EchoCanceller as _Aec3

from audio.vad import SAMPLE_RATE

FRAME_SAMPLES = SAMPLE_RATE // 100  # AEC3 works on 10 ms frames


@dataclass(frozen=True)
class EchoSettings:
    """How the canceller is tuned; the defaults suit a phone line or a browser with its own AEC off."""

    stream_delay_ms: int = 0  # a hint of the play-out to microphone delay; 0 lets AEC3 estimate it
    max_reference_ms: int = 2000  # played audio queued beyond this is dropped (oldest first)
    judge_window_ms: int = 2000  # how much recent audio the echo judgement looks at
    max_delay_ms: int = 400  # the longest play-out to microphone delay looked for
    echo_db: float = -35.0  # microphone level relative to the played audio above which the line has echo...
    no_echo_db: float = -45.0  # ...and below which it has none (in between: the judgement stays)


class EchoCanceller:
    """One stream's canceller: `played()` the agent's audio as it plays, `capture()` the microphone.

    Both sides are 16 kHz int16 and run on the same clock: each captured sample is paired
    with the next played one (silence when the agent is quiet), and AEC3 absorbs whatever
    fixed delay lies between them.
    """

    def __init__(self, settings: EchoSettings = EchoSettings()) -> None:
        self.settings = settings
        self._aec = _Aec3(sample_rate=SAMPLE_RATE, stream_delay_ms=settings.stream_delay_ms)
        self._reference = np.zeros(0, dtype=np.int16)  # played, not yet paired with captured audio
        self._near = np.zeros(0, dtype=np.int16)  # captured, not yet a whole frame
        self._near_envelope = np.zeros(settings.judge_window_ms // 10, dtype=np.float32)  # loudness of 10 ms frames
        self._far_envelope = np.zeros((settings.judge_window_ms + settings.max_delay_ms) // 10, dtype=np.float32)
        self._frames_since_judged = 0
        self.echo = True  # does the microphone carry the played audio back?

    def played(self, samples: np.ndarray) -> None:
        """Queue audio the agent is playing now (16 kHz int16), the reference for what comes back."""
        limit = self.settings.max_reference_ms * SAMPLE_RATE // 1000
        self._reference = np.concatenate([self._reference, np.asarray(samples, dtype=np.int16)])[-limit:]

    def forget_reference(self) -> None:
        """Drop queued played audio that will not play after all (the answer was cut off)."""
        self._reference = self._reference[:0]

    def capture(self, samples: np.ndarray) -> np.ndarray:
        """Microphone samples in, the same with any echo removed out (whole 10 ms frames; the rest waits)."""
        self._near = np.concatenate([self._near, np.asarray(samples, dtype=np.int16)])
        usable = len(self._near) // FRAME_SAMPLES * FRAME_SAMPLES
        near, self._near = self._near[:usable], self._near[usable:]
        if not usable:
            return near
        reference, self._reference = self._reference[:usable], self._reference[usable:]
        reference = np.concatenate([reference, np.zeros(usable - len(reference), dtype=np.int16)])
        cleaned = self._aec.process(near, reference)
        self._follow(near, reference)
        return cleaned if self.echo else near

    def _follow(self, near: np.ndarray, far: np.ndarray) -> None:
        """Add the frames' loudness to the envelopes and re-judge the echo every 100 ms."""
        frames = len(near) // FRAME_SAMPLES
        for envelope, signal in ((self._near_envelope, near), (self._far_envelope, far)):
            loudness = np.sqrt(np.mean(signal.astype(np.float32).reshape(frames, FRAME_SAMPLES) ** 2, axis=1))
            envelope[:-frames] = envelope[frames:].copy()
            envelope[-frames:] = loudness[-len(envelope) :]
        self._frames_since_judged += frames
        if self._frames_since_judged >= 10:
            self._frames_since_judged = 0
            self._judge()

    def _judge(self) -> None:
        """Echo or not, from how loud the microphone stays, relative to the played audio, while the agent plays."""
        window, lags = len(self._near_envelope), len(self._far_envelope) - len(self._near_envelope)
        levels = []
        for lag in range(lags + 1):
            far = self._far_envelope[lags - lag : lags - lag + window]
            audible = far > 100  # about -50 dBFS
            if audible.mean() < 0.3:  # too little played at some delay to tell: keep the last judgement
                return
            levels.append(float(np.percentile(self._near_envelope[audible] / far[audible], 20)))
        level_db = 20 * np.log10(max(max(levels), 1e-6))
        if level_db >= self.settings.echo_db:
            self.echo = True
        elif level_db < self.settings.no_echo_db:
            self.echo = False
