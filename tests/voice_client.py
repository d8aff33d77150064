"""Driving a voice session as a caller would: speech in real-time 20 ms frames, answer audio collected."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import numpy as np

from audio.codecs import AudioFormat
from audio.resample import resample
from audio.stt import Transcriber
from tests.realtime_client import RealtimeTestClient

FRAME_MS = 20


def voice_session(fmt: AudioFormat, **turn_detection: Any) -> dict[str, Any]:
    """A `session.update` body for speech in and out in `fmt`."""
    wire: dict[str, Any] = {"type": fmt.type} | ({"rate": fmt.rate} if fmt.type == "audio/pcm" else {})
    audio_in: dict[str, Any] = {"format": wire}
    if turn_detection:
        audio_in["turn_detection"] = turn_detection.get("value")
    return {"output_modalities": ["audio"], "audio": {"input": audio_in, "output": {"format": wire}}}


def encode_for(fmt: AudioFormat, samples_16k: np.ndarray) -> bytes:
    """16 kHz int16 speech as wire bytes in `fmt`."""
    return fmt.encode(resample(samples_16k, 16000, fmt.rate).astype(np.int16))


async def stream(client: RealtimeTestClient, fmt: AudioFormat, samples_16k: np.ndarray, realtime: bool = True) -> None:
    """Send speech as `input_audio_buffer.append` events of 20 ms, paced like a microphone."""
    data = encode_for(fmt, samples_16k)
    frame = fmt.bytes_per_ms * FRAME_MS
    started = time.monotonic()
    for i, offset in enumerate(range(0, len(data), frame)):
        await client.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(data[offset:offset + frame]).decode()})
        if realtime:
            await asyncio.sleep(max(0.0, started + (i + 1) * FRAME_MS / 1000 - time.monotonic()))


def answer_audio(events: list[dict[str, Any]], fmt: AudioFormat) -> np.ndarray:
    """The answer's audio deltas decoded to 16 kHz int16."""
    data = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
    return resample(fmt.decode(data), fmt.rate, 16000).astype(np.int16)


def transcribe_answer(transcriber: Transcriber, events: list[dict[str, Any]], fmt: AudioFormat) -> str:
    """What the answer audio says, according to Whisper."""
    return transcriber.transcribe(answer_audio(events, fmt))
