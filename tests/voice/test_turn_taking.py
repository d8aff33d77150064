"""Turn-taking in the engine (semantic end of turn, interruptions), with scripted speech and a scripted agent."""

import asyncio
import time

import pytest

from audio.endpointing import Eagerness, EndpointingSettings
from server.voice.events import ReplyDone, ReplyStarted, Transcribed
from tests.voice.scripted import ScriptedAgent, conversation, silence, speech

pytestmark = pytest.mark.timeout(8)

SEMANTIC_HIGH = EndpointingSettings(eagerness=Eagerness.HIGH)  # holds an unfinished turn up to 2 s


async def test_with_semantic_vad_a_number_spoken_in_groups_is_one_user_turn() -> None:
    agent = ScriptedAgent([["Thanks. "]])
    talk, events = conversation(agent, ["My number is 415.", "555.", "2671."], endpointing=SEMANTIC_HIGH)
    for _ in range(3):
        await talk.append_audio(speech(300) + silence(700))
    await events.until(ReplyDone, timeout=5)
    assert agent.said() == [("user", "My number is 415. 555. 2671.", False), ("assistant", "Thanks. ", False)]
    assert events.kinds().count("ReplyStarted") == 1
    await talk.close()


async def test_with_semantic_vad_a_finished_question_is_answered_at_once() -> None:
    agent = ScriptedAgent([["At six. "]])
    talk, events = conversation(agent, ["What time do you close?"], endpointing=SEMANTIC_HIGH)
    await talk.append_audio(speech(300) + silence(300))
    await events.until(Transcribed)
    heard_at = time.monotonic()
    await events.until(ReplyStarted)
    assert time.monotonic() - heard_at < 0.5
    assert agent.said()[0] == ("user", "What time do you close?", False)
    await talk.close()


async def test_with_semantic_vad_an_unfinished_sentence_is_answered_at_the_eagerness_cap() -> None:
    agent = ScriptedAgent([["For two it is. "]])
    talk, events = conversation(agent, ["A table for two, and"], endpointing=SEMANTIC_HIGH)
    await talk.append_audio(speech(300) + silence(300))
    await events.until(Transcribed)
    heard_at = time.monotonic()
    await asyncio.sleep(1.0)
    assert "ReplyStarted" not in events.kinds(), "answered while the sentence was unfinished"
    await events.until(ReplyStarted, timeout=3)
    assert 1.5 < time.monotonic() - heard_at < 2.5
    assert agent.said()[0] == ("user", "A table for two, and", False)
    await talk.close()


async def test_with_semantic_vad_words_held_when_the_caller_hangs_up_are_stored() -> None:
    agent = ScriptedAgent([])
    talk, events = conversation(agent, ["So what I need is, um"], endpointing=SEMANTIC_HIGH)
    await talk.append_audio(speech(300) + silence(300))
    await events.until(Transcribed)
    await talk.close()
    assert agent.said() == [("user", "So what I need is, um", False)]
