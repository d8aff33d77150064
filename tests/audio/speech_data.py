"""The recorded test speech in tests/data and a word error rate to score transcripts."""

import re
import wave
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "data"
SCRIPT = dict(line.split("\t")[::2] for line in (DATA / "index.tsv").read_text().splitlines() if line.strip())
SPEECH_FILES = sorted(SCRIPT)


def read_wav(name: str) -> np.ndarray:
    """A 16 kHz mono 16-bit WAV from tests/data as int16 samples."""
    with wave.open(str(DATA / name)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int16)


def silence(ms: int) -> np.ndarray:
    """Digital silence at 16 kHz."""
    return np.zeros(ms * 16, dtype=np.int16)


def trim_trailing_silence(samples: np.ndarray, keep_ms: int = 0) -> np.ndarray:
    """The speech without the silence espeak leaves at its end (keeping `keep_ms` of it)."""
    return samples[: np.flatnonzero(np.abs(samples) > 300)[-1] + keep_ms * 16]


def words(text: str) -> list[str]:
    """Lower-case words without punctuation."""
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def word_errors(reference: str, hypothesis: str) -> int:
    """Word-level edit distance (substitutions + insertions + deletions)."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word errors divided by the reference's word count."""
    return word_errors(reference, hypothesis) / len(words(reference))
