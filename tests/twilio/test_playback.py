"""A spoken answer's output on the phone, with a stub synthesizer: frames, pace, marks, played position."""

import asyncio
import time

import numpy as np

from server.twilio.playback import FRAME_MS, LEAD_MS, TWILIO_OUTPUT
from server.voice.models import SpeechModels
from server.voice.playout import EchoedMarks
from server.voice.speaker import Speaker, heard_text


class _ToneSynthesizer:
    """200 ms of tone per word, at 16 kHz."""

    sample_rate = 16000

    async def synthesize_async(self, text: str, urgent: bool = False, speed: float = 1.0) -> np.ndarray:
        samples = len(text.split()) * 200 * 16
        return (np.sin(np.arange(samples) * 0.1) * 8000).astype(np.int16)


async def test_frames_are_paced_marked_per_chunk_and_never_burst_after_a_pause() -> None:
    sent: list[tuple[float, str, bytes | str]] = []
    models = SpeechModels(transcriber=None, synthesizer=_ToneSynthesizer(), vad_pool=None)  # type: ignore[arg-type]
    speaker = Speaker(models, TWILIO_OUTPUT.format, TWILIO_OUTPUT.pacing)
    playout = EchoedMarks("resp_1")

    async def play() -> None:
        async for frame in speaker.frames():
            sent.append((time.monotonic(), "media", frame.audio))
            if frame.chunk_end is not None:
                sent.append((time.monotonic(), "mark", playout.chunk_sent(frame.chunk_end)))

    playing = asyncio.create_task(play())
    speaker.say("One two three. ")
    await asyncio.sleep(1.2)  # the model pauses for longer than the 600 ms already spoken
    speaker.say("Four five. ")
    speaker.end_text()
    await playing

    assert [kind for _, kind, _ in sent].count("mark") == 2
    assert sent[-1][1:] == ("mark", "resp_1.2")
    frames = [(at, payload) for at, kind, payload in sent if kind == "media"]
    assert all(len(payload) == 160 for _, payload in frames)
    assert len(frames) == (600 + 400) // FRAME_MS
    playout_end, max_buffered = 0.0, 0.0
    for at, _ in frames:
        playout_end = max(playout_end, at) + FRAME_MS / 1000
        max_buffered = max(max_buffered, (playout_end - at) * 1000)
    assert max_buffered <= LEAD_MS + FRAME_MS + 20, f"{max_buffered:.0f} ms queued: the late chunk left in a burst"

    def heard() -> str:
        return heard_text(speaker.segments, playout.played_ms())

    assert playout.unconfirmed and heard() == ""
    assert not playout.confirm("resp_other.1")
    assert playout.confirm("resp_1.1") and heard() == "One two three."
    assert playout.confirm("resp_1.2") and heard() == "One two three. Four five."
    assert not playout.unconfirmed
