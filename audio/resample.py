"""Sample-rate conversion with soxr: a streaming resampler for live audio and a one-shot helper."""

import numpy as np
import soxr


class StreamResampler:
    """Resample one mono stream chunk by chunk, keeping the filter state between chunks.

    Chunks of any size go in; the output is continuous (no clicks at chunk edges) but lags
    by the filter delay, which `flush()` releases at the end of the stream. The dtype
    (int16 or float32) is fixed per stream; output has the same dtype as the input.
    Equal rates pass audio through untouched.
    """

    def __init__(self, in_rate: int, out_rate: int, dtype: type = np.int16, quality: str = "HQ") -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._dtype = np.dtype(dtype)
        self._stream = (
            None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, dtype=self._dtype.name, quality=quality)
        )

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Resample the next chunk of the stream; may return fewer samples than expected (filter delay)."""
        chunk = np.asarray(chunk, dtype=self._dtype)
        if self._stream is None:
            return chunk
        return self._stream.resample_chunk(chunk, last=False)

    def flush(self) -> np.ndarray:
        """End the stream and return the samples still held in the filter."""
        if self._stream is None:
            return np.zeros(0, dtype=self._dtype)
        return self._stream.resample_chunk(np.zeros(0, dtype=self._dtype), last=True)


def resample(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample a whole mono signal at once (int16 or float32; the dtype is kept)."""
    if in_rate == out_rate:
        return samples
    return soxr.resample(samples, in_rate, out_rate, quality="HQ")
