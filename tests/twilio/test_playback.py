"""A spoken answer's output on the phone, with a stub synthesizer: frames, pace, marks, played position."""

import asyncio
import time

import numpy as np

from server.twilio.playback import FRAME_MS, LEAD_MS, SpokenReply
from server.voice.models import SpeechModels


class _ToneSynthesizer:
    """200 ms of tone per word, at 16 kHz."""

    sample_rate = 16000

    async def synthesize_async(self, text: str, urgent: bool = False) -> np.ndarray:
        samples = len(text.split()) * 200 * 16
        return (np.sin(np.arange(samples) * 0.1) * 8000).astype(np.int16)


async def test_frames_are_paced_marked_per_chunk_and_never_burst_after_a_pause() -> None:
    sent: list[tuple[float, str, bytes | str]] = []

    async def send_media(audio: bytes) -> None:
        sent.append((time.monotonic(), "media", audio))

    async def send_mark(name: str) -> None:
        sent.append((time.monotonic(), "mark", name))

    models = SpeechModels(transcriber=None, synthesizer=_ToneSynthesizer(), vad_pool=None)  # type: ignore[arg-type]
    reply = SpokenReply("resp_1", models, send_media, send_mark)
    await reply.text("One two three. ")
    await asyncio.sleep(1.2)  # the model pauses for longer than the 600 ms already spoken
    await reply.text("Four five. ")
    await reply.speaker.drain()

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

    assert reply.audible and reply.heard() == ""
    assert not reply.mark_played("resp_other.1")
    assert reply.mark_played("resp_1.1") and reply.heard() == "One two three."
    assert reply.mark_played("resp_1.2") and reply.heard() == "One two three. Four five."
    assert not reply.audible
