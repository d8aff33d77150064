"""Time each audio stage on this machine: VAD window, turn detection, STT per file, TTS speed.

Run: .venv/bin/python bench/audio_stages.py
"""

import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audio.chunker import SentenceChunker  # noqa: E402
from audio.stt import Transcriber, TranscriberSettings, get_transcriber  # noqa: E402
from audio.tts import get_synthesizer  # noqa: E402
from audio.turns import TurnDetector  # noqa: E402
from audio.vad import WINDOW_SAMPLES, SileroVad  # noqa: E402
from tests.audio.speech_data import SCRIPT, SPEECH_FILES, read_wav, word_error_rate  # noqa: E402

REPLY = (
    "Sure, I can help with that. Your delivery address is now twelve Oak Lane, "
    "and the next parcel will go there. Is there anything else I can do for you today?"
)


def timed(fn, *args) -> tuple:
    """(result, seconds) of one call."""
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def bench_vad(speech: np.ndarray) -> None:
    """Per-window Silero cost, and the turn detector's CPU per second of streamed audio."""
    vad = SileroVad()
    windows = speech[: len(speech) // WINDOW_SAMPLES * WINDOW_SAMPLES].reshape(-1, WINDOW_SAMPLES)
    costs = [timed(vad.score, windows[i % len(windows)])[1] * 1000 for i in range(3000)]
    costs.sort()
    print(f"VAD, one 32 ms window: median {statistics.median(costs):.3f} ms, p95 {costs[int(len(costs) * 0.95)]:.3f} ms")

    detector, chunks = TurnDetector(), [speech[i : i + 320] for i in range(0, len(speech), 320)]
    _, seconds = timed(lambda: [detector.feed(c) for c in chunks])
    per_second = seconds / (len(speech) / 16000) * 1000
    print(f"turn detector fed 20 ms chunks: {per_second:.2f} ms CPU per second of audio (~{1000 / per_second:.0f} streams per core)")


def bench_stt() -> None:
    """Load/warm time and transcription time (and WER) for each test file."""
    transcriber, load = timed(get_transcriber)
    _, warm = timed(transcriber.warm)
    print(f"\nSTT load {load:.2f} s, warm-up {warm:.2f} s")
    for name in SPEECH_FILES + ["noise.wav", "silence.wav"]:
        audio = read_wav(name)
        text, seconds = timed(transcriber.transcribe, audio)
        wer = f"WER {word_error_rate(SCRIPT[name], text):.2f}" if name in SCRIPT else "        "
        print(f"  {name:12} {len(audio) / 16000:4.1f} s audio -> {seconds * 1000:4.0f} ms  {wer}  {text!r}")


def bench_stt_threads() -> None:
    """Single-utterance latency and 8-at-once throughput for thread/worker splits of the same CPUs."""
    audio = [read_wav(name) for name in SPEECH_FILES]
    print()
    for threads, workers in [(1, 1), (2, 1), (1, 2)]:
        transcriber = Transcriber(TranscriberSettings(cpu_threads=threads, concurrency=workers))
        transcriber.warm()
        single = statistics.median(timed(transcriber.transcribe, a)[1] for a in audio)
        with ThreadPoolExecutor(8) as pool:
            _, burst = timed(lambda: list(pool.map(transcriber.transcribe, (audio * 2)[:8])))
        print(f"STT cpu_threads={threads} workers={workers}: one utterance {single * 1000:.0f} ms, "
              f"8 at once {burst:.2f} s")


def bench_tts() -> None:
    """Synthesis time per chunk of a typical reply, and the real-time factor."""
    synthesizer, load = timed(get_synthesizer)
    _, warm = timed(synthesizer.warm)
    print(f"\nTTS load {load:.2f} s, warm-up {warm:.2f} s, {synthesizer.sample_rate} Hz")
    chunker = SentenceChunker()
    chunks = [c for word in REPLY.split(" ") for c in chunker.feed(word + " ")] + chunker.flush()
    total_audio = total_time = 0.0
    for i, chunk in enumerate(chunks):
        runs = [timed(synthesizer.synthesize, chunk) for _ in range(3)]
        seconds = statistics.median(s for _, s in runs)
        duration = len(runs[0][0]) / synthesizer.sample_rate
        total_audio, total_time = total_audio + duration, total_time + seconds
        label = "first chunk" if i == 0 else f"chunk {i + 1}"
        print(f"  {label:11} {seconds * 1000:4.0f} ms for {duration:4.2f} s of speech  {chunk!r}")
    print(f"  real-time factor {total_time / total_audio:.3f} ({total_time / total_audio * 1000:.0f} ms per second of speech)")


def main() -> None:
    """Run every stage's benchmark on the test speech."""
    speech = np.concatenate([read_wav(name) for name in SPEECH_FILES])
    bench_vad(speech)
    bench_stt()
    bench_stt_threads()
    bench_tts()


if __name__ == "__main__":
    main()
