"""Streaming and one-shot resampling."""

import numpy as np

from audio.resample import StreamResampler, resample


def sine(freq: float, rate: int, seconds: float, dtype: type = np.int16) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t)
    return (wave * 32767).astype(np.int16) if dtype == np.int16 else wave.astype(np.float32)


def stream(resampler: StreamResampler, samples: np.ndarray, chunk: int) -> np.ndarray:
    out = [resampler.process(samples[i : i + chunk]) for i in range(0, len(samples), chunk)]
    return np.concatenate(out + [resampler.flush()])


def peak_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def test_24k_to_16k_and_back_keeps_a_sines_frequency_and_length():
    original = sine(440, 24000, 1.0)
    at_16k = stream(StreamResampler(24000, 16000), original, 480)  # 20 ms chunks
    back = stream(StreamResampler(16000, 24000), at_16k, 320)
    assert (len(at_16k), len(back)) == (16000, 24000)
    assert abs(peak_frequency(at_16k, 16000) - 440) <= 1
    assert abs(peak_frequency(back, 24000) - 440) <= 1


def test_streamed_chunks_join_without_clicks():
    original = sine(1000, 24000, 0.5)
    streamed = stream(StreamResampler(24000, 16000), original, 333)  # odd chunk size on purpose
    whole = resample(original, 24000, 16000)
    assert len(streamed) == len(whole)
    assert np.abs(streamed.astype(np.int32) - whole).max() <= 2  # rounding only, no edge artefacts


def test_float32_streams_stay_float32():
    original = sine(300, 22050, 0.5, np.float32)
    streamed = stream(StreamResampler(22050, 24000, np.float32), original, 1000)
    assert streamed.dtype == np.float32
    assert np.allclose(streamed, resample(original, 22050, 24000), atol=1e-4)


def test_equal_rates_pass_audio_through():
    original = sine(440, 16000, 0.1)
    assert np.array_equal(stream(StreamResampler(16000, 16000), original, 100), original)
