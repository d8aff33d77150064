"""A scripted Twilio peer over a real WebSocket, following Twilio's documented Media Streams messages.

It sends `connected`, `start` (with `customParameters`), 20 ms mu-law `media` frames at
real-time pace, `dtmf` and `stop`, and plays the server's audio like Twilio would: a
playout buffer that drains in real time, each `mark` echoed when the audio before it
has played (the first `echo_marks` of them; later ones are held back), and on `clear`
the buffer emptied and every pending or held mark echoed at once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from audio.codecs import AudioFormat
from audio.resample import resample
from tests.conftest import conversation_history
from tests.voice_client import encode_for

ULAW = AudioFormat("audio/pcmu", 8000)
FRAME_MS = 20
FRAME_BYTES = 160
MULAW_FORMAT = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}


@dataclass(frozen=True)
class Received:
    """A message from the server and when it arrived."""

    at: float
    message: dict[str, Any]


class TwilioPeer:
    """Plays Twilio's side of one bidirectional Media Stream."""

    def __init__(self, connection: ClientConnection, echo_marks: int | None) -> None:
        self.connection = connection
        self.echo_marks = echo_marks
        self.stream_sid = f"MZ{uuid.uuid4().hex}"
        self.call_sid = f"CA{uuid.uuid4().hex}"
        self.account_sid = f"AC{uuid.uuid4().hex}"
        self.received: list[Received] = []
        self.echoed: list[str] = []
        self.echoed_before_clear: int | None = None
        self.max_buffered_ms = 0.0
        self._sequence = 0
        self._chunk = 0
        self._playout_end = 0.0
        self._pending_marks: dict[str, asyncio.Task[None]] = {}
        self._held_marks: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def call(cls, url: str, parameters: dict[str, str] | None = None, *, start: bool = True,
                   echo_marks: int | None = None, headers: dict[str, str] | None = None, call_sid: str | None = None) -> TwilioPeer:
        """Connect like Twilio does: `connected`, then `start` carrying `parameters` as customParameters."""
        peer = cls(await connect(url, additional_headers=headers), echo_marks)
        peer.call_sid = call_sid or peer.call_sid
        try:
            await peer.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            if start:
                await peer.send({"event": "start", "start": {
                    "streamSid": peer.stream_sid, "accountSid": peer.account_sid, "callSid": peer.call_sid,
                    "tracks": ["inbound"], "customParameters": parameters or {}, "mediaFormat": MULAW_FORMAT,
                }, "streamSid": peer.stream_sid})
        except ConnectionClosed:
            pass  # refused at once (a bad signature): `closed()` tells why
        return peer

    async def send(self, message: dict[str, Any]) -> None:
        """Send one Twilio message (a `sequenceNumber` is added, as Twilio does)."""
        self._sequence += 1
        await self.connection.send(json.dumps({**message, "sequenceNumber": str(self._sequence)}))

    async def speak(self, samples_16k: np.ndarray) -> None:
        """Send speech as 20 ms mu-law media frames at real-time pace."""
        data = encode_for(ULAW, samples_16k)
        started = time.monotonic()
        for offset in range(0, len(data), FRAME_BYTES):
            await self.send_media(data[offset:offset + FRAME_BYTES])
            await asyncio.sleep(max(0.0, started + (offset // FRAME_BYTES + 1) * FRAME_MS / 1000 - time.monotonic()))

    async def send_media(self, mulaw: bytes) -> None:
        """Send one media frame of mu-law audio now."""
        self._chunk += 1
        await self.send({"event": "media", "streamSid": self.stream_sid, "media": {
            "track": "inbound", "chunk": str(self._chunk), "timestamp": str(self._chunk * FRAME_MS),
            "payload": base64.b64encode(mulaw).decode(),
        }})

    async def on_speaker(self, seconds: float, level_db: float | None = -20.0, delay_ms: int = 40,
                         speech: np.ndarray | None = None, speech_after_s: float = 0.0) -> float | None:
        """The caller's phone on speaker for `seconds`: the microphone picks up what the phone plays, `delay_ms`
        late at `level_db` (None: nothing, a headset), and the caller saying `speech` (16 kHz) `speech_after_s`
        into the first audio it plays.

        Like Twilio, a 20 ms frame goes out every 20 ms on a steady clock, silence included. The phone
        plays each frame of the server's as soon as it arrived and the one before it has played, and
        drops what it has not played on `clear`. Returns when the caller began to speak (monotonic clock).
        """
        rate, frame, delay = ULAW.rate, FRAME_BYTES, delay_ms * ULAW.rate // 1000
        frames = round(seconds * 1000 / FRAME_MS)
        loudspeaker = np.zeros(frames * frame + rate, dtype=np.float32)  # what the phone plays, from `started` on
        voice = np.zeros(0, np.float32) if speech is None else resample(speech, 16000, rate).astype(np.float32)
        voice_at: int | None = None  # where the caller starts speaking, on the same timeline
        started, seen, playing_until = time.monotonic(), 0, 0.0
        for tick in range(frames):
            for received in self.received[seen:]:
                if received.message["event"] == "media":
                    samples = ULAW.decode(base64.b64decode(received.message["media"]["payload"])).astype(np.float32)
                    begins = max(playing_until, received.at)
                    playing_until = begins + len(samples) / rate
                    at = max(0, round((begins - started) * rate))
                    loudspeaker[at : at + len(samples)] = samples[: len(loudspeaker) - at]
                    voice_at = at + round(speech_after_s * rate) if voice_at is None else voice_at
                elif received.message["event"] == "clear":
                    loudspeaker[max(0, round((received.at - started) * rate)) :] = 0
                    playing_until = received.at
            seen = len(self.received)
            start = tick * frame
            microphone = _window(loudspeaker, start - delay, frame) * (0.0 if level_db is None else 10 ** (level_db / 20))
            if voice_at is not None:
                microphone += _window(voice, start - voice_at, frame)
            await self.send_media(ULAW.encode(np.clip(microphone, -32768, 32767).astype(np.int16)))
            await asyncio.sleep(max(0.0, started + (tick + 1) * FRAME_MS / 1000 - time.monotonic()))
        return None if speech is None or voice_at is None else started + voice_at / rate

    async def press(self, digit: str) -> None:
        """A keypad press."""
        await self.send({"event": "dtmf", "streamSid": self.stream_sid, "dtmf": {"track": "inbound_track", "digit": digit}})

    async def stop(self) -> None:
        """The caller hung up."""
        await self.send({"event": "stop", "streamSid": self.stream_sid,
                         "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}})

    async def _read(self) -> None:
        try:
            async for frame in self.connection:
                message = json.loads(frame)
                self.received.append(Received(time.monotonic(), message))
                self._play(message)
        except ConnectionClosed:
            pass

    def _play(self, message: dict[str, Any]) -> None:
        now = time.monotonic()
        if message["event"] == "media":
            duration = len(base64.b64decode(message["media"]["payload"])) / ULAW.bytes_per_ms / 1000
            self._playout_end = max(self._playout_end, now) + duration
            self.max_buffered_ms = max(self.max_buffered_ms, (self._playout_end - now) * 1000)
        elif message["event"] == "mark":
            name = message["mark"]["name"]
            if self.echo_marks is None or len(self.echoed) + len(self._pending_marks) < self.echo_marks:
                self._pending_marks[name] = asyncio.create_task(self._echo(name, self._playout_end - now))
            else:
                self._held_marks.append(name)
        elif message["event"] == "clear":
            self._playout_end = now
            self.echoed_before_clear = len(self.echoed)
            for task in self._pending_marks.values():
                task.cancel()
            flushed, self._pending_marks, self._held_marks = [*self._pending_marks, *self._held_marks], {}, []
            for name in flushed:
                self._pending_marks[name] = asyncio.create_task(self._echo(name, 0.0))

    async def _echo(self, name: str, delay: float) -> None:
        await asyncio.sleep(max(0.0, delay))
        self._pending_marks.pop(name, None)
        self.echoed.append(name)
        try:
            await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})
        except ConnectionClosed:
            pass

    def events(self, kind: str) -> list[Received]:
        """The server's messages of one `event` type so far."""
        return [r for r in self.received if r.message["event"] == kind]

    def count(self, kind: str) -> int:
        """How many messages of one `event` type the server sent so far."""
        return len(self.events(kind))

    async def until(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait until `condition()` holds while the stream is open."""
        async with asyncio.timeout(timeout):
            while not condition():
                if self._reader.done():
                    raise AssertionError(f"the server closed the stream: {self.connection.close_code} {self.connection.close_reason}")
                await asyncio.sleep(0.02)

    async def until_quiet(self, seconds: float, timeout: float = 60.0) -> None:
        """Wait until the server has sent something, then nothing for `seconds`."""
        await self.until(lambda: bool(self.received) and time.monotonic() - self.received[-1].at >= seconds, timeout)

    async def closed(self, timeout: float = 10.0) -> tuple[int | None, str | None]:
        """Wait for the server to close the stream: its close code and reason."""
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.connection.close_code, self.connection.close_reason

    def audio(self) -> bytes:
        """All mu-law audio the server sent."""
        return b"".join(base64.b64decode(r.message["media"]["payload"]) for r in self.events("media"))

    def audio_16k(self) -> np.ndarray:
        """The server's audio decoded to 16 kHz int16, for Whisper."""
        return resample(ULAW.decode(self.audio()), ULAW.rate, 16000).astype(np.int16)

    async def hang_up(self) -> None:
        """Close the socket without a `stop` (a dropped connection)."""
        await self.connection.close()
        await asyncio.gather(self._reader, *self._pending_marks.values(), return_exceptions=True)


def _window(track: np.ndarray, start: int, length: int) -> np.ndarray:
    """`length` samples of `track` from `start` on, silence where the track is not."""
    window = np.zeros(length, dtype=np.float32)
    low, high = max(0, -start), min(length, len(track) - start)
    if low < high:
        window[low:high] = track[start + low : start + high]
    return window


async def eventually(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until `condition()` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def stored_history(redis_url: str, owner: str = "local", agent: str = "default") -> list[tuple[str, str | None, bool, bool]]:
    """The persisted history of the agent's one conversation as (role, content, hidden, interrupted)."""
    return [(m.role, m.content, m.hidden, m.interrupted) for m in await conversation_history(redis_url, agent, owner)]
