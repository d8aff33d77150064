"""Uploaded audio files (WAV, FLAC, MP3, Ogg Vorbis/Opus, raw PCM) to 16 kHz int16 mono, without ffmpeg.

libsndfile (the `soundfile` wheel bundles it) reads every container but raw PCM, which
is little-endian 16-bit mono at 24 kHz (OpenAI's `pcm`) unless a `rate=` parameter says otherwise.
"""

import io

import numpy as np
import soundfile

from audio.codecs import pcm16_to_int16
from audio.resample import resample

TARGET_RATE = 16000
RAW_PCM_RATE = 24000


class UnreadableAudio(ValueError):
    """The bytes are not audio in a format we read."""


def is_raw_pcm(filename: str, content_type: str) -> bool:
    """Whether an upload is headerless PCM: a `.pcm`/`.raw` file or an `audio/pcm`/`audio/l16` content type."""
    return filename.lower().endswith((".pcm", ".raw")) or content_type.split(";")[0].strip().lower() in ("audio/pcm", "audio/l16")


def _rate_parameter(content_type: str) -> int:
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "rate":
            if not value.strip().isdigit() or not 8000 <= int(value) <= 48000:
                raise UnreadableAudio(f"unsupported PCM rate {value.strip()!r} (8000-48000)")
            return int(value)
    return RAW_PCM_RATE


def decode_audio(data: bytes, filename: str = "", content_type: str = "") -> tuple[np.ndarray, int]:
    """The upload's samples (int16, mono) and their rate; raises UnreadableAudio."""
    if is_raw_pcm(filename, content_type):
        try:
            return pcm16_to_int16(data), _rate_parameter(content_type)
        except ValueError as exc:
            raise UnreadableAudio(str(exc)) from None
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="int16", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise UnreadableAudio(f"not a readable audio file ({exc})") from None
    mono = samples.mean(axis=1).astype(np.int16) if samples.shape[1] > 1 else samples[:, 0]
    return mono, int(rate)


def to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Samples at 16 kHz, as Whisper wants them."""
    return resample(samples, rate, TARGET_RATE).astype(np.int16)
