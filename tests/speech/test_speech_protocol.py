"""The speech API's wire format, without sockets."""

import io
import wave

import pytest

from server.speech_protocol import ApiError, parse_speech, parse_transcription, wav_header

BOUNDARY = "xyz"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def _form(**fields: str | bytes) -> bytes:
    parts = []
    for name, value in fields.items():
        filename = '; filename="a.wav"' if name == "file" else ""
        data = value if isinstance(value, bytes) else value.encode()
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n\r\n'.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def test_a_form_upload_is_read_with_its_options() -> None:
    request = parse_transcription(_form(file=b"RIFF....", model="whisper-1", prompt="Oak Lane", stream="true"), CONTENT_TYPE, ("en",))
    assert (request.audio, request.filename, request.model, request.prompt, request.stream) == (b"RIFF....", "a.wav", "whisper-1", "Oak Lane", True)


def test_a_language_the_model_does_not_know_is_refused_naming_the_field() -> None:
    with pytest.raises(ApiError) as refused:
        parse_transcription(_form(file=b"x", model="whisper-1", language="fr"), CONTENT_TYPE, ("en",))
    assert (refused.value.param, refused.value.code) == ("language", "unsupported_language")


def test_an_unknown_form_field_is_refused_rather_than_ignored() -> None:
    with pytest.raises(ApiError) as refused:
        parse_transcription(_form(file=b"x", model="whisper-1", timestamp_granularities="word"), CONTENT_TYPE, None)
    assert refused.value.param == "timestamp_granularities"


def test_speech_outside_the_speed_range_is_refused() -> None:
    with pytest.raises(ApiError) as refused:
        parse_speech(b'{"model": "tts-1", "input": "Hi.", "voice": "alloy", "speed": 9}')
    assert refused.value.param == "speed"


def test_the_streaming_wav_header_describes_24k_16_bit_mono() -> None:
    with wave.open(io.BytesIO(wav_header() + b"\x00\x00" * 10)) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (24000, 2, 1)
