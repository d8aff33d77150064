"""The speech models of one process: loaded once, warmed at start-up, shared by every session."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from audio.stt import Transcriber, TranscriberSettings, get_transcriber
from audio.tts import Synthesizer, SynthesizerSettings, get_synthesizer
from audio.vad import vad_session


@dataclass
class SpeechModels:
    """Whisper, Piper and the Silero session, plus the thread pool that runs VAD for every stream."""

    transcriber: Transcriber
    synthesizer: Synthesizer
    vad_pool: ThreadPoolExecutor

    @classmethod
    async def load(cls, stt: TranscriberSettings, tts: SynthesizerSettings) -> SpeechModels:
        """Load and warm all models in worker threads (start-up must not block the event loop)."""

        def load_all() -> SpeechModels:
            vad_session()
            transcriber, synthesizer = get_transcriber(stt), get_synthesizer(tts)
            transcriber.warm()
            synthesizer.warm()
            pool = ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0)), thread_name_prefix="vad")
            return cls(transcriber, synthesizer, pool)

        return await asyncio.to_thread(load_all)

    def close(self) -> None:
        """Stop the VAD threads (the models stay cached for the process)."""
        self.vad_pool.shutdown(wait=False, cancel_futures=True)
