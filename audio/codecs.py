"""Sample formats: PCM16 bytes <-> numpy, G.711 mu-law/A-law, and the Realtime audio formats."""

from dataclasses import dataclass

import numpy as np

_INT16_SCALE = 32768.0


def pcm16_to_int16(data: bytes) -> np.ndarray:
    """Decode little-endian 16-bit PCM bytes to an int16 array (a copy, safe to modify)."""
    if len(data) % 2:
        raise ValueError(f"PCM16 audio needs an even number of bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def int16_to_pcm16(samples: np.ndarray) -> bytes:
    """Encode an int16 array as little-endian 16-bit PCM bytes."""
    return np.asarray(samples, dtype=np.int16).astype("<i2", copy=False).tobytes()


def int16_to_float32(samples: np.ndarray) -> np.ndarray:
    """Scale int16 samples to float32 in [-1, 1)."""
    return np.asarray(samples, dtype=np.int16).astype(np.float32) / _INT16_SCALE


def float32_to_int16(samples: np.ndarray) -> np.ndarray:
    """Scale float samples in [-1, 1] to int16, clipping anything outside."""
    scaled = np.rint(np.asarray(samples, dtype=np.float32) * _INT16_SCALE)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def _ulaw_encode_one(sample: int) -> int:
    """G.711 mu-law encoding of one 16-bit sample, as the ITU-T G.191 reference `ulaw_compress`."""
    negative = sample < 0
    magnitude = min(((~sample if negative else sample) >> 2) + 33, 0x1FFF)
    segment = (magnitude >> 6).bit_length() + 1
    code = ((8 - segment) << 4) | (0x0F - ((magnitude >> segment) & 0x0F))
    return code if negative else code | 0x80


def _ulaw_decode_one(code: int) -> int:
    """ITU-T G.711 mu-law decoding of one code to a 16-bit sample."""
    code = ~code & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + 132) << exponent) - 132
    return -magnitude if code & 0x80 else magnitude


def _alaw_encode_one(sample: int) -> int:
    """ITU-T G.711 A-law encoding of one 16-bit sample (13-bit magnitude, even bits inverted)."""
    sign = 0x80 if sample >= 0 else 0x00
    magnitude = min((sample if sample >= 0 else -sample - 1) >> 3, 0x0FFF)
    exponent = max(magnitude.bit_length() - 5, 0)
    mantissa = (magnitude >> (exponent if exponent else 1)) & 0x0F
    return (sign | (exponent << 4) | mantissa) ^ 0x55


def _alaw_decode_one(code: int) -> int:
    """ITU-T G.711 A-law decoding of one code to a 16-bit sample."""
    code ^= 0x55
    exponent = (code >> 4) & 0x07
    magnitude = ((code & 0x0F) << 4) + 8
    if exponent:
        magnitude = (magnitude + 0x100) << (exponent - 1)
    return magnitude if code & 0x80 else -magnitude


_ALL_INT16 = range(-32768, 32768)
_ULAW_ENCODE = np.array([_ulaw_encode_one(s) for s in _ALL_INT16], dtype=np.uint8)
_ULAW_DECODE = np.array([_ulaw_decode_one(c) for c in range(256)], dtype=np.int16)
_ALAW_ENCODE = np.array([_alaw_encode_one(s) for s in _ALL_INT16], dtype=np.uint8)
_ALAW_DECODE = np.array([_alaw_decode_one(c) for c in range(256)], dtype=np.int16)


def ulaw_encode(samples: np.ndarray) -> bytes:
    """Encode int16 samples as G.711 mu-law bytes (one byte per sample)."""
    index = np.asarray(samples, dtype=np.int16).astype(np.int32) + 32768
    return _ULAW_ENCODE[index].tobytes()


def ulaw_decode(data: bytes) -> np.ndarray:
    """Decode G.711 mu-law bytes to int16 samples."""
    return _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def alaw_encode(samples: np.ndarray) -> bytes:
    """Encode int16 samples as G.711 A-law bytes (one byte per sample)."""
    index = np.asarray(samples, dtype=np.int16).astype(np.int32) + 32768
    return _ALAW_ENCODE[index].tobytes()


def alaw_decode(data: bytes) -> np.ndarray:
    """Decode G.711 A-law bytes to int16 samples."""
    return _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


_PCM_RATES = (24000, 16000)


@dataclass(frozen=True)
class AudioFormat:
    """A Realtime API audio format: `audio/pcm` (16-bit LE, 24 or 16 kHz), `audio/pcmu` or `audio/pcma` (8 kHz)."""

    type: str
    rate: int

    @classmethod
    def parse(cls, type: str, rate: int | None = None) -> "AudioFormat":
        """Validate a GA format name and rate (beta names are translated by the Realtime protocol adapter)."""
        if type == "audio/pcm":
            rate = rate or 24000
            if rate not in _PCM_RATES:
                raise ValueError(f"audio/pcm supports rates {_PCM_RATES}, got {rate}")
        elif type in ("audio/pcmu", "audio/pcma"):
            if rate not in (None, 8000):
                raise ValueError(f"{type} is 8000 Hz only, got {rate}")
            rate = 8000
        else:
            raise ValueError(f"unsupported audio format {type!r}: use audio/pcm, audio/pcmu or audio/pcma")
        return cls(type, rate)

    @property
    def bytes_per_sample(self) -> int:
        """Bytes per mono sample on the wire."""
        return 2 if self.type == "audio/pcm" else 1

    @property
    def bytes_per_ms(self) -> int:
        """Bytes per millisecond of audio on the wire."""
        return self.rate // 1000 * self.bytes_per_sample

    def decode(self, data: bytes) -> np.ndarray:
        """Wire bytes -> int16 samples at this format's rate."""
        if self.type == "audio/pcmu":
            return ulaw_decode(data)
        if self.type == "audio/pcma":
            return alaw_decode(data)
        return pcm16_to_int16(data)

    def encode(self, samples: np.ndarray) -> bytes:
        """int16 samples at this format's rate -> wire bytes."""
        if self.type == "audio/pcmu":
            return ulaw_encode(samples)
        if self.type == "audio/pcma":
            return alaw_encode(samples)
        return int16_to_pcm16(samples)
