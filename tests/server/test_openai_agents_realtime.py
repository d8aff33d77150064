"""openai-agents' `RealtimeRunner` against /v1/realtime: text and audio turns with a function tool the SDK runs.

The SDK sends its own session (OpenAI voice and transcription model names, `semantic_vad`), validates
every server event with openai-python's models, and logs "Failed to validate server event" when one
does not fit: each test fails on such a log line or on an `error` event.
"""

import asyncio
import logging
from typing import Any

import numpy as np
import pytest
from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner, RealtimeSession

from audio.codecs import AudioFormat
from audio.resample import resample
from tests.audio.speech_data import read_wav, silence
from tests.conftest import conversation_history, ws_url
from tests.fakes.llm_server import Call, ScriptedLLM, Text, ToolCalls

PCM24 = AudioFormat("audio/pcm", 24000)
CHUNK_BYTES = 4800  # 100 ms of 24 kHz PCM16


@function_tool
def opening_hours(day: str) -> str:
    """When the museum is open on a given day."""
    return f"On {day} the museum is open from ten until four."


def _runner() -> RealtimeRunner:
    agent = RealtimeAgent(name="Museum guide", instructions="Answer questions about the museum.", tools=[opening_hours])
    return RealtimeRunner(agent, config={"tracing_disabled": True})


async def _until_answered(session: RealtimeSession, tools: int = 0) -> list[Any]:
    """The SDK's events up to the end of the agent's answer after `tools` tool rounds (a response each)."""
    events: list[Any] = []
    async for event in session:
        events.append(event)
        if event.type == "error":
            raise AssertionError(f"the SDK reported an error: {event.error}")
        if event.type == "agent_end" and sum(e.type == "agent_end" for e in events) == tools + 1:
            return events
    raise AssertionError("the session ended before the agent answered")


@pytest.fixture
def sdk_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The ERROR records the SDK logs (a server event it could not validate is one)."""
    caplog.set_level(logging.ERROR, logger="openai.agents")
    return caplog.records


async def test_a_text_turn_with_a_function_tool_completes_without_validation_errors(
        server, llm: ScriptedLLM, redis_url: str, sdk_errors: list[logging.LogRecord]) -> None:
    llm.script(ToolCalls([Call("opening_hours", {"day": "Sunday"}, id="call_hours")]),
               Text("On Sundays it is open from ten until four."))
    async with await _runner().run(model_config={"url": ws_url(server), "api_key": "unused",
                                                  "initial_model_settings": {"output_modalities": ["text"]}}) as session:
        await session.send_message("When are you open on Sunday?")
        events = await _until_answered(session, tools=1)
    assert [e.tool.name for e in events if e.type == "tool_end"] == ["opening_hours"]
    [result] = [m for m in llm.requests[-1]["messages"] if m["role"] == "tool"]
    assert result["tool_call_id"] == "call_hours" and "On Sunday the museum is open from ten until four." in result["content"]
    assert [m.content for m in await conversation_history(redis_url) if m.role == "assistant"][-1] == "On Sundays it is open from ten until four."
    assert [r.getMessage() for r in sdk_errors] == []


async def test_a_spoken_turn_is_heard_and_answered_in_audio_without_validation_errors(
        server, llm: ScriptedLLM, sdk_errors: list[logging.LogRecord]) -> None:
    llm.script(Text("The museum is open from ten until four on Sundays."))
    speech = np.concatenate([silence(300), read_wav("speech05.wav"), silence(2500)])
    async with await _runner().run(model_config={"url": ws_url(server), "api_key": "unused"}) as session:
        data = PCM24.encode(resample(speech, 16000, 24000).astype(np.int16))
        for start in range(0, len(data), CHUNK_BYTES):  # paced like a microphone
            await session.send_audio(data[start:start + CHUNK_BYTES])
            await asyncio.sleep(CHUNK_BYTES / 2 / 24000)
        events = await _until_answered(session)
    audio = b"".join(e.audio.data for e in events if e.type == "audio")
    assert len(audio) / 2 / 24000 > 1.5, "the answer is spoken"
    assert llm.requests[0]["messages"][-1]["role"] == "user" and llm.requests[0]["messages"][-1]["content"]
    assert [r.getMessage() for r in sdk_errors] == []
