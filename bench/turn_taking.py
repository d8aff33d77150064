"""Turn-taking over the held-out clips, before and after the interruption classifier, echo canceller and endpointer.

Interruptions: each clip is spoken 3 s into the agent's answer (Piper), with the answer coming
back into the microphone at -20 dB after 150 ms (plus one run of echo alone).
  before: any VAD speech start (server_vad defaults) stops the answer;
  after:  echo cancelled (AEC3), then the InterruptionClassifier, with each quick transcript
          arriving as long after its request as Whisper took here.
Endpointing (semantic_vad, eagerness medium): delay from the end of the caller's speech to the
end of the turn, and how many turns each clip became.
  before: a fixed 500 ms silence; after: the Endpointer (500 ms, longer when unfinished).

Wired (`--wired`): the same over a real Twilio call to a `confab serve` (its defaults: echo
cancelling, adaptive interruption), the caller's phone on speaker (the answer back at -20 dB,
40 ms late, a frame every 20 ms), each clip 3 s into the answer; prints whether the answer was
cleared and when the caller last heard it. `--clip NAME` plays only that clip, `--runs N` each clip N times.

Run: .venv/bin/python bench/turn_taking.py [--wired [--clip backchannel_uhhuh.wav] [--runs 5]]
"""

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audio.endpointing import Eagerness, EndpointingSettings, TurnEnded  # noqa: E402
from audio.interruption import Interrupt, InterruptionClassifier, Pause, Resume  # noqa: E402
from audio.stt import get_transcriber  # noqa: E402
from audio.turns import SpeechStarted, SpeechStopped, TurnDetector, TurnSettings  # noqa: E402
from bench.harness import bench_server  # noqa: E402
from tests.twilio.peer import TwilioPeer  # noqa: E402
from tests.audio.turn_clips import (  # noqa: E402
    BACKCHANNELS,
    INTERRUPTIONS,
    UNFINISHED,
    agent_answer,
    cancelled,
    classify,
    echo_of,
    endpoint,
    mix,
    read_clip,
)

CALLER_AT_MS = 3000
ECHO_DELAY_MS = 150
MEDIUM = EndpointingSettings(eagerness=Eagerness.MEDIUM)


def microphone(clip: str | None, echo: bool) -> np.ndarray:
    """What the caller's microphone picks up during the answer: the clip, and the answer's echo if `echo`."""
    layers = [(0, echo_of(agent_answer(), ECHO_DELAY_MS) if echo else np.zeros(len(agent_answer()), dtype=np.float32))]
    if clip:
        layers.append((CALLER_AT_MS, read_clip(clip).astype(np.float32)))
    return mix(*layers)


def before(track: np.ndarray, transcribe: Callable[[np.ndarray], str]) -> tuple[int | None, int | None, int]:
    """Today's policy: the first VAD speech start stops the answer. (stop ms, audio held ms, paused ms)."""
    detector = TurnDetector(TurnSettings())
    for chunk in np.array_split(track, len(track) // 320):
        for event in detector.feed(chunk):
            if isinstance(event, SpeechStarted):
                return detector.position_ms, detector.position_ms, 0
    return None, None, 0


def after(track: np.ndarray, transcribe: Callable[[np.ndarray], str]) -> tuple[int | None, int | None, int]:
    """The new policy: echo cancelled, then the classifier. (interrupt ms, audio held ms, paused ms)."""
    events = classify(cancelled(track, agent_answer()), InterruptionClassifier(), transcribe, stt_delay=True)
    interrupt = next((e.at_ms for e in events if isinstance(e, Interrupt)), None)
    pauses = [e.at_ms for e in events if isinstance(e, Pause)]
    paused = sum(r.at_ms - p.at_ms for p, r in zip(events, events[1:]) if isinstance(p, Pause) and isinstance(r, Resume))
    return interrupt, (pauses[-1] if interrupt and pauses else interrupt), paused


def ms_after(at: int | None, onset: int) -> str:
    return "-" if at is None else f"{at - onset:+d} ms"


def interruptions() -> None:
    transcriber = get_transcriber()
    transcriber.warm()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (quick transcripts arrive as late as Whisper takes)")
    print(f"Interruptions: each clip {CALLER_AT_MS} ms into the answer; echo: the answer back at -20 dB, {ECHO_DELAY_MS} ms late")
    print("  stop: when the answer is stopped for good; held: its last audio frame; paused: total pause that was resumed")
    print("  (times from the clip's onset, or from the answer's start when there is no clip)")
    cases = [(clip, False) for clip in [*BACKCHANNELS, "cough.wav", None]] + [(clip, True) for clip in INTERRUPTIONS]
    policies = [("before", before, False), ("before+echo", before, True), ("after", after, False), ("after+echo", after, True)]
    print("  " + f"{'clip':<26}{'real':<6}" + "".join(f"{name + ' stop/held/paused':<36}" for name, _, _ in policies))
    totals = {name: [0, 0] for name, _, _ in policies}  # false, missed
    for clip, real in cases:
        onset = CALLER_AT_MS if clip else 0
        cells = []
        for name, policy, echo in policies:
            stop, held, paused = policy(microphone(clip, echo), transcriber.transcribe)
            totals[name][1 if real else 0] += (stop is not None) != real
            cells.append(f"{ms_after(stop, onset)} / {ms_after(held, onset)} / {paused} ms")
        print("  " + f"{clip or '(nothing)':<26}{'yes' if real else 'no':<6}" + "".join(f"{c:<36}" for c in cells))
    for name, (false, missed) in totals.items():
        print(f"  {name}: {false} false interruptions of {len(cases) - len(INTERRUPTIONS)}, {missed} missed of {len(INTERRUPTIONS)}")


def fixed_silence_turns(samples: np.ndarray) -> list[tuple[int, int]]:
    """Today's semantic_vad (medium): a turn after 500 ms of silence; (speech end, turn end) per turn."""
    detector = TurnDetector(TurnSettings(silence_duration_ms=MEDIUM.silence_duration_ms))
    turns = []
    for event in detector.feed(np.concatenate([samples, np.zeros(16000, dtype=np.int16)])):
        if isinstance(event, SpeechStopped):
            turns.append((event.audio_start_ms + len(event.audio) // 16, event.audio_end_ms))
    return turns


def endpointing() -> None:
    transcriber = get_transcriber()
    print("\nEnd of turn (semantic_vad, eagerness medium: 500 ms silence, 4 s cap)")
    print("  delay: stream time from the end of the last speech to the end of the turn (transcription time not included)")
    print("  " + "".join(f"{h:<28}" for h in ("clip", "before: turns, delay", "after: turns, delay", "after: turn text")))
    stt_ms: list[float] = []

    def timed_transcribe(audio: np.ndarray) -> str:
        began = time.perf_counter()
        text = transcriber.transcribe(audio)
        stt_ms.append((time.perf_counter() - began) * 1000)
        return text

    for clip in ["question_finished.wav", *UNFINISHED, "digits_grouped.wav"]:
        samples = read_clip(clip)
        before = fixed_silence_turns(samples)
        ended = [e for e in endpoint(samples, MEDIUM, timed_transcribe) if isinstance(e, TurnEnded)]
        speech_end = before[-1][0]
        cells = (clip, f"{len(before)}, {before[-1][1] - speech_end} ms", f"{len(ended)}, {ended[-1].at_ms - speech_end} ms", ended[-1].text[:44])
        print("  " + "".join(f"{c:<28}" for c in cells))
    print(f"  (Whisper took a median {np.median(stt_ms):.0f} ms per utterance here; the engine overlaps it with the silence)")


def heard_until(peer: TwilioPeer, clear_at: float) -> float:
    """When the caller's phone fell silent: its play-out of the frames received before `clear_at`, cut there."""
    playing_until = 0.0
    for received in peer.events("media"):
        if received.at > clear_at:
            break
        playing_until = max(playing_until, received.at) + 0.02
    return min(playing_until, clear_at)


async def wired_calls(only: str | None, runs: int) -> None:
    answer = " ".join(["The museum is open from ten until four on Sundays, and on Mondays it is closed."] * 3)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"Wired: Twilio calls, the answer's echo at -20 dB, 40 ms late; each clip {CALLER_AT_MS} ms into the answer")
    print(f"  {'clip':<26}{'real':<6}{'cleared':<9}{'onset -> silence':<18}{'onset -> clear'}")
    with bench_server(answer) as server:
        clips = [None, "backchannel_uhhuh.wav", "backchannel_mmhm.wav", "cough.wav", *INTERRUPTIONS]
        for clip in [c for c in clips if only is None or c == only] * runs:
            peer = await TwilioPeer.call(f"ws://127.0.0.1:{server.port}/v1/twilio")
            await peer.press("#")
            onset = await peer.on_speaker(8.0, -20.0, 40, read_clip(clip) if clip else None, CALLER_AT_MS / 1000)
            clears = peer.events("clear")
            cells = [clip or "(echo alone)", "yes" if clip in INTERRUPTIONS else "no", str(len(clears))]
            if clip and (onset is None or onset > time.monotonic()):
                cells += ["(the answer came too late for the clip: not counted)"]
            elif clears and onset is not None:
                cells += [f"{(heard_until(peer, clears[0].at) - onset) * 1000:+.0f} ms", f"{(clears[0].at - onset) * 1000:+.0f} ms"]
            print("  " + "".join(f"{c:<{w}}" for c, w in zip(cells, (26, 6, 9, 18, 18))))
            await peer.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wired", action="store_true", help="over real Twilio calls to confab serve")
    parser.add_argument("--clip", help="wired: play only this clip")
    parser.add_argument("--runs", type=int, default=1, help="wired: play each clip this many times")
    args = parser.parse_args()
    if args.wired:
        asyncio.run(wired_calls(args.clip, args.runs))
    else:
        interruptions()
        endpointing()
