"""OpenAI's speech API served by Confab, driven by openai-python over loopback."""

import asyncio
import io
import json
from collections.abc import AsyncIterator

import numpy as np
import openai
import pytest
import soundfile
from openai import AsyncOpenAI

from audio.codecs import pcm16_to_int16
from audio.resample import resample
from audio.stt import get_transcriber
from server.config import Settings
from tests.audio.speech_data import DATA, SCRIPT, read_wav, word_error_rate
from tests.conftest import running_server

SENTENCE = "The museum is open from ten until four on Sundays."


def _client(server, key: str = "unused") -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key=key, max_retries=0)


def _encoded(name: str, fmt: str, subtype: str) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, read_wav(name), 16000, format=fmt, subtype=subtype)
    return out.getvalue()


def _heard(pcm24k: bytes) -> str:
    return get_transcriber().transcribe(resample(pcm16_to_int16(pcm24k), 24000, 16000).astype(np.int16))


async def test_an_uploaded_wav_is_transcribed(server) -> None:
    result = await _client(server).audio.transcriptions.create(model="whisper-1", file=DATA / "speech05.wav")
    assert word_error_rate(SCRIPT["speech05.wav"], result.text) <= 0.25, result.text


@pytest.mark.parametrize(("filename", "data"), [
    ("question.mp3", lambda: _encoded("speech05.wav", "MP3", "MPEG_LAYER_III")),
    ("question.ogg", lambda: _encoded("speech05.wav", "OGG", "VORBIS")),
    ("question.pcm", lambda: resample(read_wav("speech05.wav"), 16000, 24000).astype("<i2").tobytes()),
], ids=["mp3", "ogg", "pcm24k"])
async def test_compressed_and_raw_uploads_are_transcribed(server, filename: str, data) -> None:
    result = await _client(server).audio.transcriptions.create(model="whisper-1", file=(filename, data()))
    assert word_error_rate(SCRIPT["speech05.wav"], result.text) <= 0.25, result.text


async def test_text_format_answers_the_bare_transcript(server) -> None:
    text = await _client(server).audio.transcriptions.create(model="whisper-1", file=DATA / "speech01.wav", response_format="text")
    assert word_error_rate(SCRIPT["speech01.wav"], text) <= 0.25, text


async def test_verbose_json_reports_duration_language_and_segments(server) -> None:
    result = await _client(server).audio.transcriptions.create(
        model="whisper-1", file=DATA / "speech02.wav", response_format="verbose_json", language="en")
    assert result.duration == pytest.approx(len(read_wav("speech02.wav")) / 16000, abs=0.01)
    assert result.language == "en"
    assert result.segments and " ".join(s.text for s in result.segments) == result.text


async def test_a_streamed_transcription_sends_deltas_then_the_whole_text(server) -> None:
    stream = await _client(server).audio.transcriptions.create(model="whisper-1", file=DATA / "speech05.wav", stream=True)
    events = [event async for event in stream]
    assert [e.type for e in events][-1] == "transcript.text.done"
    deltas = "".join(e.delta for e in events if e.type == "transcript.text.delta")
    assert deltas == events[-1].text
    assert word_error_rate(SCRIPT["speech05.wav"], deltas) <= 0.25, deltas


async def test_speech_is_a_wav_that_says_the_input(server) -> None:
    response = await _client(server).audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE, response_format="wav")
    samples, rate = soundfile.read(io.BytesIO(response.content), dtype="int16")
    assert rate == 24000
    assert word_error_rate(SENTENCE, _heard(samples.astype("<i2").tobytes())) <= 0.3


async def test_streamed_speech_arrives_in_pieces_as_it_is_synthesised(server) -> None:
    text = "Hello there. " + SENTENCE + " Have a lovely day and see you soon."
    async with _client(server).audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=text, response_format="pcm") as response:
        chunks = [chunk async for chunk in _raw_chunks(response.iter_bytes())]
    assert len(chunks) >= 3
    assert word_error_rate(text, _heard(b"".join(chunks))) <= 0.3


async def _raw_chunks(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for chunk in source:
        yield chunk


async def test_an_upload_that_is_not_audio_is_refused_with_a_400(server) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await _client(server).audio.transcriptions.create(model="whisper-1", file=("notes.wav", b"these are not samples" * 50))
    assert refused.value.code == "invalid_audio"
    assert refused.value.param == "file"


async def test_speech_longer_than_the_limit_is_refused_with_a_400(settings: Settings) -> None:
    async with running_server(settings.model_copy(update={"max_transcription_s": 2.0})) as server:
        with pytest.raises(openai.BadRequestError) as refused:
            await _client(server).audio.transcriptions.create(model="whisper-1", file=DATA / "speech05.wav")
    assert refused.value.code == "audio_too_long"


async def test_an_upload_larger_than_the_limit_is_refused_with_a_400(settings: Settings) -> None:
    async with running_server(settings.model_copy(update={"max_upload_bytes": 20_000})) as server:
        with pytest.raises(openai.BadRequestError) as refused:
            await _client(server).audio.transcriptions.create(model="whisper-1", file=DATA / "speech05.wav")
    assert "larger than 20000 bytes" in refused.value.message


async def test_the_speech_api_takes_the_same_keys_as_realtime(settings: Settings) -> None:
    async with running_server(settings.model_copy(update={"api_keys": ["acme:sk-good"]})) as server:
        with pytest.raises(openai.AuthenticationError):
            await _client(server, "sk-bad").audio.speech.create(model="tts-1", voice="alloy", input="Hello.")
        response = await _client(server, "sk-good").audio.speech.create(model="tts-1", voice="alloy", input="Hello.")
    assert response.content.startswith(b"RIFF")


async def test_a_malformed_post_gets_a_json_400_not_a_dropped_connection(server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: twelve\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
