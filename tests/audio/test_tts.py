"""Text-to-speech with the default Piper voice."""


import numpy as np

from audio.resample import resample
from audio.tts import get_synthesizer
from tests.audio.speech_data import word_error_rate
from tests.loop_probe import loop_ticks


def test_synthesised_speech_is_understood_by_the_transcriber(synthesizer, transcriber):
    text = "Your delivery address has been changed to Oak Lane."
    audio = synthesizer.synthesize(text)
    heard = transcriber.transcribe(resample(audio, synthesizer.sample_rate, 16000))
    assert word_error_rate(text, heard) <= 0.25  # Piper samples noise: "Oak Lane" is now and then "Oaklin"


def test_speech_comes_as_int16_at_the_voice_rate_and_grows_with_the_text(synthesizer):
    short, long = synthesizer.synthesize("Sure."), synthesizer.synthesize("Sure, I can help you with that today.")
    assert synthesizer.sample_rate == 22050
    assert short.dtype == long.dtype == np.int16
    assert 0.2 < len(short) / synthesizer.sample_rate < len(long) / synthesizer.sample_rate < 4
    assert np.abs(long).max() > 10000


def test_nothing_to_say_gives_no_audio(synthesizer):
    assert len(synthesizer.synthesize("")) == 0
    assert len(synthesizer.synthesize("   ")) == 0


async def test_async_synthesis_leaves_the_event_loop_free(synthesizer):
    text = "This reply is long enough to keep the voice busy for a little while, so the loop must keep ticking."
    async with loop_ticks(0.005) as probe:
        audio = await synthesizer.synthesize_async(text)
    assert len(audio) > synthesizer.sample_rate * 3
    assert probe.share >= 0.4


def test_the_voice_is_loaded_once_per_process(synthesizer):
    assert get_synthesizer() is synthesizer
