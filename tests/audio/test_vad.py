"""Silero VAD scoring, window by window."""

import time

import numpy as np
import pytest
from faster_whisper.vad import get_vad_model

from audio.vad import WINDOW_SAMPLES, SileroVad
from tests.audio.speech_data import SPEECH_FILES, read_wav


def whole_windows(samples: np.ndarray) -> np.ndarray:
    return samples[: len(samples) // WINDOW_SAMPLES * WINDOW_SAMPLES]


@pytest.mark.parametrize("name", SPEECH_FILES)
def test_speech_files_are_heard_as_speech(name):
    probabilities = SileroVad().score(whole_windows(read_wav(name)))
    assert probabilities.max() > 0.9
    assert (probabilities >= 0.5).mean() > 0.5


@pytest.mark.parametrize("name", ["noise.wav", "silence.wav"])
def test_noise_and_silence_are_not_speech(name):
    assert SileroVad().score(whole_windows(read_wav(name))).max() < 0.5


def test_scoring_in_pieces_gives_faster_whispers_probabilities():
    samples = whole_windows(read_wav("speech07.wav"))
    reference = get_vad_model()(samples.astype(np.float32) / 32768).reshape(-1)
    vad, scores, i = SileroVad(), [], 0
    for n in [1, 3, 1, 7, 2] * 100:  # windows per call
        scores.append(vad.score(samples[i : i + n * WINDOW_SAMPLES]))
        i += n * WINDOW_SAMPLES
    # faster-whisper zeroes the last 64 samples of the final window in place, so skip that one
    assert np.allclose(np.concatenate(scores)[:-1], reference[:-1], atol=1e-5)


def test_streams_sharing_the_model_keep_their_own_state():
    a, b = (whole_windows(read_wav(name)).reshape(-1, WINDOW_SAMPLES)[:40] for name in ("speech01.wav", "speech02.wav"))
    alone = SileroVad().score(a)
    first, second = SileroVad(), SileroVad()
    interleaved = [(first.score(wa), second.score(wb))[0] for wa, wb in zip(a, b)]
    assert np.allclose(np.concatenate(interleaved), alone, atol=1e-6)


def test_one_window_costs_under_a_millisecond():
    vad, window = SileroVad(), read_wav("speech01.wav")[:WINDOW_SAMPLES]
    costs = []
    for _ in range(200):
        start = time.perf_counter()
        vad.score(window)
        costs.append(time.perf_counter() - start)
    assert np.median(costs) < 0.001
