"""STT and TTS on another server speaking OpenAI's speech API (another Confab, speaches, vLLM, OpenAI).

They stand in for the local Whisper and Piper behind the same interface, so the
listener's speculative transcription and the speaker's pacing and barge-in work the
same. A remote that fails or is slower than its timeout raises `SpeechUnavailable`
with a message saying which remote and why; readiness reports the last failure and
whether the remote accepts connections.
"""

from __future__ import annotations

import asyncio
import io
import time
import wave
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import openai
from openai import AsyncOpenAI, omit

from audio.codecs import int16_to_pcm16, pcm16_to_int16
from audio.scheduler import Job
from audio.stt import TranscriptionHints

_PROBE_TIMEOUT_S = 2.0


class SpeechUnavailable(RuntimeError):
    """A remote speech server failed or was too slow; the message names it and the reason."""


@dataclass(frozen=True)
class RemoteSpeechSettings:
    """Where a remote speech endpoint is and what to ask it for."""

    base_url: str  # e.g. http://gpu-box:8765/v1
    api_key: str | None
    model: str
    timeout_s: float
    voice: str = "alloy"  # TTS only
    sample_rate: int = 24000  # TTS only: the rate of the remote's `pcm` (24 kHz for OpenAI and Confab)


class _Remote:
    """An OpenAI client for one remote, with its health: the last failure (cleared by a success)."""

    def __init__(self, settings: RemoteSpeechSettings, what: str) -> None:
        self.settings = settings
        self.what = what
        self.last_failure: str | None = None
        self.client = AsyncOpenAI(base_url=settings.base_url, api_key=settings.api_key or "unused",
                                  timeout=settings.timeout_s, max_retries=0)

    def failed(self, exc: Exception) -> SpeechUnavailable:
        reason = "no answer in time" if isinstance(exc, (openai.APITimeoutError, TimeoutError)) else str(exc) or type(exc).__name__
        self.last_failure = f"{time.strftime('%H:%M:%S')}: {reason}"
        return SpeechUnavailable(f"remote {self.what} at {self.settings.base_url} failed: {reason}")

    async def readiness(self) -> dict[str, object]:
        """Whether the remote accepts connections, and its last failure."""
        url = urlsplit(self.settings.base_url)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT_S):
                _, writer = await asyncio.open_connection(url.hostname, port)
            writer.close()
            reachable: bool | str = True
        except (OSError, TimeoutError) as exc:
            reachable = f"unreachable: {exc or 'timed out'}"
        return {"remote": self.settings.base_url, "reachable": reachable, "last_failure": self.last_failure}

    async def close(self) -> None:
        await self.client.close()


def _wav(audio: np.ndarray) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(int16_to_pcm16(audio))
    return out.getvalue()


class RemoteTranscriber(_Remote):
    """Speech-to-text by `POST {base_url}/audio/transcriptions`; each job is one request, cancelled with its task."""

    def __init__(self, settings: RemoteSpeechSettings) -> None:
        super().__init__(settings, "speech-to-text")
        self._speculative_runs = 0

    @property
    def name(self) -> str:
        """The remote model's name."""
        return self.settings.model

    @property
    def languages(self) -> None:
        """Unknown: the remote refuses a language it does not know."""
        return None

    def submit(self, audio: np.ndarray, speculative: bool = False, hints: TranscriptionHints = TranscriptionHints()) -> Job[str]:
        """Send the 16 kHz int16 speech now (a remote has its own queue; cancelling abandons the request)."""
        self._speculative_runs += speculative
        return Job(asyncio.ensure_future(self.transcribe_async(audio, hints)))

    async def transcribe_async(self, audio: np.ndarray, hints: TranscriptionHints = TranscriptionHints()) -> str:
        """The text of 16 kHz int16 speech; raises SpeechUnavailable."""
        if not len(audio):
            return ""
        try:
            result = await self.client.audio.transcriptions.create(model=self.settings.model, file=("speech.wav", _wav(audio)),
                                                                   language=hints.language or omit, prompt=hints.prompt or omit)
        except (openai.OpenAIError, OSError) as exc:
            raise self.failed(exc) from exc
        self.last_failure = None
        return result.text.strip()

    def speculation(self) -> dict[str, int]:
        """Speculative requests sent (a remote request cannot be dropped before it starts)."""
        return {"run": self._speculative_runs, "dropped": 0}


class RemoteSynthesizer(_Remote):
    """Text-to-speech by `POST {base_url}/audio/speech` as 16-bit PCM."""

    def __init__(self, settings: RemoteSpeechSettings) -> None:
        super().__init__(settings, "text-to-speech")

    @property
    def sample_rate(self) -> int:
        """The rate of the remote's PCM."""
        return self.settings.sample_rate

    async def synthesize_async(self, text: str, urgent: bool = False, speed: float = 1.0) -> np.ndarray:
        """Speech for `text` as int16 samples at `sample_rate`; raises SpeechUnavailable."""
        try:
            async with self.client.audio.speech.with_streaming_response.create(
                    model=self.settings.model, voice=self.settings.voice, input=text, response_format="pcm", speed=speed) as response:
                data = await response.read()
        except (openai.OpenAIError, OSError) as exc:
            raise self.failed(exc) from exc
        self.last_failure = None
        return pcm16_to_int16(data[: len(data) - len(data) % 2])
