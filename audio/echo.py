"""Echo cancellation: remove Confab's own voice from the caller's microphone before the VAD hears it.

Confab knows every sample it plays, so this is reference-based: WebRTC's AEC3 (the canceller
Chrome runs, through the `pywebrtc-audio` bindings) adapts a filter from the played audio (the
far end) to its echo in the microphone (the near end), finds the delay itself (tested up to
300 ms) and subtracts it, leaving the caller's voice. CPU work (~15 ms per second of audio):
call it from the same worker thread as the VAD, one stream per instance.
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

    def played(self, samples: np.ndarray) -> None:
        """Queue audio the agent is playing now (16 kHz int16), the reference for what comes back."""
        limit = self.settings.max_reference_ms * SAMPLE_RATE // 1000
        self._reference = np.concatenate([self._reference, np.asarray(samples, dtype=np.int16)])[-limit:]

    def forget_reference(self) -> None:
        """Drop queued played audio that will not play after all (the answer was cut off)."""
        self._reference = self._reference[:0]

    def capture(self, samples: np.ndarray) -> np.ndarray:
        """Microphone samples in, the same with the echo removed out (whole 10 ms frames; the rest waits)."""
        self._near = np.concatenate([self._near, np.asarray(samples, dtype=np.int16)])
        usable = len(self._near) // FRAME_SAMPLES * FRAME_SAMPLES
        near, self._near = self._near[:usable], self._near[usable:]
        if not usable:
            return near
        reference, self._reference = self._reference[:usable], self._reference[usable:]
        reference = np.concatenate([reference, np.zeros(usable - len(reference), dtype=np.int16)])
        return self._aec.process(near, reference)
