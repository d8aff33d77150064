"""The held-out turn-taking clips (tests/data/turn_taking) and the agent's answer played back as echo."""

import functools
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np

from audio.echo import EchoCanceller
from audio.endpointing import EndpointEvent, Endpointer, EndpointingSettings
from audio.interruption import InterruptionClassifier, InterruptionEvent, Transcribe
from audio.resample import resample
from audio.tts import get_synthesizer
from audio.turns import SpeechStarted, SpeechStopped, TurnDetector, TurnSettings
from audio.vad import WINDOW_SAMPLES, SileroVad

CLIPS = Path(__file__).resolve().parent.parent / "data" / "turn_taking"
BACKCHANNELS = ["backchannel_uhhuh.wav", "backchannel_mmhm.wav", "backchannel_yeah.wav", "backchannel_okay.wav", "backchannel_right.wav"]
INTERRUPTIONS = ["interrupt_wait_stop.wav", "interrupt_no_question.wav"]
UNFINISHED = ["unfinished_and.wav", "unfinished_um.wav"]
ANSWER = (
    "Sure. We are open from nine to five on weekdays and from ten to four on Saturdays. "
    "On Sundays the shop is closed, but you can still order online at any time, "
    "and we deliver within two working days."
)


def read_clip(name: str) -> np.ndarray:
    """A 16 kHz mono 16-bit clip from tests/data/turn_taking as int16 samples."""
    with wave.open(str(CLIPS / name)) as clip:
        assert (clip.getframerate(), clip.getnchannels(), clip.getsampwidth()) == (16000, 1, 2)
        return np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2").astype(np.int16)


@functools.cache
def agent_answer() -> np.ndarray:
    """The agent's spoken answer (Piper, the project's voice) at 16 kHz: what Confab plays."""
    voice = get_synthesizer()
    return resample(voice.synthesize(ANSWER), voice.sample_rate, 16000)


def echo_of(played: np.ndarray, delay_ms: int, level_db: float = -20.0) -> np.ndarray:
    """`played` as it comes back into the caller's microphone: delayed, with two room reflections, at `level_db`."""
    room = np.zeros(4000, dtype=np.float32)
    room[[0, 80 * 16 // 10, 250 * 16 // 10]] = [1.0, 0.4, 0.2]  # direct path, reflections at 8 and 25 ms
    delayed = np.concatenate([np.zeros(delay_ms * 16, dtype=np.float32), played.astype(np.float32)])[: len(played)]
    echo = np.convolve(delayed, room)[: len(played)] / room.sum()
    return (echo * 10 ** (level_db / 20)).astype(np.float32)


def mix(*layers: tuple[int, np.ndarray]) -> np.ndarray:
    """Sum (start_ms, samples) layers into one int16 track, clipped."""
    length = max(start * 16 + len(samples) for start, samples in layers)
    track = np.zeros(length, dtype=np.float32)
    for start, samples in layers:
        track[start * 16 : start * 16 + len(samples)] += samples
    return np.clip(track, -32768, 32767).astype(np.int16)


def cancelled(microphone: np.ndarray, played: np.ndarray, chunk: int = 320) -> np.ndarray:
    """The microphone through a fresh echo canceller, fed in 20 ms chunks as a call delivers it, on a steady clock.

    Each played chunk is sent as the microphone chunk of the same stretch of time begins; that one arrives as it ends.
    """
    canceller, out = EchoCanceller(), []
    for i in range(0, len(microphone), chunk):
        canceller.played(played[i : i + chunk], i / 16000)
        out.append(canceller.capture(microphone[i : i + chunk], (i + chunk) / 16000))
    return np.concatenate(out)


def classify(
    track: np.ndarray, classifier: InterruptionClassifier, transcribe: Callable[[np.ndarray], str], stt_delay: bool = False
) -> list[InterruptionEvent]:
    """Run `track` through the Silero VAD and `classifier`, answering its Transcribe requests with `transcribe`.

    With `stt_delay`, each transcript reaches the classifier as many stream milliseconds after
    the request as the transcription took on this machine (else at once).
    """
    windows = track[: len(track) // WINDOW_SAMPLES * WINDOW_SAMPLES].reshape(-1, WINDOW_SAMPLES)
    in_flight: list[tuple[float, str, int]] = []  # (due at stream ms, text, audio_end_ms)
    decided: list[InterruptionEvent] = []
    for window, probability in zip(windows, SileroVad().score(windows)):
        for event in classifier.push(window, float(probability)):
            if isinstance(event, Transcribe):
                began = time.perf_counter()
                text = transcribe(event.audio)
                took_ms = (time.perf_counter() - began) * 1000 if stt_delay else 0.0
                in_flight.append((event.audio_end_ms + took_ms, text, event.audio_end_ms))
            else:
                decided.append(event)
        for item in [item for item in in_flight if item[0] <= classifier.position_ms]:
            in_flight.remove(item)
            decided += classifier.transcript(item[1], item[2])
    return decided


def endpoint(track: np.ndarray, settings: EndpointingSettings, transcribe: Callable[[np.ndarray], str]) -> list[EndpointEvent]:
    """Run `track` (followed by enough silence for any cap) through the turn detector and an Endpointer."""
    detector = TurnDetector(TurnSettings(silence_duration_ms=settings.silence_duration_ms))
    endpointer = Endpointer(settings)
    track = np.concatenate([track, np.zeros((settings.cap_ms + 1000) * 16, dtype=np.int16)])
    events: list[EndpointEvent] = []
    for chunk in track[: len(track) // WINDOW_SAMPLES * WINDOW_SAMPLES].reshape(-1, WINDOW_SAMPLES):
        for turn in detector.feed(chunk):
            if isinstance(turn, SpeechStarted):
                endpointer.speech_started()
            elif isinstance(turn, SpeechStopped):
                speech_end_ms = turn.audio_start_ms + len(turn.audio) // 16
                endpointer.speech_stopped(str(turn.audio_start_ms))
                events += endpointer.utterance(transcribe(turn.audio), speech_end_ms, turn.audio_end_ms, str(turn.audio_start_ms))
        events += endpointer.tick(detector.position_ms)
    return events
