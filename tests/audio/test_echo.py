"""The echo canceller, measured with the Silero VAD on Piper's voice coming back at -20 dB."""

import numpy as np
import pytest

from audio.vad import WINDOW_SAMPLES, SileroVad
from tests.audio.turn_clips import agent_answer, cancelled, echo_of, mix, read_clip

CALLER_AT_MS = 3000


def speech_windows(samples: np.ndarray) -> np.ndarray:
    """Which 32 ms windows the Silero VAD calls speech (probability >= 0.5)."""
    return SileroVad().score(samples[: len(samples) // WINDOW_SAMPLES * WINDOW_SAMPLES]) >= 0.5


@pytest.mark.parametrize("delay_ms", [40, 300])
def test_the_agents_own_voice_at_minus_20_db_is_not_speech_after_cancelling(delay_ms):
    played = agent_answer()
    microphone = mix((0, echo_of(played, delay_ms)))
    assert speech_windows(microphone).sum() > 20  # without cancelling, the VAD hears the echo as speech
    assert speech_windows(cancelled(microphone, played)).sum() == 0


@pytest.mark.parametrize("delay_ms", [40, 300])
def test_a_caller_talking_over_the_echo_is_still_speech(delay_ms):
    played, caller = agent_answer(), read_clip("interrupt_wait_stop.wav")
    microphone = mix((0, echo_of(played, delay_ms)), (CALLER_AT_MS, caller.astype(np.float32)))
    heard = speech_windows(cancelled(microphone, played))
    during = heard[CALLER_AT_MS * 16 // WINDOW_SAMPLES : (CALLER_AT_MS * 16 + len(caller)) // WINDOW_SAMPLES]
    assert during.sum() >= 0.5 * speech_windows(caller).sum()
    assert heard.sum() == during.sum()  # and nothing else is


def test_a_caller_alone_passes_through_untouched_when_the_agent_is_silent():
    caller = read_clip("question_finished.wav")
    assert speech_windows(cancelled(caller, np.zeros(0, dtype=np.int16))).sum() >= 0.9 * speech_windows(caller).sum()


def test_a_caller_on_a_line_without_echo_is_heard_from_the_first_syllable():
    played, caller = agent_answer(), read_clip("interrupt_no_question.wav")
    microphone = mix((0, np.zeros(len(played), dtype=np.float32)), (CALLER_AT_MS, caller.astype(np.float32)))
    first_second = slice(CALLER_AT_MS * 16 // WINDOW_SAMPLES, (CALLER_AT_MS + 1000) * 16 // WINDOW_SAMPLES)
    heard, spoken = speech_windows(cancelled(microphone, played))[first_second], speech_windows(microphone)[first_second]
    assert np.argmax(heard) == np.argmax(spoken)  # the first speech window
    assert heard.sum() >= 0.9 * spoken.sum()  # AEC3 alone heard nothing for ~600 ms
