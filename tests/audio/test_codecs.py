"""PCM16 and G.711 conversions, and the Realtime audio formats."""

import numpy as np
import pytest

from audio.codecs import (
    AudioFormat,
    alaw_decode,
    alaw_encode,
    float32_to_int16,
    int16_to_float32,
    int16_to_pcm16,
    pcm16_to_int16,
    ulaw_decode,
    ulaw_encode,
)

ALL_SAMPLES = np.arange(-32000, 32001, dtype=np.int16)


def test_pcm16_bytes_are_little_endian_and_round_trip():
    samples = pcm16_to_int16(b"\x01\x00\xff\x7f\x00\x80")
    assert samples.tolist() == [1, 32767, -32768]
    assert int16_to_pcm16(samples) == b"\x01\x00\xff\x7f\x00\x80"


def test_pcm16_with_an_odd_byte_count_is_a_clear_error():
    with pytest.raises(ValueError, match="even number of bytes, got 3"):
        pcm16_to_int16(b"\x00\x01\x02")


def test_float32_conversion_round_trips_and_clips():
    samples = np.array([-32768, -1, 0, 1, 32767], dtype=np.int16)
    assert np.array_equal(float32_to_int16(int16_to_float32(samples)), samples)
    assert float32_to_int16(np.array([2.0, -2.0])).tolist() == [32767, -32768]


def test_mu_law_matches_known_g711_values():
    assert ulaw_encode(np.array([0, -1, 32767, -32768], dtype=np.int16)) == bytes([0xFF, 0x7F, 0x80, 0x00])
    assert ulaw_decode(bytes([0x00, 0x80, 0xFF, 0x7F, 0xF0, 0xEF])).tolist() == [-32124, 32124, 0, 0, 120, 132]


def test_a_law_matches_known_g711_values():
    assert alaw_encode(np.array([0, -1, 32767, -32768], dtype=np.int16)) == bytes([0xD5, 0x55, 0xAA, 0x2A])
    assert alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A])).tolist() == [8, -8, 32256, -32256]


@pytest.mark.parametrize(("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)])
def test_g711_round_trip_error_is_within_one_quantisation_step(encode, decode):
    decoded = decode(encode(ALL_SAMPLES)).astype(np.int32)
    magnitude = np.abs(ALL_SAMPLES.astype(np.int32))
    assert np.all(np.abs(decoded - ALL_SAMPLES) <= (magnitude + 256) / 32)


@pytest.mark.parametrize(("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)])
def test_g711_codes_survive_decode_then_encode(encode, decode):
    codes = bytes(code for code in range(256) if code != 0x7F)  # mu-law 0x7F is "-0", encoded back as 0xFF
    assert encode(decode(codes)) == codes


@pytest.mark.parametrize(
    ("name", "rate", "expected_rate", "bytes_per_ms"),
    [
        ("audio/pcm", None, 24000, 48),
        ("audio/pcm", 16000, 16000, 32),
        ("audio/pcmu", None, 8000, 8),
        ("audio/pcma", 8000, 8000, 8),
    ],
)
def test_realtime_formats_have_their_rates_and_byte_rates(name, rate, expected_rate, bytes_per_ms):
    fmt = AudioFormat.parse(name, rate)
    assert (fmt.rate, fmt.bytes_per_ms) == (expected_rate, bytes_per_ms)


@pytest.mark.parametrize(("name", "rate"), [("audio/opus", None), ("audio/pcm", 44100), ("audio/pcmu", 16000)])
def test_unsupported_formats_and_rates_are_refused(name, rate):
    with pytest.raises(ValueError):
        AudioFormat.parse(name, rate)


@pytest.mark.parametrize("name", ["audio/pcm", "audio/pcmu", "audio/pcma"])
def test_each_format_decodes_what_it_encodes(name):
    fmt = AudioFormat.parse(name)
    samples = (np.sin(np.linspace(0, 20, 800)) * 20000).astype(np.int16)
    data = fmt.encode(samples)
    assert len(data) == len(samples) * fmt.bytes_per_sample
    error = np.abs(fmt.decode(data).astype(np.int32) - samples)
    assert error.max() <= (0 if name == "audio/pcm" else 700)
