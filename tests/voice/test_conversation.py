"""The conversation engine, specified with a scripted agent and scripted speech: no socket, no Redis, no model."""

import asyncio

import pytest

from agent.events import ToolStarted
from server.voice.conversation import ReplyState
from server.voice.events import (
    ConversationError,
    ReplyAudio,
    ReplyDone,
    ReplyInterrupted,
    ReplyMark,
    ReplyStarted,
    SpeechStarted,
    SpeechStopped,
    Transcribed,
)
from server.voice.listener import MAX_PUSH_TO_TALK_S, InputBufferFull
from tests.voice.scripted import ScriptedAgent, conversation, silence, speech

pytestmark = pytest.mark.timeout(5)

SIX_WORDS = "One two three four five six. "


def _session_tasks() -> set[asyncio.Task]:
    names = ("conversation:", "listener", "transcript", "synthesis")
    return {t for t in asyncio.all_tasks() if t.get_name().startswith(names) and not t.done()}


async def test_an_utterance_is_stored_then_answered_in_speech() -> None:
    agent = ScriptedAgent([["Open until four. "]])
    talk, events = conversation(agent, ["When do you open?"])
    await talk.append_audio(silence(100) + speech(300) + silence(300))
    done = await events.until(ReplyDone)
    assert isinstance(done, ReplyDone) and done.status == "completed"
    kinds = events.kinds()
    assert kinds[:4] == ["SpeechStarted", "SpeechStopped", "Transcribed", "ReplyStarted"]
    assert b"".join(e.audio for e in events.events if isinstance(e, ReplyAudio))
    assert agent.said() == [("user", "When do you open?", False), ("assistant", "Open until four. ", False)]
    await talk.close()


async def test_barge_in_silences_the_reply_at_once_and_history_keeps_only_what_was_heard() -> None:
    agent = ScriptedAgent([[SIX_WORDS]])
    talk, events = conversation(agent, ["Tell me the hours."])
    await talk.append_audio(silence(100) + speech(300) + silence(300))
    await events.until(ReplyAudio)
    await asyncio.sleep(0.45)  # about two words played
    await talk.append_audio(speech(200))
    started = await events.until(SpeechStarted)
    done = await events.until(ReplyDone)
    after = events.events[events.events.index(started):]
    assert not any(isinstance(e, ReplyAudio) for e in after), "audio left after the caller spoke"
    assert isinstance(after[1], ReplyInterrupted)
    assert isinstance(done, ReplyDone) and (done.status, done.reason) == ("cancelled", "turn_detected")
    assert done.heard and SIX_WORDS.startswith(done.heard) and len(done.heard.split()) < 6
    assert agent.said()[-1] == ("assistant", done.heard, True)
    await talk.close()


async def test_with_echoed_marks_an_interrupted_reply_keeps_exactly_the_confirmed_chunks() -> None:
    agent = ScriptedAgent([["Open now. ", 0.05, "Closed. "]])
    talk, events = conversation(agent, marks=True)
    await talk.respond()
    first = await events.until(ReplyMark)
    assert isinstance(first, ReplyMark)
    talk.confirm_played(first.mark)
    await events.until(ReplyMark)  # the second chunk was sent, but the caller has not heard it yet
    assert talk.state is ReplyState.GENERATING or talk.state is ReplyState.PLAYING
    assert await talk.interrupt()
    done = next(e for e in events.events if isinstance(e, ReplyDone))
    assert agent.said()[-1] == ("assistant", "Open now.", True), done


async def test_a_reply_cancelled_before_it_spoke_ends_cancelled_and_the_next_one_runs() -> None:
    agent = ScriptedAgent([[0.3, "slow"], ["Hello. "]])
    talk, events = conversation(agent)
    first = await talk.respond(spoken=False)
    assert await talk.interrupt()
    done = await events.until(ReplyDone)
    assert isinstance(done, ReplyDone) and (done.reply_id, done.status, done.reason) == (first, "cancelled", "client_cancelled")
    assert talk.state is ReplyState.IDLE
    await talk.respond(spoken=False)
    second = await events.until(ReplyDone)
    assert isinstance(second, ReplyDone) and second.status == "completed"
    await talk.close()


async def test_a_crash_in_a_reply_ends_it_failed_and_the_conversation_goes_on() -> None:
    agent = ScriptedAgent([["Let me ", RuntimeError("bug")], ["Fine again. "]])
    talk, events = conversation(agent)
    await talk.respond()
    done = await events.until(ReplyDone)
    assert isinstance(done, ReplyDone) and done.status == "failed" and done.failure is not None
    assert any(isinstance(e, ConversationError) and e.code == "server_error" for e in events.events)
    await talk.respond()
    again = await events.until(ReplyDone)
    assert isinstance(again, ReplyDone) and again.status == "completed"
    await talk.close()


async def test_hanging_up_mid_tool_keeps_what_was_heard_and_leaves_no_task_behind() -> None:
    agent = ScriptedAgent([["Let me check that for you. ", ToolStarted("call_1", "lookup"), 30.0, "It is done."]])
    talk, events = conversation(agent)
    await talk.respond()
    await events.until(ReplyAudio)
    await asyncio.sleep(0.3)
    await talk.close()
    done = next(e for e in events.events if isinstance(e, ReplyDone))
    assert done.status == "cancelled" and done.heard and "Let me check that for you.".startswith(done.heard)
    assert agent.said()[-1] == ("assistant", done.heard, True)
    assert not _session_tasks()


async def test_closing_while_an_utterance_is_heard_leaves_no_task_behind() -> None:
    agent = ScriptedAgent([])
    talk, events = conversation(agent, ["never stored"])
    await talk.append_audio(silence(100) + speech(300))
    await events.until(SpeechStarted)
    await talk.close()
    assert not _session_tasks()
    assert agent.history == []


async def test_push_to_talk_hears_nothing_until_the_commit_then_answers() -> None:
    agent = ScriptedAgent([["Yes. "]])
    talk, events = conversation(agent, ["Is it open?"], push_to_talk=True)
    await talk.append_audio(speech(300) + silence(400) + speech(300))
    await asyncio.sleep(0.1)
    assert events.events == []
    await talk.commit_audio()
    done = await events.until(ReplyDone)
    assert isinstance(done, ReplyDone) and done.status == "completed"
    assert events.kinds()[:3] == ["SpeechStarted", "SpeechStopped", "Transcribed"]
    stopped = next(e for e in events.events if isinstance(e, SpeechStopped))
    assert stopped.audio_end_ms == 1000
    await talk.close()


async def test_push_to_talk_refuses_audio_past_its_limit_and_keeps_what_it_has() -> None:
    agent = ScriptedAgent([["Noted. "]])
    talk, events = conversation(agent, ["A long story."], push_to_talk=True)
    await talk.append_audio(silence((MAX_PUSH_TO_TALK_S - 1) * 1000))
    with pytest.raises(InputBufferFull):
        await talk.append_audio(silence(2000))
    await talk.commit_audio()
    stopped = await events.until(SpeechStopped)
    assert isinstance(stopped, SpeechStopped) and stopped.audio_end_ms == (MAX_PUSH_TO_TALK_S - 1) * 1000
    assert isinstance(await events.until(Transcribed), Transcribed)
    await talk.append_audio(silence(2000))  # the commit emptied the buffer
    await talk.close()


async def test_a_reply_started_event_comes_before_its_audio() -> None:
    agent = ScriptedAgent([["Hi. "]])
    talk, events = conversation(agent)
    reply_id = await talk.respond()
    await events.until(ReplyDone)
    assert isinstance(events.events[0], ReplyStarted) and events.events[0].reply_id == reply_id
    await talk.close()
