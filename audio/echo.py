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

from collections import deque
from dataclasses import dataclass

import numpy as np
from pywebrtc_audio import EchoCanceller as _Aec3

from audio.vad import SAMPLE_RATE

FRAME_SAMPLES = SAMPLE_RATE // 100  # AEC3 works on 10 ms frames
CLOCK_WINDOW_S = 1.0  # the microphone's clock is its earliest arrival over this long


@dataclass(frozen=True)
class EchoSettings:
    """How the canceller is tuned; the defaults suit a phone line or a browser with its own AEC off."""

    stream_delay_ms: int = 0  # a hint of the play-out to microphone delay; 0 lets AEC3 estimate it
    max_reference_ms: int = 2000  # played audio queued beyond this is dropped
    playout_slack_ms: int = 100  # a pause in sending this short may not reach the far end (its buffer, network jitter)
    relearn_after_ms: int = 1000  # played audio after this much silence starts a fresh filter (its delay may be new)
    judge_window_ms: int = 2000  # how much recent audio the echo judgement looks at
    max_delay_ms: int = 400  # the longest play-out to microphone delay looked for
    echo_db: float = -35.0  # microphone level relative to the played audio above which the line has echo...
    no_echo_db: float = -45.0  # ...and below which it has none (in between: the judgement stays)


class EchoCanceller:
    """One stream's canceller: `played()` the agent's audio as it leaves, `capture()` the microphone as it arrives.

    Both sides are 16 kHz int16, paired by play-out time, not by sample count: the microphone's
    samples are numbered as they arrive (its clock: the earliest arrival over the last second,
    so network jitter does not move it), and each played chunk is placed on that clock where
    it starts to play: right after the one before it, or, if the output ran dry for longer
    than `playout_slack_ms` (a pause in synthesis or a held answer), when it was sent; the
    microphone hears silence as reference in between. Shorter pauses are taken as absorbed by
    the far end's buffer: a reference that lags its echo is one AEC3 cannot cancel, one that
    leads it by a little more is. So the delay between them stays what the line makes it
    through an answer. After `relearn_after_ms` of silence (a new answer) the filter starts
    afresh, which AEC3 adapts within a few frames (suppressing while unsure), where an adapted
    one took seconds to follow a changed delay; a shorter pause (the answer held while the
    caller's sound is classified) keeps it.
    """

    def __init__(self, settings: EchoSettings = EchoSettings()) -> None:
        self.settings = settings
        self._aec = self._new_filter()
        self._reference = np.zeros(0, dtype=np.int16)  # played, for microphone samples from `_paired` on
        self._paired = 0  # microphone samples paired with the reference so far
        self._play_end = 0  # the microphone sample at which the last played chunk ends
        self._arrived = 0  # microphone samples arrived so far
        self._arrivals: deque[tuple[float, float]] = deque()  # (arrival time, when sample 0 would have arrived)
        self._near = np.zeros(0, dtype=np.int16)  # captured, not yet a whole frame
        self._near_envelope = np.zeros(settings.judge_window_ms // 10, dtype=np.float32)  # loudness of 10 ms frames
        self._far_envelope = np.zeros((settings.judge_window_ms + settings.max_delay_ms) // 10, dtype=np.float32)
        self._frames_since_judged = 0
        self.echo = True  # does the microphone carry the played audio back?

    def _new_filter(self) -> _Aec3:
        return _Aec3(sample_rate=SAMPLE_RATE, stream_delay_ms=self.settings.stream_delay_ms)

    def _sample_at(self, at: float) -> int:
        """The microphone sample arriving at monotonic time `at`."""
        if not self._arrivals:
            return self._arrived
        return round((at - min(origin for _, origin in self._arrivals)) * SAMPLE_RATE)

    def played(self, samples: np.ndarray, at: float) -> None:
        """The agent sent `samples` (16 kHz int16) at monotonic time `at`: the reference for what comes back."""
        start = self._sample_at(at)
        if start - self._play_end <= self.settings.playout_slack_ms * SAMPLE_RATE // 1000:
            start = self._play_end
        elif start - self._play_end >= self.settings.relearn_after_ms * SAMPLE_RATE // 1000:
            self._aec = self._new_filter()
        self._play_end = start + len(samples)
        offset = start - self._paired
        chunk = np.asarray(samples, dtype=np.int16)[max(0, -offset):]
        gap = np.zeros(max(0, offset - len(self._reference)), dtype=np.int16)
        limit = self.settings.max_reference_ms * SAMPLE_RATE // 1000
        self._reference = np.concatenate([self._reference[:max(0, offset)], gap, chunk])[:limit]

    def forget_reference(self, at: float) -> None:
        """The output dropped what it had not played by `at` (the answer was cut off)."""
        end = max(self._paired, self._sample_at(at))
        self._reference = self._reference[: end - self._paired]
        self._play_end = min(self._play_end, end)

    def capture(self, samples: np.ndarray, at: float) -> np.ndarray:
        """Microphone samples that arrived at `at` in, the same with any echo removed out (whole 10 ms frames; the rest waits)."""
        self._arrived += len(samples)
        self._arrivals.append((at, at - self._arrived / SAMPLE_RATE))
        while self._arrivals[0][0] < at - CLOCK_WINDOW_S:
            self._arrivals.popleft()
        self._near = np.concatenate([self._near, np.asarray(samples, dtype=np.int16)])
        usable = len(self._near) // FRAME_SAMPLES * FRAME_SAMPLES
        near, self._near = self._near[:usable], self._near[usable:]
        if not usable:
            return near
        reference, self._reference = self._reference[:usable], self._reference[usable:]
        reference = np.concatenate([reference, np.zeros(usable - len(reference), dtype=np.int16)])
        self._paired += usable
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
