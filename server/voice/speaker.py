"""Speaking one reply: streamed text in, paced audio frames in the caller's format out.

Text is cut into speakable chunks (the first one early), each chunk is synthesised
while the previous one is being sent, and frames come out at real-time pace plus a
small lead, so a barge-in can stop the audio at once and what the caller heard is
known. The pace restarts after a pause in synthesis (the caller's buffer ran dry), so
audio that was late never leaves in a burst.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import numpy as np

from audio.chunker import SentenceChunker
from audio.codecs import AudioFormat
from audio.resample import resample
from server.voice.models import SpeechModels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpokenSegment:
    """One synthesised chunk: its text and where it sits in the reply's audio timeline."""

    text: str
    start_ms: float
    duration_ms: float


def heard_text(segments: list[SpokenSegment], audio_end_ms: float) -> str:
    """The text of the audio up to `audio_end_ms`; a partly played chunk keeps its played share of words."""
    heard: list[str] = []
    for segment in segments:
        if segment.start_ms >= audio_end_ms:
            break
        played = (audio_end_ms - segment.start_ms) / segment.duration_ms if segment.duration_ms else 1.0
        words = segment.text.split()
        heard.extend(words if played >= 1 else words[: round(len(words) * played)])
    return " ".join(heard)


@dataclass(frozen=True)
class SpokenFrame:
    """One frame of audio to send now; `words` on a chunk's first frame, `chunk_end` after its last."""

    audio: bytes
    words: str | None
    chunk_end: SpokenSegment | None


@dataclass(frozen=True)
class Pacing:
    """How frames leave: their length, how far ahead of playback, padded to whole frames or not."""

    lead_ms: float = 300.0
    frame_ms: int = 100
    whole_frames: bool = False  # telephony wants fixed-length frames: pad each chunk with silence


@dataclass
class Speaker:
    """The output half of one spoken reply: `say()` text, iterate `frames()` and send each as it comes."""

    models: SpeechModels
    output_format: AudioFormat
    pacing: Pacing = Pacing()
    speed: float = 1.0
    segments: list[SpokenSegment] = field(default_factory=list, init=False)
    first_audio_at: float | None = field(default=None, init=False)
    """When the first chunk's audio was ready (monotonic clock)."""
    failure: str | None = field(default=None, init=False)
    """Why synthesis stopped early, if it did."""
    _chunker: SentenceChunker = field(default_factory=SentenceChunker, init=False)
    _texts: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue, init=False)
    _audio: asyncio.Queue[tuple[str, bytes] | None] = field(default_factory=lambda: asyncio.Queue(4), init=False)
    _synthesis: asyncio.Task[None] = field(init=False)
    _sent_ms: float = field(default=0.0, init=False)
    _pace: tuple[float, float] | None = field(default=None, init=False)  # (monotonic time, sent_ms) the pace counts from

    def __post_init__(self) -> None:
        self._synthesis = asyncio.create_task(self._synthesise(), name="synthesis")

    def say(self, delta: str) -> None:
        """Add streamed reply text; complete chunks go to synthesis at once."""
        for chunk in self._chunker.feed(delta):
            self._texts.put_nowait(chunk)

    def flush_text(self) -> None:
        """Send what text is buffered to synthesis now (a tool is about to run)."""
        for chunk in self._chunker.flush():
            self._texts.put_nowait(chunk)

    def end_text(self) -> None:
        """The reply's text is complete: `frames()` ends after its last chunk."""
        self.flush_text()
        self._texts.put_nowait(None)

    async def stop(self) -> None:
        """Stop synthesising and wait until it has ended."""
        self._synthesis.cancel()
        await asyncio.wait({self._synthesis})

    @property
    def sent_ms(self) -> float:
        """Milliseconds of audio sent so far."""
        return self._sent_ms

    def played_ms(self) -> float:
        """An estimate of what the caller has heard: what was sent, but no more than real time allows."""
        if self._pace is None:
            return 0.0
        since, sent_then = self._pace
        return min(self._sent_ms, sent_then + (time.monotonic() - since) * 1000)

    def _render(self, audio: np.ndarray) -> bytes:
        rate = self.models.synthesizer.sample_rate
        samples = resample(audio, rate, self.output_format.rate)
        if self.pacing.whole_frames:
            frame_samples = self.output_format.rate * self.pacing.frame_ms // 1000
            samples = np.concatenate([samples, np.zeros(-len(samples) % frame_samples, dtype=samples.dtype)])
        return self.output_format.encode(samples)

    async def _synthesise(self) -> None:
        try:
            while (text := await self._texts.get()) is not None:
                audio = await self.models.synthesizer.synthesize_async(text, urgent=self.first_audio_at is None, speed=self.speed)
                encoded = await asyncio.to_thread(self._render, audio)
                if self.first_audio_at is None:
                    self.first_audio_at = time.monotonic()
                await self._audio.put((text, encoded))
        except Exception as exc:  # the caller hears less, but the reply still ends properly
            log.warning("speech synthesis failed: %s", exc)
            self.failure = str(exc) or "speech synthesis failed"
        await self._audio.put(None)

    async def _keep_pace(self) -> None:
        """Wait until sending the next frame keeps at most `lead_ms` of audio ahead of playback."""
        now = time.monotonic()
        if self._pace is None or (now - self._pace[0]) * 1000 >= self._sent_ms - self._pace[1]:
            self._pace = (now, self._sent_ms)  # the first frame, or the caller's buffer ran dry: count from now
        wait = self._pace[0] + (self._sent_ms - self._pace[1] - self.pacing.lead_ms) / 1000 - now
        if wait > 0:
            await asyncio.sleep(wait)

    async def frames(self) -> AsyncGenerator[SpokenFrame, None]:
        """The reply's audio, each frame when it is due; a frame counts as sent once the next one is asked for."""
        frame_bytes = self.output_format.bytes_per_ms * self.pacing.frame_ms
        while (item := await self._audio.get()) is not None:
            text, encoded = item
            segment = SpokenSegment(text, self._sent_ms, len(encoded) / self.output_format.bytes_per_ms)
            self.segments.append(segment)
            for offset in range(0, len(encoded), frame_bytes):
                frame = encoded[offset:offset + frame_bytes]
                last = offset + frame_bytes >= len(encoded)
                await self._keep_pace()
                yield SpokenFrame(frame, text if offset == 0 else None, segment if last else None)
                self._sent_ms += len(frame) / self.output_format.bytes_per_ms
