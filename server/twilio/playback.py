"""One answer spoken on the phone: its speaker, and how much of it Twilio has confirmed played.

Each spoken chunk is followed by a `mark`; Twilio echoes a mark once the audio before
it has played. The last echoed mark is therefore the played position, and what the
caller heard of the answer is the text of the chunks up to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from agent.events import ClientToolCall
from audio.codecs import AudioFormat
from server.voice.models import SpeechModels
from server.voice.speaker import Speaker, SpokenSegment, heard_text

TWILIO_FORMAT = AudioFormat("audio/pcmu", 8000)
FRAME_MS = 20
LEAD_MS = 80.0  # audio queued ahead of playback at Twilio: enough for network jitter, never a burst

SendBytes = Callable[[bytes], Awaitable[None]]
SendMark = Callable[[str], Awaitable[None]]


@dataclass
class SpokenReply:
    """The output of one response: paced 20 ms mu-law frames, a mark after each chunk, the played position."""

    response_id: str
    models: SpeechModels
    send_media: SendBytes
    send_mark: SendMark
    task: asyncio.Task[None] | None = None
    played_ms: float = 0.0
    speaker: Speaker = field(init=False)
    _unplayed: dict[str, float] = field(default_factory=dict, init=False)  # mark name -> where its chunk ends (ms)

    def __post_init__(self) -> None:
        self.speaker = Speaker(
            self.models, TWILIO_FORMAT, self._audio, lead_ms=LEAD_MS, frame_ms=FRAME_MS,
            whole_frames=True, on_segment_sent=self._chunk_sent,
        )

    async def _audio(self, frame: bytes, words: str | None) -> None:
        await self.send_media(frame)

    async def _chunk_sent(self, segment: SpokenSegment) -> None:
        name = f"{self.response_id}.{len(self.speaker.segments)}"
        self._unplayed[name] = segment.start_ms + segment.duration_ms
        await self.send_mark(name)

    def mark_played(self, name: str) -> bool:
        """Twilio echoed a mark: the audio up to its chunk's end has played. False if the mark is not ours."""
        end_ms = self._unplayed.pop(name, None)
        if end_ms is None:
            return False
        self.played_ms = max(self.played_ms, end_ms)
        return True

    @property
    def generating(self) -> bool:
        """The model or the speaker is still at work on this answer."""
        return self.task is not None and not self.task.done()

    @property
    def audible(self) -> bool:
        """Still being generated, or sent audio not yet confirmed played (the caller may be hearing it)."""
        return self.generating or bool(self._unplayed)

    def heard(self) -> str:
        """The answer's text up to the played position."""
        return heard_text(self.speaker.segments, self.played_ms)

    async def text(self, delta: str) -> None:
        """Speak streamed answer text."""
        self.speaker.say(delta)

    def flush(self) -> None:
        """A tool is about to run: speak the buffered text now."""
        self.speaker.flush_text()

    async def function_call(self, call: ClientToolCall) -> None:
        """Phone calls declare no client-side tools, so the agent never hands one over."""
        raise RuntimeError(f"client-side tool {call.name!r} called on a phone call")
