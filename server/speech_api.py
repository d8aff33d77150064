"""`POST /v1/audio/transcriptions` and `POST /v1/audio/speech` served with this process's Whisper and Piper.

Parsing and encoding live in `server.speech_protocol`; this module checks the key,
decodes uploads off the event loop and runs the models through their shared priority
pools (an API request waits its turn with the voice sessions' final jobs).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from http import HTTPStatus
from urllib.parse import urlsplit

import numpy as np

from audio.chunker import SentenceChunker
from audio.codecs import int16_to_pcm16
from audio.decode import TARGET_RATE, UnreadableAudio, decode_audio, to_16k
from audio.resample import resample
from audio.stt import Segment, Transcriber
from audio.tts import Synthesizer
from server.auth import presented_key
from server.plain_http import HttpReply, HttpRequest, StreamingResponse, bytes_reply
from server.runtime import Runtime
from server.speech_protocol import (
    SPEECH_PATH,
    SPEECH_RATE,
    TRANSCRIPTIONS_PATH,
    ApiError,
    SpeechRequest,
    TranscriptionRequest,
    parse_speech,
    parse_transcription,
    speech_content_type,
    text_delta,
    text_done,
    transcription_body,
    wav_header,
)

SPEECH_API_PATHS = {TRANSCRIPTIONS_PATH, SPEECH_PATH}
MIN_AUDIO_S = 0.1


def error_response(error: ApiError) -> HttpReply:
    """An OpenAI-style JSON error."""
    return bytes_reply(error.status, "application/json", error.body())


def _reply(content_type: str, body: bytes | AsyncGenerator[bytes, None]) -> HttpReply:
    """200 with `body`, whole or streamed as it comes."""
    if isinstance(body, bytes):
        return bytes_reply(HTTPStatus.OK, content_type, body)
    return StreamingResponse(HTTPStatus.OK, content_type, body)


class SpeechApi:
    """The speech routes of one server."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle(self, request: HttpRequest) -> HttpReply:
        """Answer one request to a path in SPEECH_API_PATHS; every failure is an OpenAI-style error."""
        try:
            if self.runtime.keys.owner_of(presented_key(request.headers)) is None:
                raise ApiError("missing or invalid API key", "invalid_api_key", status=HTTPStatus.UNAUTHORIZED)
            limit = self.runtime.settings.max_upload_bytes
            if len(request.body) > limit:
                raise ApiError(f"the request body is larger than {limit} bytes (CONFAB_MAX_UPLOAD_BYTES)", "upload_too_large", "file")
            if urlsplit(request.path).path == TRANSCRIPTIONS_PATH:
                return await self._transcription(request)
            return self._speech(parse_speech(request.body))
        except ApiError as error:
            return error_response(error)

    def _models(self) -> tuple[Transcriber, Synthesizer]:
        speech = self.runtime.speech
        if speech is None or not isinstance(speech.transcriber, Transcriber) or not isinstance(speech.synthesizer, Synthesizer):
            raise ApiError("this server has no local speech models to serve (CONFAB_SPEECH=false or remote STT/TTS)",
                           "speech_unavailable", status=HTTPStatus.SERVICE_UNAVAILABLE)
        return speech.transcriber, speech.synthesizer

    async def _transcription(self, request: HttpRequest) -> HttpReply:
        transcriber, _ = self._models()
        parsed = parse_transcription(request.body, request.headers.get("Content-Type", ""), transcriber.languages)
        audio = await asyncio.to_thread(self._decode, parsed)
        duration = len(audio) / TARGET_RATE
        queue: asyncio.Queue[Segment | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def deliver(segment: Segment) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, segment)

        job = transcriber.submit_segments(audio, parsed.language, parsed.prompt, deliver)
        job.future.add_done_callback(lambda _: queue.put_nowait(None))
        if parsed.stream:
            return _reply("text/event-stream", _stream_transcript(queue, job.future))
        segments = await job.future
        text = " ".join(s.text for s in segments)
        body, content_type = transcription_body(parsed.response_format, text, parsed.language or "english", duration, segments)
        return _reply(content_type, body)

    def _decode(self, parsed: TranscriptionRequest) -> np.ndarray:
        try:
            samples, rate = decode_audio(parsed.audio, parsed.filename, parsed.content_type)
        except UnreadableAudio as exc:
            raise ApiError(f"could not read the uploaded file as audio: {exc}", "invalid_audio", "file") from None
        duration = len(samples) / rate
        if duration < MIN_AUDIO_S:
            raise ApiError(f"audio is too short ({duration:.2f} s); the minimum is {MIN_AUDIO_S} s", "audio_too_short", "file")
        limit = self.runtime.settings.max_transcription_s
        if duration > limit:
            raise ApiError(f"audio is too long ({duration:.0f} s); the maximum is {limit:.0f} s", "audio_too_long", "file")
        return to_16k(samples, rate)

    def _speech(self, request: SpeechRequest) -> HttpReply:
        _, synthesizer = self._models()
        chunker = SentenceChunker()
        chunks = chunker.feed(request.input) + chunker.flush()
        if not chunks:
            raise ApiError("`input` has nothing to say", "invalid_value", "input")
        audio = _synthesised(synthesizer, chunks, request.speed)
        body = _with_header(audio) if request.response_format == "wav" else audio
        return _reply(speech_content_type(request.response_format), body)


async def _stream_transcript(queue: asyncio.Queue[Segment | None], done: asyncio.Future[list[Segment]]) -> AsyncGenerator[bytes, None]:
    texts: list[str] = []
    try:
        while (segment := await queue.get()) is not None:
            texts.append(segment.text)
            yield text_delta(segment.text if len(texts) == 1 else " " + segment.text)
        await done
        yield text_done(" ".join(texts))
    finally:
        done.cancel()


async def _synthesised(synthesizer: Synthesizer, chunks: list[str], speed: float) -> AsyncGenerator[bytes, None]:
    """24 kHz PCM16 of each chunk as soon as it is synthesised; the next chunk is synthesised meanwhile."""
    job = synthesizer.submit(chunks[0], urgent=True, speed=speed)
    try:
        for following in [*chunks[1:], None]:
            audio = await job.future
            if following is not None:
                job = synthesizer.submit(following, speed=speed)
            yield await asyncio.to_thread(_pcm24k, audio, synthesizer.sample_rate)
    finally:
        job.cancel()


def _pcm24k(audio: np.ndarray, rate: int) -> bytes:
    return int16_to_pcm16(resample(audio, rate, SPEECH_RATE).astype(np.int16))


async def _with_header(audio: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    yield wav_header()
    async for chunk in audio:
        yield chunk
