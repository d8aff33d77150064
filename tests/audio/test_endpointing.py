"""Semantic end of turn: finished sentences are answered at once, unfinished ones are waited for."""

import pytest
from pydantic import ValidationError

from audio.endpointing import Eagerness, Endpointer, EndpointingSettings, TurnEnded, TurnHeld, Unfinished, unfinished
from tests.audio.turn_clips import UNFINISHED, endpoint, read_clip

MEDIUM = EndpointingSettings(eagerness=Eagerness.MEDIUM)


def test_a_finished_question_ends_the_turn_as_soon_as_the_silence_has_passed(transcriber):
    clip = read_clip("question_finished.wav")
    events = endpoint(clip, MEDIUM, transcriber.transcribe)
    assert len(events) == 1 and isinstance(events[0], TurnEnded)
    assert events[0].at_ms <= len(clip) // 16 + MEDIUM.silence_duration_ms


@pytest.mark.parametrize("clip", UNFINISHED)
def test_a_sentence_left_hanging_is_waited_for_up_to_the_cap(clip, transcriber):
    samples = read_clip(clip)
    held, ended = endpoint(samples, MEDIUM, transcriber.transcribe)
    assert isinstance(held, TurnHeld) and isinstance(ended, TurnEnded)
    assert ended.at_ms == pytest.approx(held.until_ms, abs=32)
    assert ended.at_ms >= len(samples) // 16 + MEDIUM.cap_ms - 200  # the clip ends in 100 ms of silence


def test_a_number_spoken_in_groups_with_pauses_arrives_as_one_turn(transcriber):
    events = endpoint(read_clip("digits_grouped.wav"), MEDIUM, transcriber.transcribe)
    turns = [event for event in events if isinstance(event, TurnEnded)]
    assert len(turns) == 1
    assert "".join(c for c in turns[0].text if c.isdigit()) == "4155552671"


@pytest.mark.parametrize("eagerness, cap_ms", [(Eagerness.LOW, 8000), (Eagerness.MEDIUM, 4000), (Eagerness.HIGH, 2000)])
def test_the_wait_for_an_unfinished_sentence_is_capped_by_eagerness(eagerness, cap_ms):
    endpointer = Endpointer(EndpointingSettings(eagerness=eagerness))
    [held] = endpointer.utterance("I'd like to order a pizza and", speech_end_ms=1000, now_ms=1500)
    assert held.until_ms == 1000 + cap_ms
    assert endpointer.tick(1000 + cap_ms - 1) == []
    assert endpointer.tick(1000 + cap_ms) == [TurnEnded("I'd like to order a pizza and", 1000 + cap_ms)]


def test_speaking_again_keeps_a_held_turn_open_past_its_deadline():
    endpointer = Endpointer(MEDIUM)
    endpointer.utterance("So what I need is, um", speech_end_ms=1000, now_ms=1500)
    endpointer.speech_started()
    assert endpointer.tick(9000) == []
    assert endpointer.utterance("a new card.", speech_end_ms=9500, now_ms=10000) == [TurnEnded("So what I need is, um a new card.", 10000)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I would like to book a table for two and...", Unfinished.TRAILING_OFF),
        ("I was wondering if you could, um", Unfinished.FILLER),
        ("Can you send it to", Unfinished.OPEN_WORD),
        ("My number is 415.", Unfinished.DIGITS),
        ("My number is 415. 5, 5, 5", Unfinished.DIGITS),
        ("My number is 415. 5, 5, 5 2, 6, 7, 1", None),
        ("What is it for?", None),
        ("I am 25.", None),
        ("Thanks, goodbye.", None),
    ],
)
def test_which_transcripts_sound_unfinished(text, expected):
    assert unfinished(text) is expected


def test_an_unknown_eagerness_is_refused():
    with pytest.raises(ValidationError):
        EndpointingSettings(eagerness="eventually")
