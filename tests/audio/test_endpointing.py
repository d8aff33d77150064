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
    endpointer.speech_stopped("second")
    assert endpointer.utterance("a new card.", speech_end_ms=9500, now_ms=10000, utterance_id="second") == [
        TurnEnded("So what I need is, um a new card.", 10000)
    ]


def test_words_transcribed_after_the_caller_spoke_again_have_no_deadline_while_they_speak():
    endpointer = Endpointer(MEDIUM)
    endpointer.speech_stopped("group 1")
    endpointer.speech_started()
    assert endpointer.utterance("My number is 415.", speech_end_ms=2200, now_ms=3100, utterance_id="group 1") == []
    assert endpointer.tick(2200 + MEDIUM.cap_ms + 5000) == []


def test_a_held_turn_waits_for_the_words_of_a_later_utterance_however_late_they_come():
    endpointer = Endpointer(MEDIUM)
    endpointer.speech_stopped("group 1")
    endpointer.speech_started()
    endpointer.speech_stopped("group 2")
    late = 2200 + MEDIUM.cap_ms + 500  # Whisper on a loaded machine: group 1's words come after its cap
    assert endpointer.utterance("My number is 415. 5, 5, 5", speech_end_ms=2200, now_ms=late, utterance_id="group 1") == []
    assert endpointer.tick(late + 2000) == []
    words = endpointer.utterance("2, 6, 7, 1.", speech_end_ms=5300, now_ms=late + 2500, utterance_id="group 2")
    assert words == [TurnEnded("My number is 415. 5, 5, 5 2, 6, 7, 1.", late + 2500)]


def test_a_finished_sentence_is_not_answered_while_the_caller_goes_on_speaking():
    endpointer = Endpointer(MEDIUM)
    endpointer.speech_stopped("first")
    endpointer.speech_started()
    assert endpointer.utterance("What time is it?", speech_end_ms=1000, now_ms=1800, utterance_id="first") == []
    endpointer.speech_stopped("second")
    words = endpointer.utterance("In Tokyo, I mean.", speech_end_ms=3000, now_ms=3400, utterance_id="second")
    assert words == [TurnEnded("What time is it? In Tokyo, I mean.", 3400)]


def test_an_utterance_whose_words_never_came_does_not_hold_the_turn_forever():
    endpointer = Endpointer(MEDIUM)
    endpointer.speech_stopped("lost")
    endpointer.speech_started()
    endpointer.speech_stopped("next")
    assert endpointer.utterance("Thanks, goodbye.", speech_end_ms=3000, now_ms=3400, utterance_id="next") == [TurnEnded("Thanks, goodbye.", 3400)]


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
