"""Silero VAD v6 (the ONNX model shipped in faster-whisper's assets), one scorer per stream."""

import functools
from pathlib import Path

import faster_whisper
import numpy as np
import onnxruntime

SAMPLE_RATE = 16000
WINDOW_SAMPLES = 512  # 32 ms at 16 kHz
CONTEXT_SAMPLES = 64  # tail of the previous window that the model sees before each window
DEFAULT_MODEL_PATH = Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"


@functools.cache
def vad_session(path: str | None = None) -> onnxruntime.InferenceSession:
    """The process-wide ONNX session (1 intra-op thread), loaded on first use and shared by all streams."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 4
    return onnxruntime.InferenceSession(
        str(path or DEFAULT_MODEL_PATH), sess_options=options, providers=["CPUExecutionProvider"]
    )


class SileroVad:
    """Speech probabilities for consecutive 512-sample windows of one 16 kHz stream.

    Keeps the model's recurrent state and the previous window's last 64 samples between
    calls, exactly as faster-whisper's SileroVADModel does over a whole file, so scoring a
    stream window by window gives the same probabilities as scoring it in one batch.
    The session is shared; the state is per instance (one instance per stream, not thread-safe).
    """

    def __init__(self, session: onnxruntime.InferenceSession | None = None) -> None:
        self._session = session or vad_session()
        self.reset()

    def reset(self) -> None:
        """Forget the stream so far (state and context back to zeros)."""
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)

    def score(self, windows: np.ndarray) -> np.ndarray:
        """Speech probability (0..1) of each window; `windows` is (n, 512) or n*512 samples, float32 or int16."""
        windows = np.asarray(windows)
        if windows.dtype == np.int16:
            windows = windows.astype(np.float32) / 32768.0
        windows = windows.astype(np.float32, copy=False).reshape(-1, WINDOW_SAMPLES)
        if not len(windows):
            return np.zeros(0, dtype=np.float32)
        contexts = np.vstack([self._context, windows[:-1, -CONTEXT_SAMPLES:]])
        batch = np.concatenate([contexts, windows], axis=1)
        probs, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = windows[-1, -CONTEXT_SAMPLES:].copy()
        return probs.reshape(-1)
