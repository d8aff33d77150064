"""A Confab whose STT and TTS are another Confab's speech API, over loopback."""

from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest

from audio.codecs import AudioFormat
from audio.stt import get_transcriber
from server.app import Gateway
from server.config import Settings
from server.voice.conversation import LOST_WORDS_APOLOGY
from tests.audio.speech_data import SCRIPT, read_wav, silence, word_error_rate
from tests.conftest import running_server, ws_url
from tests.fakes.llm_server import ScriptedLLM, Text
from tests.realtime_client import RealtimeTestClient
from tests.redis_fixture import free_port
from tests.voice_client import stream, transcribe_answer, voice_session

PCM24 = AudioFormat("audio/pcm", 24000)
ANSWER = "The museum is open from ten until four on Sundays."


def _utterance(name: str) -> np.ndarray:
    return np.concatenate([silence(300), read_wav(name), silence(1500)])


def _using(settings: Settings, speech_server: Gateway) -> Settings:
    url = f"http://127.0.0.1:{speech_server.port}/v1"
    return settings.model_copy(update={"stt_url": url, "tts_url": url, "stt_timeout_s": 5.0, "tts_timeout_s": 5.0,
                                       "data_dir": settings.data_dir.parent / "gateway-data"})


@pytest.fixture
async def gateway_and_speech(settings: Settings) -> AsyncIterator[tuple[Gateway, Gateway]]:
    """A speech server (local Whisper and Piper) and a gateway using it for all its speech."""
    async with running_server(settings) as speech_server, running_server(_using(settings, speech_server)) as gateway:
        yield gateway, speech_server


async def test_a_voice_conversation_runs_on_another_confabs_speech(gateway_and_speech, llm: ScriptedLLM) -> None:
    gateway, _ = gateway_and_speech
    llm.script(Text(ANSWER))
    client = await RealtimeTestClient.open(ws_url(gateway), voice_session(PCM24))
    await stream(client, PCM24, _utterance("speech05.wav"))
    events = await client.until_type("response.done", timeout=60)
    transcript = next(e["transcript"] for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert word_error_rate(SCRIPT["speech05.wav"], transcript) <= 0.25, transcript
    assert word_error_rate(ANSWER, transcribe_answer(get_transcriber(), events, PCM24)) <= 0.3
    await client.close()


async def test_when_the_speech_server_dies_mid_call_the_caller_gets_an_error_and_the_session_goes_on(
        settings: Settings, llm: ScriptedLLM) -> None:
    llm.script(Text(ANSWER), Text("Still here."))
    async with running_server(settings) as speech_server:
        gateway_settings = _using(settings, speech_server)
        async with running_server(gateway_settings) as gateway:
            client = await RealtimeTestClient.open(ws_url(gateway), voice_session(PCM24))
            await stream(client, PCM24, _utterance("speech05.wav"))
            await client.until_type("response.done", timeout=60)
            speech_port = speech_server.port
            await speech_server.stop()  # its port closes: the gateway's speech requests now fail
            await stream(client, PCM24, _utterance("speech01.wav"))
            events = await client.until(lambda e: e["type"] == "error", timeout=30)
            assert events[-1]["error"]["code"] == "speech_unavailable"
            assert f"127.0.0.1:{speech_port}" in events[-1]["error"]["message"]
            await client.until_type("response.done", timeout=30)  # the apology (unheard: TTS is down too)
            await client.say("Are you there?")
            done = await client.until_type("response.done", timeout=30)
            assert done[-1]["response"]["status"] == "completed"
            assert llm.requests[-1]["messages"][-1] == {"role": "user", "content": "Are you there?"}
            await client.close()


async def test_readiness_reports_a_speech_server_that_is_down(settings: Settings) -> None:
    async with running_server(settings) as speech_server:
        gateway_settings = _using(settings, speech_server)
    async with running_server(gateway_settings) as gateway:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{gateway.port}/readyz")
    assert response.status_code == 503
    assert response.json()["speech"]["stt"]["reachable"] != True  # noqa: E712 - a reason string when down


async def test_when_remote_stt_is_down_the_caller_hears_an_apology(settings: Settings, llm: ScriptedLLM) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"
    async with running_server(settings.model_copy(update={"stt_url": down})) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway), voice_session(PCM24))
        await stream(client, PCM24, _utterance("speech05.wav"))
        events = await client.until_type("response.done", timeout=60)
        await client.close()
    assert next(e for e in events if e["type"] == "error")["error"]["code"] == "speech_unavailable"
    assert word_error_rate(LOST_WORDS_APOLOGY, transcribe_answer(get_transcriber(), events, PCM24)) <= 0.3
    assert llm.requests == []


async def test_the_sessions_transcription_prompt_reaches_the_remote_stt(gateway_and_speech, llm: ScriptedLLM) -> None:
    gateway, _ = gateway_and_speech
    llm.script(Text("Noted."))
    transcription = {"model": "whisper-1", "language": "en", "prompt": "The customer lives on Oak Lane."}
    client = await RealtimeTestClient.open(ws_url(gateway), {"audio": {"input": {"transcription": transcription}}})
    await stream(client, PCM24, _utterance("speech03.wav"), realtime=False)
    events = await client.until_type("conversation.item.input_audio_transcription.completed", timeout=60)
    await client.until_type("response.done", timeout=60)
    await client.close()
    assert "Oak Lane" in events[-1]["transcript"], events[-1]["transcript"]
