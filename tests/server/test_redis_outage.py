"""A Redis outage mid-call: a short one goes unnoticed, a long one costs one apology and loses nothing completed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from audio.codecs import AudioFormat
from audio.stt import get_transcriber
from server.app import Gateway
from server.config import Settings
from server.voice.conversation import LOST_WORDS_APOLOGY
from tests.audio.speech_data import SCRIPT, read_wav, silence, word_error_rate
from tests.conftest import conversation_history, running_server, ws_url
from tests.fakes.llm_server import ScriptedLLM, Text
from tests.realtime_client import RealtimeTestClient
from tests.redis_fixture import RedisProcess
from tests.twilio.peer import TwilioPeer
from tests.voice_client import stream, voice_session

PCM24 = AudioFormat("audio/pcm", 24000)
FIRST_ANSWER = "The museum opens at ten."
LAST_ANSWER = "Yes, I am still here."


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of this test alone, which it stops and starts again (same port, same AOF)."""
    process = RedisProcess(tmp_path / "outage-redis")
    process.start()
    yield process
    process.stop()


def _utterance(name: str) -> np.ndarray:
    return np.concatenate([silence(300), read_wav(name), silence(1500)])


async def _back_after(redis: RedisProcess, seconds: float) -> None:
    await asyncio.sleep(seconds)
    await asyncio.to_thread(redis.start)


def _text_only(settings: Settings, redis: RedisProcess, budget_s: float = 1.0) -> Settings:
    """A server without speech models (quicker to start) on `redis`, giving up on it after `budget_s`."""
    return settings.model_copy(update={"redis_url": redis.url, "redis_retry_budget_s": budget_s, "speech": False})


async def _conversation_opened(redis: RedisProcess) -> None:
    """Wait until the call's conversation is stored (its `start` was handled)."""
    async with asyncio.timeout(10):
        while True:
            try:
                await conversation_history(redis.url)
                return
            except (AssertionError, ValueError):
                await asyncio.sleep(0.05)


@pytest.fixture
async def short_budget_server(settings: Settings, own_redis: RedisProcess) -> AsyncIterator[Gateway]:
    """A server on `own_redis` that gives up on Redis after 1 s, well within a 5 s outage."""
    async with running_server(settings.model_copy(update={"redis_url": own_redis.url, "redis_retry_budget_s": 1.0})) as gateway:
        yield gateway


async def test_words_spoken_during_a_long_outage_get_an_apology_and_the_call_goes_on(
    short_budget_server: Gateway, own_redis: RedisProcess, llm: ScriptedLLM,
) -> None:
    llm.script(Text(FIRST_ANSWER), Text(LAST_ANSWER))
    client = await RealtimeTestClient.open(ws_url(short_budget_server), voice_session(PCM24))
    _, first = await client.ask("When does the museum open?")
    assert first[-1]["response"]["status"] == "completed"

    own_redis.stop()
    back = asyncio.create_task(_back_after(own_redis, 5.0))
    await stream(client, PCM24, _utterance("speech01.wav"))
    during = await client.until_type("response.done", timeout=60)
    await back

    [error] = [e["error"] for e in during if e["type"] == "error"]
    assert error["code"] == "memory_unavailable" and "Redis" in error["message"]
    assert any(e["type"] == "response.output_audio.delta" for e in during)
    assert next(e["transcript"] for e in during if e["type"] == "response.output_audio_transcript.done") == LOST_WORDS_APOLOGY
    assert len(llm.requests) == 1, "words that could not be stored are not answered"

    _, after = await client.ask("Are you still there?")
    await client.close()
    assert after[-1]["response"]["status"] == "completed"
    context = llm.requests[-1]["messages"]
    assert {"role": "user", "content": "When does the museum open?"} in context
    assert {"role": "assistant", "content": FIRST_ANSWER} in context
    stored = [(m.role, m.content) for m in await conversation_history(own_redis.url)]
    assert stored == [("user", "When does the museum open?"), ("assistant", FIRST_ANSWER),
                      ("user", "Are you still there?"), ("assistant", LAST_ANSWER)]


async def test_a_phone_caller_whose_words_cannot_be_stored_hears_the_apology_and_stays_on_the_line(
    short_budget_server: Gateway, own_redis: RedisProcess, llm: ScriptedLLM,
) -> None:
    llm.script(Text(FIRST_ANSWER))
    peer = await TwilioPeer.call(f"ws://127.0.0.1:{short_budget_server.port}/v1/twilio")
    await _conversation_opened(own_redis)

    own_redis.stop()
    back = asyncio.create_task(_back_after(own_redis, 5.0))
    talking = asyncio.create_task(peer.speak(np.concatenate([_utterance("speech01.wav"), silence(30_000)])))  # Twilio streams silence too
    await peer.until(lambda: peer.count("mark") > 0, timeout=30)
    await peer.until_quiet(1.0)
    talking.cancel()
    await asyncio.wait({talking, back})
    apology = peer.audio_16k()

    await peer.speak(_utterance("speech05.wav"))
    await peer.until(lambda: len(llm.requests) == 1, timeout=30)
    await peer.hang_up()
    assert word_error_rate(LOST_WORDS_APOLOGY, get_transcriber().transcribe(apology)) <= 0.3
    assert word_error_rate(SCRIPT["speech05.wav"], llm.requests[0]["messages"][-1]["content"]) <= 0.25


async def test_an_outage_shorter_than_the_retry_budget_goes_unnoticed(
    settings: Settings, own_redis: RedisProcess, llm: ScriptedLLM,
) -> None:
    llm.script(Text(FIRST_ANSWER))
    async with running_server(_text_only(settings, own_redis, budget_s=6.0)) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway))
        own_redis.stop()
        back = asyncio.create_task(_back_after(own_redis, 4.0))
        text, events = await client.ask("When does the museum open?")
        await back
        await client.close()
    assert not [e for e in events if e["type"] == "error"]
    assert events[-1]["response"]["status"] == "completed"
    assert text == FIRST_ANSWER
    stored = [(m.role, m.content) for m in await conversation_history(own_redis.url)]
    assert stored == [("user", "When does the museum open?"), ("assistant", FIRST_ANSWER)]


async def test_a_typed_message_during_a_long_outage_is_refused_with_a_reason_and_the_session_goes_on(
    settings: Settings, own_redis: RedisProcess, llm: ScriptedLLM,
) -> None:
    llm.script(Text(LAST_ANSWER))
    async with running_server(_text_only(settings, own_redis)) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway))
        own_redis.stop()
        await client.send({"type": "conversation.item.create", "event_id": "lost", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "When does the museum open?"}]}})
        [refusal] = [e for e in await client.until_type("error") if e["type"] == "error"]
        await asyncio.to_thread(own_redis.start)
        _, after = await client.ask("Are you still there?")
        await client.close()
    assert refusal["error"]["code"] == "memory_unavailable" and refusal["error"]["event_id"] == "lost"
    assert "Redis" in refusal["error"]["message"]
    assert after[-1]["response"]["status"] == "completed"
    stored = [(m.role, m.content) for m in await conversation_history(own_redis.url)]
    assert stored == [("user", "Are you still there?"), ("assistant", LAST_ANSWER)]


async def test_a_connection_opened_during_a_long_outage_is_closed_with_try_again_later(
    settings: Settings, own_redis: RedisProcess, llm: ScriptedLLM,
) -> None:
    async with running_server(_text_only(settings, own_redis)) as gateway:
        own_redis.stop()
        async with connect(ws_url(gateway)) as connection:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(connection.recv(), 10)
    assert connection.close_code == 1013
    assert connection.close_reason is not None and "Redis" in connection.close_reason


async def test_an_answer_that_cannot_be_stored_fails_with_a_reason_and_its_question_is_kept(
    settings: Settings, own_redis: RedisProcess, llm: ScriptedLLM,
) -> None:
    llm.script(Text(FIRST_ANSWER, delay=0.2), Text(LAST_ANSWER))
    async with running_server(_text_only(settings, own_redis)) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway))
        await client.say("When does the museum open?")
        await client.until_type("response.output_text.delta")
        own_redis.stop()
        during = await client.until_type("response.done")
        await asyncio.to_thread(own_redis.start)
        await client.ask("Are you still there?")
        await client.close()
    assert during[-1]["response"]["status"] == "failed"
    assert [e["error"]["code"] for e in during if e["type"] == "error"] == ["memory_unavailable"]
    assert {"role": "user", "content": "When does the museum open?"} in llm.requests[-1]["messages"]
