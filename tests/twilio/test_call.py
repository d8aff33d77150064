"""Phone calls over `/v1/twilio`, driven by a scripted Twilio peer over a real WebSocket."""

import asyncio
import base64
import json
import statistics

import numpy as np
import pytest

from audio.chunker import SentenceChunker
from audio.stt import get_transcriber
from server.twilio.call import KEYPAD_NOTE
from server.twilio.playback import FRAME_MS, LEAD_MS
from server.twilio.signature import compute_signature
from tests.audio.speech_data import SCRIPT, read_wav, silence, word_error_rate
from tests.audio.turn_clips import read_clip
from tests.conftest import running_server
from tests.fakes.llm_server import ScriptedLLM, Text
from tests.twilio.peer import FRAME_BYTES, TwilioPeer, eventually, stored_history

ANSWER = "The museum is open from ten until four on Sundays."
LONG_ANSWER = ("Alpha bravo charlie delta. Echo foxtrot golf hotel. India juliet kilo lima. Mike november oscar papa. "
               "Quebec romeo sierra tango. Uniform victor whiskey xray. Yankee zulu alpha bravo. Charlie delta echo foxtrot.")


def _url(gateway) -> str:
    return f"ws://127.0.0.1:{gateway.port}/v1/twilio"


def _utterance(name: str) -> np.ndarray:
    return np.concatenate([silence(300), read_wav(name), silence(1500)])


def _chunks(text: str) -> list[str]:
    """The spoken chunks of an answer streamed like the scripted model streams it (4 characters at a time)."""
    chunker = SentenceChunker()
    chunks = [c for i in range(0, len(text), 4) for c in chunker.feed(text[i:i + 4])]
    return chunks + chunker.flush()


def _played(chunk_count: int) -> str:
    return " ".join(_chunks(LONG_ANSWER)[:chunk_count])


def _note(digit: str) -> dict[str, str]:
    return {"role": "user", "content": KEYPAD_NOTE.format(digit=digit)}


async def _interrupted_answers(redis_url: str, owner: str = "local") -> list[str | None]:
    """The stored assistant messages cut short, once the call has persisted one (polling)."""
    async with asyncio.timeout(15):
        while True:
            cut = [content for role, content, _, interrupted in await stored_history(redis_url, owner) if role == "assistant" and interrupted]
            if cut:
                return cut
            await asyncio.sleep(0.05)


async def test_a_spoken_question_gets_a_spoken_answer_in_paced_20ms_frames(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text(ANSWER))
    peer = await TwilioPeer.call(_url(server))
    await peer.speak(_utterance("speech05.wav"))
    chunk_count = len(_chunks(ANSWER))
    await peer.until(lambda: len(peer.echoed) == chunk_count, timeout=60)

    transcript = llm.requests[0]["messages"][-1]["content"]
    assert word_error_rate(SCRIPT["speech05.wav"], transcript) <= 0.25, transcript
    media = peer.events("media")
    assert all(len(base64.b64decode(r.message["media"]["payload"])) == FRAME_BYTES for r in media), "every frame is 20 ms"
    assert all(r.message["streamSid"] == peer.stream_sid for r in peer.received)
    kinds = [r.message["event"] for r in peer.received]
    assert kinds[-1] == "mark" and peer.count("mark") == chunk_count, "a mark after each spoken chunk"

    gaps_ms = [(b.at - a.at) * 1000 for a, b in zip(media, media[1:])]
    assert 15 <= statistics.median(gaps_ms) <= 25, "frames leave at real-time pace"
    assert peer.max_buffered_ms <= LEAD_MS + FRAME_MS + 40, f"Twilio's buffer held {peer.max_buffered_ms:.0f} ms"
    assert (media[-1].at - media[0].at) * 1000 >= len(media) * FRAME_MS - LEAD_MS - 100, "not a burst"

    heard = get_transcriber().transcribe(peer.audio_16k())
    assert word_error_rate(ANSWER, heard) <= 0.3, heard
    await peer.stop()
    assert (await peer.closed())[0] == 1000
    assert await stored_history(redis_url) == [("user", transcript, False, False), ("assistant", ANSWER, False, False)]


async def test_barge_in_clears_twilios_buffer_and_keeps_only_what_was_played(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text(LONG_ANSWER), Text("Sure, go ahead."))
    peer = await TwilioPeer.call(_url(server))
    await peer.speak(_utterance("speech02.wav"))
    await peer.until(lambda: len(peer.echoed) >= 2, timeout=60)
    await peer.speak(_utterance("speech07.wav"))
    clears = peer.events("clear")
    assert len(clears) == 1
    # speech07 is 4 s long: the next answer cannot start within 2 s of the barge-in
    assert not [r for r in peer.events("media") if clears[0].at < r.at < clears[0].at + 2.0], "no audio after clear"

    await eventually(lambda: len(llm.requests) == 2, timeout=30)
    [heard] = await _interrupted_answers(redis_url)
    echoed = peer.echoed_before_clear or 0
    assert heard in {_played(echoed - 1), _played(echoed)}, heard  # a mark may have been in flight
    assert heard and len(heard) < len(LONG_ANSWER)
    assert {"role": "assistant", "content": heard} in llm.requests[1]["messages"], "the model sees what was played"


async def test_the_last_echoed_mark_sets_the_truncation_point(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text(LONG_ANSWER), Text("Yes?"))
    peer = await TwilioPeer.call(_url(server), echo_marks=1)
    await peer.press("#")
    await peer.until(lambda: peer.count("mark") >= 3, timeout=60)
    await peer.speak(_utterance("speech07.wav"))
    assert peer.count("clear") == 1
    await eventually(lambda: len(llm.requests) == 2, timeout=30)
    assert await _interrupted_answers(redis_url) == [_played(1)]
    assert len(peer.echoed) > 1, "the marks Twilio flushed on clear were not taken as played"


@pytest.mark.parametrize("ending", ["stop", "dropped socket"])
async def test_hanging_up_mid_answer_persists_only_what_was_played(server, llm: ScriptedLLM, redis_url: str, ending: str) -> None:
    llm.script(Text(LONG_ANSWER))
    peer = await TwilioPeer.call(_url(server), echo_marks=2)
    await peer.press("#")
    await peer.until(lambda: peer.count("mark") >= 3 and len(peer.echoed) == 2, timeout=60)
    if ending == "stop":
        await peer.stop()
        assert (await peer.closed())[0] == 1000
    else:
        await peer.hang_up()
    assert await _interrupted_answers(redis_url) == [_played(2)]


async def test_keypad_presses_reach_the_model_as_hidden_notes(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text("You chose option forty-two."))
    peer = await TwilioPeer.call(_url(server))
    await peer.press("4")
    await peer.press("2")
    await eventually(lambda: len(llm.requests) == 1, timeout=10)
    assert llm.requests[0]["messages"][-2:] == [_note("4"), _note("2")], "one answer after the caller paused"
    await peer.until(lambda: len(peer.echoed) == len(_chunks("You chose option forty-two.")), timeout=30)
    stored = await stored_history(redis_url)
    assert stored[:2] == [("user", _note("4")["content"], True, False), ("user", _note("2")["content"], True, False)]
    assert len(llm.requests) == 1


async def test_a_key_press_interrupts_the_agent(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text(LONG_ANSWER), Text("Option five."))
    peer = await TwilioPeer.call(_url(server))
    await peer.press("#")
    await peer.until(lambda: len(peer.echoed) >= 1, timeout=60)
    await peer.press("5")
    await peer.until(lambda: peer.count("clear") == 1, timeout=5)
    await eventually(lambda: len(llm.requests) == 2, timeout=10)
    assert llm.requests[1]["messages"][-1] == _note("5")
    [heard] = await _interrupted_answers(redis_url)
    assert heard in {_played(n) for n in range(1, len(_chunks(LONG_ANSWER)))}


@pytest.mark.parametrize("parameters", [{}, {"token": "wrong"}], ids=["missing", "wrong"])
async def test_a_stream_without_a_valid_token_is_refused(settings, llm: ScriptedLLM, parameters: dict[str, str]) -> None:
    async with running_server(settings.model_copy(update={"api_keys": ["acme:sekret"]})) as gateway:
        peer = await TwilioPeer.call(_url(gateway), parameters)
        code, reason = await peer.closed()
    assert code == 1008 and "missing or invalid token" in (reason or "")
    assert not llm.requests


async def test_the_token_names_the_owner_and_the_agent_must_exist(settings, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text("Acme here."))
    async with running_server(settings.model_copy(update={"api_keys": ["acme:sekret"]})) as gateway:
        unknown = await TwilioPeer.call(_url(gateway), {"token": "sekret", "agent": "nobody"})
        assert await unknown.closed() == (1008, "unknown agent 'nobody'")
        peer = await TwilioPeer.call(_url(gateway), {"token": "sekret"})
        await peer.press("#")
        await peer.until(lambda: len(peer.echoed) == 1, timeout=30)
        await peer.stop()
        await peer.closed()
    assert ("user", _note("#")["content"], True, False) in await stored_history(redis_url, owner="acme")


async def test_the_upgrade_must_be_signed_by_twilio_when_an_auth_token_is_set(settings, llm: ScriptedLLM) -> None:
    public = "wss://voice.example.com"
    update = {"twilio_auth_token": "twilio-secret", "public_url": public}
    async with running_server(settings.model_copy(update=update)) as gateway:
        forged = compute_signature("twilio-secret", "wss://elsewhere.example.com/v1/twilio")
        for headers in (None, {"X-Twilio-Signature": forged}):
            peer = await TwilioPeer.call(_url(gateway), headers=headers)
            assert await peer.closed() == (1008, "invalid X-Twilio-Signature")
        llm.script(Text("Signed and sealed."))
        signed = {"X-Twilio-Signature": compute_signature("twilio-secret", f"{public}/v1/twilio")}
        peer = await TwilioPeer.call(_url(gateway), headers=signed)
        await peer.press("#")
        await peer.until(lambda: peer.count("media") > 0, timeout=30)
        await peer.stop()


async def test_malformed_events_close_that_stream_with_a_reason_and_other_calls_go_on(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text(LONG_ANSWER))
    healthy = await TwilioPeer.call(_url(server))
    await healthy.press("#")
    await healthy.until(lambda: healthy.count("media") > 0, timeout=30)

    def media(payload: str, sid: str) -> str:
        return json.dumps({"event": "media", "streamSid": sid, "media": {"track": "inbound", "payload": payload}})

    cases = [
        (True, lambda sid: "{oops", "protocol error: not JSON"),
        (False, lambda sid: media("AAAA", sid), "protocol error: media before start"),
        (True, lambda sid: media("not base64!!", sid), "protocol error: malformed media message: media.payload: payload is not valid base64"),
        (True, lambda sid: b"\x00\x01", "protocol error: binary frame"),
    ]
    for start, frame, says in cases:
        bad = await TwilioPeer.call(_url(server), start=start)
        await bad.connection.send(frame(bad.stream_sid))
        code, reason = await bad.closed()
        assert code == 1008 and (reason or "").startswith(says), reason

    sent = healthy.count("media")
    await healthy.until(lambda: healthy.count("media") >= sent + 50, timeout=10)  # still talking, at pace
    assert healthy.connection.close_code is None
    await healthy.stop()
    assert (await healthy.closed())[0] == 1000


def _question() -> np.ndarray:
    """A question that ends where the speakerphone's continuous audio takes over."""
    return np.concatenate([silence(300), read_wav("speech02.wav")])


async def test_the_answer_coming_back_as_echo_does_not_interrupt_it(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text(ANSWER))
    peer = await TwilioPeer.call(_url(server))
    await peer.speak(_question())
    await peer.on_speaker(seconds=8.0, level_db=-20.0, delay_ms=40)
    assert peer.count("clear") == 0, "the agent's own voice interrupted it"
    assert len(llm.requests) == 1, "the agent's own voice was taken for the caller's"
    stored = await stored_history(redis_url)
    assert [(content, interrupted) for role, content, _, interrupted in stored if role == "assistant"] == [(ANSWER, False)]


async def test_a_caller_talking_over_the_echo_still_interrupts(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(Text(LONG_ANSWER), Text("Sure, go ahead."))
    peer = await TwilioPeer.call(_url(server))
    await peer.speak(_question())
    await peer.on_speaker(seconds=10.0, level_db=-20.0, delay_ms=40, speech=read_clip("interrupt_wait_stop.wav"), speech_after_s=3.0)
    assert peer.count("clear") == 1
    [heard] = await _interrupted_answers(redis_url)
    assert heard and LONG_ANSWER.startswith(heard) and len(heard) < len(LONG_ANSWER)


@pytest.mark.parametrize("clip", ["backchannel_uhhuh.wav", "cough.wav"])
async def test_a_backchannel_or_a_cough_during_the_answer_lets_it_play_to_the_end(server, llm: ScriptedLLM, redis_url: str, clip: str) -> None:
    llm.script(Text(ANSWER))
    peer = await TwilioPeer.call(_url(server))
    await peer.speak(_question())
    await peer.on_speaker(seconds=8.0, level_db=None, speech=read_clip(clip), speech_after_s=1.0)
    assert peer.count("clear") == 0, f"the {clip} interrupted the answer, heard as {[r['messages'][-1] for r in llm.requests[1:]]}"
    assert len(peer.echoed) == len(_chunks(ANSWER)), "every chunk of the answer played"
    assert len(llm.requests) == 1, "the backchannel was answered"
    stored = await stored_history(redis_url)
    assert [(role, content, interrupted) for role, content, _, interrupted in stored] == [
        ("user", llm.requests[0]["messages"][-1]["content"], False), ("assistant", ANSWER, False)]


async def test_a_backchannel_over_the_echo_lets_the_answer_play_to_the_end(server, llm: ScriptedLLM, redis_url: str) -> None:
    answer = f"{ANSWER} On Mondays it is closed, and on holidays it opens at noon."
    llm.script(Text(answer))
    peer = await TwilioPeer.call(_url(server))
    await peer.speak(_question())
    await peer.on_speaker(seconds=20.0, level_db=-20.0, delay_ms=40, speech=read_clip("backchannel_uhhuh.wav"), speech_after_s=1.5)
    assert peer.count("clear") == 0, f"the answer was interrupted, heard as {[r['messages'][-1] for r in llm.requests[1:]]}"
    assert len(peer.echoed) == len(_chunks(answer)), "every chunk of the answer played"
    assert len(llm.requests) == 1, "the backchannel or the echo was answered"
    stored = await stored_history(redis_url)
    assert [(content, interrupted) for role, content, _, interrupted in stored if role == "assistant"] == [(answer, False)]
