"""Voice over /v1/realtime: real speech in at real-time pace, spoken answers out, barge-in."""

import asyncio
import base64
import re
import time

import numpy as np
import pytest

from audio.codecs import AudioFormat
from audio.stt import get_transcriber
from tests.audio.speech_data import SCRIPT, read_wav, silence, trim_trailing_silence, word_error_rate
from tests.conftest import conversation_history, ws_url
from tests.fakes.llm_server import ScriptedLLM, Text
from tests.realtime_client import RealtimeTestClient
from tests.voice_client import stream, transcribe_answer, voice_session

PCM24 = AudioFormat("audio/pcm", 24000)
ULAW = AudioFormat("audio/pcmu", 8000)
ANSWER = "The museum is open from ten until four on Sundays."


def _utterance(name: str, tail_ms: int = 1500) -> np.ndarray:
    return np.concatenate([silence(300), read_wav(name), silence(tail_ms)])


async def _stored(redis_url: str) -> list[tuple[str, str | None, bool]]:
    return [(m.role, m.content, m.interrupted) for m in await conversation_history(redis_url)]


async def _ask_by_voice(server, llm: ScriptedLLM, fmt: AudioFormat, wav: str) -> tuple[list[dict], str]:
    llm.script(Text(ANSWER))
    client = await RealtimeTestClient.open(ws_url(server), voice_session(fmt))
    sender = asyncio.create_task(stream(client, fmt, _utterance(wav)))
    events = await client.until_type("response.done", timeout=60)
    await sender
    transcript = next(e["transcript"] for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    return events, transcript


@pytest.mark.parametrize("fmt", [PCM24, ULAW], ids=["pcm24k", "mulaw8k"])
async def test_a_spoken_question_is_transcribed_and_answered_in_speech(server, llm: ScriptedLLM, fmt: AudioFormat) -> None:
    events, transcript = await _ask_by_voice(server, llm, fmt, "speech05.wav")
    assert word_error_rate(SCRIPT["speech05.wav"], transcript) <= 0.25, transcript
    assert llm.requests[-1]["messages"][-1] == {"role": "user", "content": transcript}
    heard = transcribe_answer(get_transcriber(), events, fmt)
    assert word_error_rate(ANSWER, heard) <= 0.3, heard
    kinds = [e["type"] for e in events]
    for kind in ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
                 "response.created", "response.output_audio.delta", "response.output_audio_transcript.delta", "response.done"]:
        assert kind in kinds, kind
    assert kinds.index("input_audio_buffer.speech_stopped") < kinds.index("response.created")
    assert events[-1]["response"]["status"] == "completed"


async def test_the_answer_transcript_matches_the_spoken_words(server, llm: ScriptedLLM) -> None:
    events, _ = await _ask_by_voice(server, llm, PCM24, "speech01.wav")
    done = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
    assert done["transcript"] == ANSWER


async def test_barge_in_stops_the_audio_and_keeps_only_what_was_heard(server, llm: ScriptedLLM, redis_url: str) -> None:
    long_answer = " ".join(f"This is sentence number {n} of a long answer about the weather." for n in range(1, 13))
    llm.script(Text(long_answer), Text("Sure, what is it?"))
    client = await RealtimeTestClient.open(ws_url(server), voice_session(PCM24))
    await stream(client, PCM24, _utterance("speech02.wav"))
    await client.until_type("response.output_audio.delta", timeout=60)
    await asyncio.sleep(1.5)
    interrupt = asyncio.create_task(stream(client, PCM24, _utterance("speech07.wav")))
    before = await client.until_type("input_audio_buffer.speech_started", timeout=30)
    started_at = time.monotonic()
    after = await client.until(lambda e: e["type"] == "response.done", timeout=10)
    audio_after_start = [e for e in after if e["type"] == "response.output_audio.delta"]
    assert after[-1]["response"]["status"] == "cancelled"
    assert after[-1]["response"]["status_details"]["reason"] == "turn_detected"
    assert len(audio_after_start) == 0, "no audio may follow speech_started"
    assert time.monotonic() - started_at < 1.0
    await interrupt
    await client.until_type("response.done", timeout=60)
    stored = await _stored(redis_url)
    interrupted = [content for role, content, cut in stored if role == "assistant" and cut]
    assert len(interrupted) == 1
    heard = interrupted[0] or ""
    assert 0 < len(heard.split()) < len(long_answer.split())
    assert long_answer.startswith(heard.rstrip(".")[:20])
    assert any(e["type"] == "response.output_audio.delta" for e in before)


async def test_truncate_from_the_client_sets_the_stored_answer_to_the_played_part(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text("One two three four five. Six seven eight nine ten."))
    client = await RealtimeTestClient.open(ws_url(server), voice_session(PCM24))
    await stream(client, PCM24, _utterance("speech01.wav"))
    events = await client.until_type("response.done", timeout=60)
    item_id = next(e["item"]["id"] for e in events if e["type"] == "response.output_item.done")
    await client.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 0})
    reply = await client.until_type("conversation.item.truncated")
    assert reply[-1]["audio_end_ms"] == 0
    stored = await _stored(redis_url)
    assert stored[-1] == ("assistant", "", True)


async def test_push_to_talk_commits_on_request(server, llm: ScriptedLLM) -> None:
    llm.script(Text(ANSWER))
    client = await RealtimeTestClient.open(ws_url(server), voice_session(PCM24, value=None))
    await stream(client, PCM24, _utterance("speech05.wav", tail_ms=200), realtime=False)
    await client.send({"type": "input_audio_buffer.commit"})
    events = await client.until_type("conversation.item.input_audio_transcription.completed", timeout=30)
    assert "input_audio_buffer.committed" in [e["type"] for e in events]
    assert word_error_rate(SCRIPT["speech05.wav"], events[-1]["transcript"]) <= 0.25
    assert not llm.requests, "without turn detection the client decides when to respond"
    await client.send({"type": "response.create"})
    done = await client.until_type("response.done", timeout=60)
    assert done[-1]["response"]["status"] == "completed"


@pytest.mark.parametrize("wav", ["silence.wav", "noise.wav"])
async def test_silence_and_noise_produce_no_turn(server, llm: ScriptedLLM, wav: str) -> None:
    client = await RealtimeTestClient.open(ws_url(server), voice_session(PCM24))
    await stream(client, PCM24, read_wav(wav), realtime=False)
    await client.send({"type": "input_audio_buffer.clear"})
    events = await client.until_type("input_audio_buffer.cleared", timeout=30)
    assert not [e for e in events if e["type"].startswith("input_audio_buffer.speech")]
    assert not llm.requests


async def test_a_long_monologue_is_cut_at_the_maximum_utterance_length_without_losing_audio(server, llm: ScriptedLLM) -> None:
    llm.script(Text("That was a lot."))
    without_long_pauses = ["speech01.wav", "speech02.wav", "speech03.wav", "speech05.wav"]
    speech = [trim_trailing_silence(read_wav(name), keep_ms=200) for name in without_long_pauses] * 5
    monologue = np.concatenate(speech + [silence(1500)])
    assert len(monologue) / 16000 > 45
    client = await RealtimeTestClient.open(ws_url(server), voice_session(PCM24))
    await stream(client, PCM24, monologue, realtime=False)
    events = await client.until_type("response.done", timeout=180)
    stops = [e for e in events if e["type"] == "input_audio_buffer.speech_stopped"]
    starts = [e for e in events if e["type"] == "input_audio_buffer.speech_started"]
    assert len(stops) >= 2, "the monologue must be cut"
    for stop, next_start in zip(stops, starts[1:]):
        assert next_start["audio_start_ms"] <= stop["audio_end_ms"], "a cut must not drop audio between utterances"
    transcripts = " ".join(e["transcript"] for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert transcripts.lower().startswith("hello, can you hear me?")
    assert transcripts.lower().rstrip("?. ").endswith("open on sundays")
    assert len(llm.requests) == 1, "one answer, after the caller finally stopped"
    user_turns = [m for m in llm.requests[0]["messages"] if m["role"] == "user"]
    assert len(user_turns) == len(stops)


async def test_bad_audio_input_gets_clear_errors_and_the_session_lives_on(server, llm: ScriptedLLM) -> None:
    client = await RealtimeTestClient.open(ws_url(server), voice_session(PCM24))
    await client.send({"type": "input_audio_buffer.append", "audio": "not base64!!"})
    assert (await client.next_event())["error"]["param"] == "audio"
    await client.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x00\x01\x02").decode()})
    error = (await client.next_event())["error"]
    assert "whole number" in error["message"]
    await client.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 44100}}}}})
    assert (await client.next_event())["type"] == "error"
    events, transcript = await _ask_by_voice(server, llm, PCM24, "speech03.wav")
    assert transcript


async def test_changing_the_input_format_mid_utterance_is_refused(server, llm: ScriptedLLM) -> None:
    client = await RealtimeTestClient.open(ws_url(server), voice_session(PCM24))
    await stream(client, PCM24, read_wav("speech02.wav")[:16000], realtime=False)
    await client.until_type("input_audio_buffer.speech_started", timeout=30)
    await client.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}})
    error = (await client.until_type("error"))[-1]["error"]
    assert "mid-utterance" in error["message"]


async def test_an_audio_flood_is_reported_and_nothing_is_dropped(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Got it."))
    client = await RealtimeTestClient.open(ws_url(server), voice_session(PCM24))
    flood = np.concatenate([silence(8000), read_wav("speech05.wav"), silence(1500)])
    await stream(client, PCM24, flood, realtime=False)
    events = await client.until_type("response.done", timeout=60)
    assert any(e["type"] == "error" and e["error"]["code"] == "input_audio_faster_than_realtime" for e in events)
    transcript = next(e["transcript"] for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert word_error_rate(SCRIPT["speech05.wav"], transcript) <= 0.25


async def test_a_response_created_right_after_a_commit_answers_what_was_just_said(server, llm: ScriptedLLM) -> None:
    llm.script(Text(ANSWER))
    client = await RealtimeTestClient.open(ws_url(server), voice_session(PCM24, value=None))
    await stream(client, PCM24, _utterance("speech05.wav", tail_ms=200), realtime=False)
    await client.send({"type": "input_audio_buffer.commit"})
    await client.send({"type": "response.create"})
    await client.until_type("response.done", timeout=60)
    question = llm.requests[-1]["messages"][-1]
    assert question["role"] == "user" and word_error_rate(SCRIPT["speech05.wav"], question["content"]) <= 0.25


async def test_committing_an_empty_push_to_talk_buffer_is_an_error(server, llm: ScriptedLLM) -> None:
    client = await RealtimeTestClient.open(ws_url(server), voice_session(PCM24, value=None))
    await stream(client, PCM24, _utterance("speech01.wav", tail_ms=200), realtime=False)
    await client.send({"type": "input_audio_buffer.commit"})
    await client.until_type("conversation.item.input_audio_transcription.completed", timeout=30)
    await client.send({"type": "input_audio_buffer.commit"})
    error = (await client.until_type("error"))[-1]["error"]
    assert error["code"] == "input_audio_buffer_commit_empty"


_DIGIT_WORDS = {w: str(n) for n, w in enumerate("zero one two three four five six seven eight nine".split())}


def _digits(text: str) -> str:
    """The digits a transcript spells, in figures or words ("415. five, five" -> "41555")."""
    return "".join(_DIGIT_WORDS.get(token, token) for token in re.findall(r"[a-z]+|[0-9]+", text.lower())
                   if token.isdigit() or token in _DIGIT_WORDS)


async def test_with_semantic_vad_a_number_spoken_in_groups_is_one_user_turn(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text("Thanks, I have your number."))
    client = await RealtimeTestClient.open(ws_url(server), voice_session(PCM24, value={"type": "semantic_vad", "eagerness": "medium"}))
    await stream(client, PCM24, _utterance("turn_taking/digits_grouped.wav", tail_ms=4500))
    events = await client.until_type("response.done", timeout=60)
    stops = [e for e in events if e["type"] == "input_audio_buffer.speech_stopped"]
    assert len(stops) >= 2, "the groups are separate utterances"
    assert [e["type"] for e in events].count("response.created") == 1
    assert len(llm.requests) == 1
    asked = llm.requests[0]["messages"][-1]
    assert asked["role"] == "user"
    assert _digits(asked["content"]) == "4155552671", asked
    users = [content for role, content, _ in await _stored(redis_url) if role == "user"]
    assert users == [asked["content"]]


ADAPTIVE = {"type": "server_vad", "adaptive_interruption": True}
WEATHER = " ".join(f"This is sentence number {n} of a long answer about the weather." for n in range(1, 7))


async def _speaking(server, llm: ScriptedLLM) -> RealtimeTestClient:
    """A session with adaptive interruption whose agent has been answering a spoken question for 1.5 s."""
    llm.script(Text(WEATHER), Text("Sure, what is it?"))
    client = await RealtimeTestClient.open(ws_url(server), voice_session(PCM24, value=ADAPTIVE))
    await stream(client, PCM24, _utterance("speech02.wav"))
    await client.until_type("response.output_audio.delta", timeout=60)
    await asyncio.sleep(1.5)
    return client


@pytest.mark.parametrize("clip", ["backchannel_uhhuh.wav", "cough.wav"])
async def test_with_adaptive_interruption_a_backchannel_or_a_cough_neither_stops_nor_truncates_the_answer(
        server, llm: ScriptedLLM, redis_url: str, clip: str) -> None:
    client = await _speaking(server, llm)
    await stream(client, PCM24, _utterance(f"turn_taking/{clip}"))
    events = await client.until_type("response.done", timeout=60)
    assert events[-1]["response"]["status"] == "completed"
    assert "input_audio_buffer.speech_started" not in [e["type"] for e in events]
    assert len(llm.requests) == 1
    assert [(role, content, cut) for role, content, cut in await _stored(redis_url) if role == "assistant"] == [("assistant", WEATHER, False)]


async def test_with_adaptive_interruption_wait_stop_interrupts_and_history_holds_what_was_heard(server, llm: ScriptedLLM, redis_url: str) -> None:
    client = await _speaking(server, llm)
    interrupt = asyncio.create_task(stream(client, PCM24, _utterance("turn_taking/interrupt_wait_stop.wav")))
    await client.until_type("input_audio_buffer.speech_started", timeout=30)
    after = await client.until(lambda e: e["type"] == "response.done", timeout=10)
    assert after[-1]["response"]["status_details"]["reason"] == "turn_detected"
    assert not [e for e in after if e["type"] == "response.output_audio.delta"], "no audio may follow speech_started"
    await interrupt
    await client.until_type("response.done", timeout=60)
    stored = await _stored(redis_url)
    heard = [content or "" for role, content, cut in stored if role == "assistant" and cut]
    assert len(heard) == 1 and 0 < len(heard[0].split()) < len(WEATHER.split())
    assert WEATHER.startswith(heard[0].rstrip(".")[:20])
    assert any(role == "user" and "stop" in (content or "").lower() for role, content, _ in stored)
