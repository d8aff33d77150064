"""The speech fields of a Realtime session: output voice and speed, input transcription, transcription-only sessions.

Each test drives the server with openai-python's realtime client over a real socket, with the real
Whisper and Piper (only the language model is scripted); every server event is checked against
openai-python's `RealtimeServerEvent` union.
"""

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import openai
from openai.resources.realtime.realtime import AsyncRealtimeConnection

from audio.codecs import AudioFormat
from audio.resample import resample
from server.config import Settings
from tests.audio.speech_data import SCRIPT, read_wav, silence, word_error_rate
from tests.conftest import conversation_history, running_server
from tests.fakes.llm_server import ScriptedLLM, Text
from tests.realtime_client import until_validated
from tests.redis_fixture import free_port

PCM24 = AudioFormat("audio/pcm", 24000)
ANSWER = "The museum is open from ten until four on Sundays."
_COMPLETED = "conversation.item.input_audio_transcription.completed"


@asynccontextmanager
async def _connect(port: int, **session: Any) -> AsyncIterator[AsyncRealtimeConnection]:
    """A connection past `session.created` and `conversation.created`, with `session` applied when given."""
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
    async with client.realtime.connect(model="default") as connection:
        await until_validated(connection, "conversation.created")
        if session:
            await connection.session.update(session={"type": "realtime", **session})
            await until_validated(connection, "session.updated")
        yield connection


async def _say(connection: AsyncRealtimeConnection, wav: str) -> None:
    """Speech with silence after it, in 24 kHz PCM, as fast as the socket takes it."""
    speech = np.concatenate([silence(300), read_wav(wav), silence(1500)])
    data = PCM24.encode(resample(speech, 16000, 24000).astype(np.int16))
    for offset in range(0, len(data), 9600):
        await connection.input_audio_buffer.append(audio=base64.b64encode(data[offset:offset + 9600]).decode())


async def _spoken_answer_seconds(connection: AsyncRealtimeConnection) -> float:
    """Ask a typed question and measure the answer's audio deltas (24 kHz 16-bit)."""
    await connection.conversation.item.create(item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hours?"}]})
    await connection.response.create()
    events = await until_validated(connection, "response.done")
    audio = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")
    return len(audio) / PCM24.bytes_per_ms / 1000


async def test_speed_1_5_makes_the_same_answer_measurably_shorter(server, llm: ScriptedLLM) -> None:
    llm.script(Text(ANSWER), Text(ANSWER))
    async with _connect(server.port) as connection:
        normal = await _spoken_answer_seconds(connection)
        await connection.session.update(session={"type": "realtime", "audio": {"output": {"speed": 1.5}}})
        updated = (await until_validated(connection, "session.updated"))[-1]
        fast = await _spoken_answer_seconds(connection)
    assert updated.session.audio.output.speed == 1.5
    assert normal > 1.0 and fast < normal * 0.8, (normal, fast)


async def test_a_speed_outside_openais_range_is_refused_by_name(server) -> None:
    async with _connect(server.port) as connection:
        await connection.session.update(session={"type": "realtime", "audio": {"output": {"speed": 2.0}}})
        events = await until_validated(connection, "session.updated")
    error = next(e.error for e in events if e.type == "error")
    assert (error.param, error.code) == ("session.audio.output.speed", "invalid_value")
    assert events[-1].session.audio.output.speed == 1.0


async def test_an_openai_voice_name_speaks_with_the_installed_voice_and_the_echo_names_it(server) -> None:
    async with _connect(server.port) as connection:
        await connection.session.update(session={"type": "realtime", "audio": {"output": {"voice": "marin"}}})
        events = await until_validated(connection, "session.updated")
    assert [e.type for e in events] == ["session.updated"]
    assert events[-1].session.audio.output.voice == "joe"


async def test_transcription_deltas_arrive_before_completed_and_carry_the_words(server, llm: ScriptedLLM) -> None:
    llm.script(Text(ANSWER))
    async with _connect(server.port, output_modalities=["text"]) as connection:
        await _say(connection, "speech05.wav")
        events = await until_validated(connection, _COMPLETED)
    deltas = [e.delta for e in events if e.type == "conversation.item.input_audio_transcription.delta"]
    completed = events[-1]
    assert deltas and "".join(deltas) == completed.transcript
    assert word_error_rate(SCRIPT["speech05.wav"], completed.transcript) <= 0.25, completed.transcript


async def test_the_completed_transcription_reports_the_seconds_of_audio_transcribed(server, llm: ScriptedLLM) -> None:
    llm.script(Text(ANSWER))
    async with _connect(server.port, output_modalities=["text"]) as connection:
        await _say(connection, "speech05.wav")
        usage = (await until_validated(connection, _COMPLETED))[-1].usage
    spoken_s = len(read_wav("speech05.wav")) / 16000
    assert usage.type == "duration" and abs(usage.seconds - spoken_s) < 1.0, (usage.seconds, spoken_s)


async def test_a_transcription_prompt_reaches_whisper_and_biases_its_spelling(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Noted."), Text("Noted."))
    prompted = {"audio": {"input": {"transcription": {"model": "whisper-1", "prompt": "The customer lives on Oak Lane."}}}}
    async with _connect(server.port, output_modalities=["text"]) as connection:
        await _say(connection, "speech03.wav")
        plain = (await until_validated(connection, _COMPLETED))[-1].transcript
        await until_validated(connection, "response.done")
        await connection.session.update(session={"type": "realtime", **prompted})
        await until_validated(connection, "session.updated")
        await _say(connection, "speech03.wav")
        biased = (await until_validated(connection, _COMPLETED))[-1].transcript
    assert "Oak Lane" not in plain and "Oak Lane" in biased, (plain, biased)


async def test_a_language_the_model_does_not_know_is_refused_by_name(server) -> None:
    async with _connect(server.port) as connection:
        await connection.session.update(session={"type": "realtime", "audio": {"input": {"transcription": {"language": "fr"}}}})
        events = await until_validated(connection, "session.updated")
    error = next(e.error for e in events if e.type == "error")
    assert (error.param, error.code) == ("session.audio.input.transcription.language", "invalid_value")
    assert "tiny.en" in error.message and events[-1].session.audio.input.transcription.language is None


async def test_an_openai_transcription_model_name_means_the_installed_model(server) -> None:
    async with _connect(server.port) as connection:
        await connection.session.update(session={"type": "realtime", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe", "language": "en"}}}})
        events = await until_validated(connection, "session.updated")
    transcription = events[-1].session.audio.input.transcription
    assert [e.type for e in events] == ["session.updated"]
    assert (transcription.model, transcription.language) == ("tiny.en", "en")


async def test_an_unknown_transcription_model_is_refused_by_name(server) -> None:
    async with _connect(server.port) as connection:
        await connection.session.update(session={"type": "realtime", "audio": {"input": {"transcription": {"model": "large-v3"}}}})
        events = await until_validated(connection, "session.updated")
    error = next(e.error for e in events if e.type == "error")
    assert (error.param, error.code) == ("session.audio.input.transcription.model", "invalid_value")


async def test_with_transcription_null_no_transcription_event_is_sent_but_the_model_hears_the_words(server, llm: ScriptedLLM) -> None:
    llm.script(Text(ANSWER))
    async with _connect(server.port, output_modalities=["text"], audio={"input": {"transcription": None}}) as connection:
        await _say(connection, "speech05.wav")
        events = await until_validated(connection, "response.done")
    assert not [e for e in events if e.type.startswith("conversation.item.input_audio_transcription")]
    heard = llm.requests[-1]["messages"][-1]["content"]
    assert word_error_rate(SCRIPT["speech05.wav"], heard) <= 0.25, heard


async def test_a_failed_transcription_is_a_failed_event_for_its_item(settings: Settings, llm: ScriptedLLM) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"
    async with running_server(settings.model_copy(update={"stt_url": down})) as gateway:
        async with _connect(gateway.port, output_modalities=["text"]) as connection:
            await _say(connection, "speech05.wav")
            events = await until_validated(connection, "conversation.item.input_audio_transcription.failed")
    committed = next(e for e in events if e.type == "input_audio_buffer.committed")
    failed = events[-1]
    assert failed.item_id == committed.item_id and failed.error.code == "speech_unavailable" and down.removesuffix("/v1") in failed.error.message
    assert _COMPLETED not in [e.type for e in events]


async def test_a_transcription_session_emits_deltas_never_answers_and_stores_nothing(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text(ANSWER))
    async with _connect(server.port) as connection:
        await connection.session.update(session={"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}})
        updated = (await until_validated(connection, "session.updated"))[-1]
        await _say(connection, "speech05.wav")
        events = await until_validated(connection, _COMPLETED)
        await _say(connection, "speech01.wav")
        events += await until_validated(connection, _COMPLETED)
    assert updated.session.type == "transcription" and updated.session.audio.input.transcription.model == "tiny.en"
    assert [e.type for e in events].count("conversation.item.input_audio_transcription.delta") == 2
    assert word_error_rate(SCRIPT["speech01.wav"], events[-1].transcript) <= 0.25
    assert not [e for e in events if e.type.startswith("response.")] and llm.requests == []
    assert await conversation_history(redis_url) == []


async def test_a_transcription_session_refuses_response_create(server) -> None:
    async with _connect(server.port) as connection:
        await connection.session.update(session={"type": "transcription"})
        await until_validated(connection, "session.updated")
        await connection.response.create()
        error = (await until_validated(connection, "error"))[-1].error
    assert (error.code, error.param) == ("unsupported_event", "type") and "transcription session" in error.message


async def test_a_transcription_session_refuses_an_idle_timeout_by_name(server) -> None:
    async with _connect(server.port) as connection:
        await connection.session.update(session={"type": "transcription", "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 5000}}}})
        events = await until_validated(connection, "session.updated")
    error = next(e.error for e in events if e.type == "error")
    assert (error.param, error.code) == ("session.audio.input.turn_detection.idle_timeout_ms", "invalid_value")
    assert events[-1].session.type == "transcription" and events[-1].session.audio.input.turn_detection.idle_timeout_ms is None


async def test_a_client_secret_minted_for_a_transcription_session_opens_a_transcription_session(settings: Settings) -> None:
    async with running_server(settings.model_copy(update={"api_keys": ["acme:acme-key"]})) as gateway:
        minting = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{gateway.port}/v1", api_key="acme-key")
        secret = await minting.realtime.client_secrets.create(session={"type": "transcription", "audio": {"input": {"transcription": {"model": "whisper-1", "language": "en"}}}})
        client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{gateway.port}/v1", api_key=secret.value)
        async with client.realtime.connect(model="gpt-realtime") as connection:
            updated = (await until_validated(connection, "session.updated"))[-1]
            await connection.response.create()
            error = (await until_validated(connection, "error"))[-1].error
    assert secret.session.type == "transcription" and secret.session.audio.input.transcription.model == "tiny.en"
    assert updated.session.type == "transcription" and updated.session.audio.input.transcription.language == "en"
    assert error.code == "unsupported_event"


async def test_a_caller_hanging_up_as_its_words_are_stored_does_not_hold_up_the_server_stopping(settings: Settings, llm: ScriptedLLM) -> None:
    llm.script(Text(ANSWER), Text(ANSWER))
    async with asyncio.timeout(90):  # a stop held up for good would otherwise hang the test
        async with running_server(settings) as gateway:
            async with _connect(gateway.port, output_modalities=["text"]) as connection:
                await _say(connection, "speech05.wav")
                await until_validated(connection, "response.done")
                await _say(connection, "speech03.wav")
                await until_validated(connection, _COMPLETED)  # the words are being stored now: hang up
            stopping = time.monotonic()
    assert time.monotonic() - stopping < 10.0


async def test_a_transcription_field_whisper_cannot_honour_is_refused_by_name_and_the_transcription_in_force_stays(server) -> None:
    async with _connect(server.port) as connection:
        await connection.session.update(session={"type": "realtime", "audio": {"input": {"transcription": {"language": "en", "keywords": ["Oak Lane"]}}}})
        events = await until_validated(connection, "session.updated")
    error = next(e.error for e in events if e.type == "error")
    assert (error.param, error.code) == ("session.audio.input.transcription.keywords", "unknown_parameter")
    assert events[-1].session.audio.input.transcription.language is None
