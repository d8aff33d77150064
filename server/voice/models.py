"""The speech models of one process: loaded once, warmed at start-up, shared by every session.

STT and TTS are each either local (Whisper, Piper, in this process's priority pools) or
remote (another server's OpenAI speech API); the listener and speaker see one interface.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from audio.scheduler import Job
from audio.stt import Transcriber, TranscriberSettings, TranscriptionHints, get_transcriber
from audio.tts import Synthesizer, SynthesizerSettings, get_synthesizer
from audio.vad import vad_session
from server.voice.remote_speech import RemoteSpeechSettings, RemoteSynthesizer, RemoteTranscriber


class SpeechToText(Protocol):
    """What the listener needs of STT."""

    @property
    def name(self) -> str:
        """The model's name, as a session reports it."""
        ...

    @property
    def languages(self) -> tuple[str, ...] | None:
        """The languages (ISO-639-1) the model transcribes; None: unknown (a remote decides)."""
        ...

    def submit(self, audio: np.ndarray, speculative: bool = False, hints: TranscriptionHints = TranscriptionHints()) -> Job[str]:
        """Transcribe 16 kHz int16 speech off the event loop; a speculative job may be cancelled or promoted."""
        ...

    async def transcribe_async(self, audio: np.ndarray) -> str:
        """A final transcription."""
        ...

    def speculation(self) -> dict[str, int]:
        """Speculative transcriptions "run" and "dropped" before they started."""
        ...


class TextToSpeech(Protocol):
    """What the speaker needs of TTS."""

    @property
    def sample_rate(self) -> int:
        """The rate of the synthesised samples."""
        ...

    async def synthesize_async(self, text: str, urgent: bool = False, speed: float = 1.0) -> np.ndarray:
        """Speech for `text` as int16 samples; `urgent` for the first chunk of an answer; `speed` > 1 is faster."""
        ...


@dataclass
class SpeechModels:
    """STT, TTS and the Silero session, plus the thread pool that runs VAD for every stream."""

    transcriber: SpeechToText
    synthesizer: TextToSpeech
    vad_pool: ThreadPoolExecutor

    @classmethod
    async def load(cls, stt: TranscriberSettings | RemoteSpeechSettings,
                   tts: SynthesizerSettings | RemoteSpeechSettings) -> SpeechModels:
        """Load and warm the local models in worker threads (start-up must not block the event loop)."""

        def load_all() -> SpeechModels:
            vad_session()
            transcriber: SpeechToText
            synthesizer: TextToSpeech
            if isinstance(stt, TranscriberSettings):
                transcriber = get_transcriber(stt)
                transcriber.warm()
            else:
                transcriber = RemoteTranscriber(stt)
            if isinstance(tts, SynthesizerSettings):
                synthesizer = get_synthesizer(tts)
                synthesizer.warm()
            else:
                synthesizer = RemoteSynthesizer(tts)
            pool = ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0)), thread_name_prefix="vad")
            return cls(transcriber, synthesizer, pool)

        return await asyncio.to_thread(load_all)

    def describe(self) -> str:
        """Which STT and TTS this process uses, for start-up banners."""
        return f"STT {_where(self.transcriber)}, TTS {_where(self.synthesizer)}"

    async def readiness(self) -> tuple[bool, dict[str, object]]:
        """Whether remote STT/TTS (if any) are reachable and their last call succeeded, with details."""
        checks: dict[str, object] = {}
        ready = True
        for kind, model in (("stt", self.transcriber), ("tts", self.synthesizer)):
            if isinstance(model, (RemoteTranscriber, RemoteSynthesizer)):
                check = await model.readiness()
                ready = ready and check["reachable"] is True and check["last_failure"] is None
                checks[kind] = check
            else:
                checks[kind] = "local"
        return ready, checks

    async def close(self) -> None:
        """Stop the VAD threads and close remote clients (local models stay cached for the process)."""
        self.vad_pool.shutdown(wait=False, cancel_futures=True)
        for model in (self.transcriber, self.synthesizer):
            if isinstance(model, (RemoteTranscriber, RemoteSynthesizer)):
                await model.close()


def _where(model: object) -> str:
    if isinstance(model, (RemoteTranscriber, RemoteSynthesizer)):
        return f"remote {model.settings.base_url} ({model.settings.model})"
    if isinstance(model, Transcriber):
        return f"local {os.path.basename(model.settings.model)}"
    if isinstance(model, Synthesizer):
        return f"local {os.path.basename(model.settings.voice)}"
    return type(model).__name__
