"""Speech-to-text with the default tiny.en model."""

import asyncio

import numpy as np
import pytest

from audio.stt import get_transcriber
from tests.audio.speech_data import SCRIPT, SPEECH_FILES, read_wav, word_error_rate, word_errors, words
from tests.loop_probe import loop_ticks

# tiny.en mishears these two espeak voices (en-us+f1, en-us+m1): WER ~0.55 and ~0.7 with this model.
HARD_FOR_TINY_EN = {"speech04.wav", "speech06.wav"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xfail(reason="tiny.en mishears this espeak voice", strict=False))
        if name in HARD_FOR_TINY_EN
        else name
        for name in SPEECH_FILES
    ],
)
def test_each_sentence_is_transcribed_close_to_what_was_said(transcriber, name):
    assert word_error_rate(SCRIPT[name], transcriber.transcribe(read_wav(name))) <= 0.25


def test_word_error_rate_over_all_test_speech_is_low(transcriber):
    errors = sum(word_errors(SCRIPT[name], transcriber.transcribe(read_wav(name))) for name in SPEECH_FILES)
    assert errors / sum(len(words(SCRIPT[name])) for name in SPEECH_FILES) <= 0.25


@pytest.mark.parametrize("kind", ["noise.wav", "silence.wav", "white noise", "1 kHz tone", "clicks", "empty"])
def test_noise_and_silence_transcribe_to_nothing(transcriber, kind):
    rng, t = np.random.default_rng(0), np.arange(48000) / 16000
    audio = {
        "white noise": (rng.standard_normal(48000) * 3000).astype(np.int16),
        "1 kHz tone": (np.sin(2 * np.pi * 1000 * t) * 3000).astype(np.int16),
        "clicks": np.where(np.arange(48000) % 4000 == 0, 20000, 0).astype(np.int16),
        "empty": np.zeros(0, dtype=np.int16),
    }.get(kind)
    assert transcriber.transcribe(read_wav(kind) if audio is None else audio) == ""


async def test_async_transcription_leaves_the_event_loop_free(transcriber):
    async with loop_ticks(0.01) as probe:
        texts = await asyncio.gather(*(transcriber.transcribe_async(read_wav(n)) for n in ("speech01.wav", "speech05.wav")))
    assert texts == [transcriber.transcribe(read_wav(n)) for n in ("speech01.wav", "speech05.wav")]
    assert probe.share >= 0.5  # the loop kept running while the model worked


def test_the_model_is_loaded_once_per_process(transcriber):
    assert get_transcriber() is transcriber
