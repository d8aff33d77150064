"""Turn-taking in the engine (semantic end of turn, interruptions), with scripted speech and a scripted agent."""

import asyncio
import time
from dataclasses import replace

import pytest

from audio.endpointing import Eagerness, EndpointingSettings
from audio.interruption import InterruptionSettings
from server.voice.conversation import ConversationEngine
from server.voice.events import ReplyAudio, ReplyDone, ReplyStarted, Transcribed
from tests.voice.scripted import Recorder, ScriptedAgent, at_real_time, conversation, silence, speech

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


CLASSIFIED = InterruptionSettings()
SIX_WORDS = "One two three four five six. "


async def _answering(heard: list[str]) -> tuple[ScriptedAgent, ConversationEngine, Recorder]:
    """A conversation whose agent has started a six-word spoken answer to the first of `heard`."""
    agent = ScriptedAgent([[SIX_WORDS], ["Sure. "]])
    talk, events = conversation(agent, heard, interruptions=CLASSIFIED)
    await talk.append_audio(speech(300) + silence(300))
    await events.until(ReplyAudio)
    await asyncio.sleep(0.3)
    return agent, talk, events


async def test_a_backchannel_during_an_answer_neither_stops_nor_truncates_it() -> None:
    agent, talk, events = await _answering(["Tell me the hours.", "uh-huh", "uh-huh"])
    await at_real_time(talk, speech(250) + silence(500))
    done = await events.until(ReplyDone, timeout=5)
    assert isinstance(done, ReplyDone) and done.status == "completed"
    assert events.kinds().count("SpeechStarted") == 1, "the backchannel is not a turn"
    assert agent.said() == [("user", "Tell me the hours.", False), ("assistant", SIX_WORDS, False)]
    await talk.close()


async def test_a_backchannel_pauses_the_answer_and_it_goes_on_from_where_it_paused() -> None:
    agent, talk, events = await _answering(["Tell me the hours.", "uh-huh", "uh-huh"])
    sent_before = sum(len(e.audio) for e in events.events if isinstance(e, ReplyAudio))
    await at_real_time(talk, speech(250))
    await asyncio.sleep(0.1)
    paused_at = sum(len(e.audio) for e in events.events if isinstance(e, ReplyAudio))
    await asyncio.sleep(0.15)
    assert sum(len(e.audio) for e in events.events if isinstance(e, ReplyAudio)) == paused_at, "audio sent while paused"
    assert paused_at >= sent_before
    await at_real_time(talk, silence(500))
    await events.until(ReplyDone, timeout=5)
    total = sum(len(e.audio) for e in events.events if isinstance(e, ReplyAudio))
    assert total == len(SIX_WORDS.split()) * 200 * 32, "every sample of the answer was sent once"
    await talk.close()


async def test_a_real_interruption_over_a_classified_answer_still_stops_it_and_keeps_what_was_heard() -> None:
    agent, talk, events = await _answering(["Tell me the hours.", "Wait, stop.", "Wait, stop."])
    await at_real_time(talk, speech(700) + silence(300))
    done = await events.until(ReplyDone, timeout=5)
    assert isinstance(done, ReplyDone) and (done.status, done.reason) == ("cancelled", "turn_detected")
    assert done.heard and SIX_WORDS.startswith(done.heard) and len(done.heard.split()) < 6
    assert agent.said()[1] == ("assistant", done.heard, True)
    await events.until(Transcribed)
    assert ("user", "Wait, stop.", False) in agent.said()
    await talk.close()


async def test_a_short_word_that_is_no_backchannel_interrupts() -> None:
    agent, talk, events = await _answering(["Tell me the hours.", "No.", "No."])
    await at_real_time(talk, speech(250) + silence(500))
    done = await events.until(ReplyDone, timeout=5)
    assert isinstance(done, ReplyDone) and done.status == "cancelled"
    await asyncio.sleep(0.2)
    assert ("user", "No.", False) in agent.said()
    await talk.close()


async def test_without_barge_in_nothing_interrupts_a_classified_answer() -> None:
    agent = ScriptedAgent([[SIX_WORDS]])
    talk, events = conversation(agent, ["Tell me the hours.", "Wait, stop.", "Wait, stop."], interruptions=CLASSIFIED)
    talk.configure(replace(talk.options, barge_in=False))
    await talk.append_audio(speech(300) + silence(300))
    await events.until(ReplyAudio)
    await at_real_time(talk, speech(700) + silence(300))
    done = await events.until(ReplyDone, timeout=5)
    assert isinstance(done, ReplyDone) and done.status == "completed"
    await talk.close()
