"""Interruption classification: backchannels and noise are ignored, real interruptions stop the answer."""

import numpy as np
import pytest
from pydantic import ValidationError

from audio.interruption import (
    Ignore,
    Interrupt,
    InterruptionClassifier,
    InterruptionSettings,
    Pause,
    Reason,
    Resume,
    Transcribe,
)
from audio.resample import resample
from audio.vad import WINDOW_SAMPLES
from tests.audio.turn_clips import BACKCHANNELS, INTERRUPTIONS, agent_answer, cancelled, classify, echo_of, mix, read_clip

WINDOW = np.zeros(WINDOW_SAMPLES, dtype=np.int16)


def during_answer(clip: str) -> np.ndarray:
    """The clip spoken 500 ms into the agent's answer, followed by 1.5 s of quiet."""
    samples = read_clip(clip).astype(np.float32)
    end_ms = 500 + len(samples) // 16 + 1500
    return mix((500, samples), (end_ms, np.zeros(16, dtype=np.float32)))


def kinds(events) -> list[type]:
    return [type(event) for event in events]


def push_all(classifier, probabilities) -> list:
    """Windows of the given speech probabilities, as the VAD would score them."""
    return [event for p in probabilities for event in classifier.push(WINDOW, p)]


@pytest.mark.parametrize("clip", BACKCHANNELS)
def test_a_backchannel_pauses_the_answer_briefly_and_it_goes_on(clip, transcriber):
    events = classify(during_answer(clip), InterruptionClassifier(), transcriber.transcribe)
    assert kinds(events) == [Pause, Resume]


def test_a_cough_never_stops_the_answer(transcriber):
    events = classify(during_answer("cough.wav"), InterruptionClassifier(), transcriber.transcribe)
    assert Interrupt not in kinds(events)


@pytest.mark.parametrize("clip", INTERRUPTIONS)
def test_a_real_interruption_stops_the_answer(clip, transcriber):
    events = classify(during_answer(clip), InterruptionClassifier(), transcriber.transcribe)
    assert kinds(events) == [Pause, Interrupt]
    assert 500 <= events[1].onset_ms <= 600  # the VAD needs a window or two to be sure


def abruptly_on_a_phone_line(clip: str) -> np.ndarray:
    """The clip from its first loud sample (no quiet of its own before it, as a caller cut in by the
    echo canceller sounds), 500 ms into the answer, through an 8 kHz line."""
    samples = read_clip(clip).astype(np.float32)
    samples = samples[np.argmax(np.abs(samples) > 1000) :]
    track = mix((500, samples), (500 + len(samples) // 16 + 1500, np.zeros(16, dtype=np.float32)))
    return resample(resample(track.astype(np.float32), 16000, 8000), 8000, 16000).astype(np.int16)


def test_a_word_said_abruptly_is_heard_at_its_first_pause(transcriber):
    heard: list[str] = []
    events = classify(abruptly_on_a_phone_line("interrupt_wait_stop.wav"), InterruptionClassifier(),
                      lambda audio: heard.append(transcriber.transcribe(audio)) or heard[-1])
    assert kinds(events) == [Pause, Interrupt]
    assert len(heard) == 1, f"'wait' alone was not heard: {heard}"


def test_a_backchannel_said_abruptly_is_heard_as_one(transcriber):
    events = classify(abruptly_on_a_phone_line("backchannel_uhhuh.wav"), InterruptionClassifier(), transcriber.transcribe)
    assert events[1:] == [Resume(events[1].at_ms, Reason.BACKCHANNEL)]


def test_the_agents_own_echo_never_interrupts_it(transcriber):
    played = agent_answer()
    microphone = mix((0, echo_of(played, delay_ms=150)))
    assert classify(cancelled(microphone, played), InterruptionClassifier(), transcriber.transcribe) == []


def test_a_real_interruption_over_the_echo_still_interrupts(transcriber):
    played = agent_answer()
    microphone = mix((0, echo_of(played, delay_ms=150)), (3000, read_clip("interrupt_wait_stop.wav").astype(np.float32)))
    events = classify(cancelled(microphone, played), InterruptionClassifier(), transcriber.transcribe)
    assert kinds(events) == [Pause, Interrupt]


def test_a_short_word_that_is_not_a_backchannel_interrupts():
    classifier = InterruptionClassifier()
    events = push_all(classifier, [0.9] * 6 + [0.0])  # ~200 ms of speech, then a pause
    request = next(event for event in events if isinstance(event, Transcribe))
    assert kinds(classifier.transcript("Wait.", request.audio_end_ms)) == [Interrupt]


def test_speech_heard_to_be_backchannel_words_counts_towards_the_maximum_only():
    settings = InterruptionSettings(interruption_min_speech_ms=320, backchannel_max_ms=480)
    classifier = InterruptionClassifier(settings)
    events = push_all(classifier, [0.9] * 8 + [0.0])  # 256 ms voiced
    request = next(event for event in events if isinstance(event, Transcribe))
    classifier.transcript("Yeah, yeah.", request.audio_end_ms)
    assert Interrupt not in kinds(push_all(classifier, [0.9] * 6))  # 448 ms voiced, 192 ms of it unjudged
    assert kinds(push_all(classifier, [0.9])) == [Interrupt]


def test_a_word_heard_in_the_start_of_a_sound_interrupts_though_the_sound_goes_on():
    classifier = InterruptionClassifier()
    start = next(event for event in push_all(classifier, [0.9] * 6 + [0.0]) if isinstance(event, Transcribe))  # "wait"
    push_all(classifier, [0.9] * 3)  # "stop"
    assert kinds(classifier.transcript("Wait.", start.audio_end_ms)) == [Interrupt]


def test_words_heard_in_a_brief_start_of_a_sound_that_went_on_wait_for_the_rest_of_it():
    classifier = InterruptionClassifier()
    start = next(event for event in push_all(classifier, [0.9] * 3 + [0.0]) if isinstance(event, Transcribe))  # "uh"
    push_all(classifier, [0.9] * 6)  # "-huh"
    assert classifier.transcript("But...", start.audio_end_ms) == []
    whole = next(event for event in push_all(classifier, [0.0]) if isinstance(event, Transcribe))
    assert classifier.transcript("Uh-huh.", whole.audio_end_ms) == []
    assert kinds(push_all(classifier, [0.0] * 10)) == [Resume]


def test_the_answer_goes_on_after_a_short_sound_without_waiting_for_its_transcript():
    classifier = InterruptionClassifier()
    events = push_all(classifier, [0.9] * 6 + [0.0] * 10)  # ~200 ms of sound, then 320 ms of quiet
    assert kinds(events) == [Pause, Transcribe, Resume]


def test_a_word_transcribed_after_the_answer_went_on_still_interrupts_it():
    classifier = InterruptionClassifier()
    events = push_all(classifier, [0.9] * 6 + [0.0] * 10)
    request = next(event for event in events if isinstance(event, Transcribe))
    assert kinds(classifier.transcript("No!", request.audio_end_ms)) == [Interrupt]


def test_without_pausing_a_backchannel_is_ignored():
    classifier = InterruptionClassifier(InterruptionSettings(pause_on_speech=False))
    events = push_all(classifier, [0.9] * 6 + [0.0])
    request = next(event for event in events if isinstance(event, Transcribe))
    events = classifier.transcript("Okay.", request.audio_end_ms) + push_all(classifier, [0.0] * 10)
    assert events == [Ignore(events[0].at_ms, Reason.BACKCHANNEL)]


def test_a_transcript_asked_for_before_a_reset_is_not_applied_to_the_next_answer():
    classifier = InterruptionClassifier()
    request = next(event for event in push_all(classifier, [0.9] * 6 + [0.0]) if isinstance(event, Transcribe))
    classifier.reset()
    assert classifier.transcript("Stop!", request.audio_end_ms) == []


def test_unknown_or_out_of_range_settings_are_refused():
    with pytest.raises(ValidationError):
        InterruptionSettings(interruption_min_speech_ms=-1)
    with pytest.raises(ValidationError):
        InterruptionSettings(min_interruption_ms=300)
