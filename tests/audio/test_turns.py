"""Turn detection over real speech (Silero VAD) and over scripted probabilities."""

import numpy as np
import pytest

from audio.turns import (
    ManualTurns,
    SilenceBegan,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    TurnDetector,
    TurnEvent,
    TurnSettings,
    TurnState,
)
from audio.vad import WINDOW_SAMPLES
from tests.audio.speech_data import SPEECH_FILES, read_wav, silence, trim_trailing_silence


def feed(detector: TurnDetector | ManualTurns, samples: np.ndarray, chunk: int = 320) -> list[TurnEvent]:
    """Feed a signal in `chunk`-sample pieces (20 ms by default) and collect the events."""
    events: list[TurnEvent] = []
    for i in range(0, len(samples), chunk):
        events += detector.feed(samples[i : i + chunk])
    return events


def of_type(events: list[TurnEvent], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def script(detector: TurnDetector, probabilities: list[float]) -> list[TurnEvent]:
    """Drive the pure state machine with one scripted probability per 32 ms window."""
    events: list[TurnEvent] = []
    for p in probabilities:
        events += detector.push(np.full(WINDOW_SAMPLES, int(p * 1000), dtype=np.int16), p)
    return events


@pytest.mark.parametrize("name", SPEECH_FILES)
def test_each_spoken_sentence_is_one_turn(name):
    speech = read_wav(name)
    signal = np.concatenate([silence(1000), speech, silence(1000)])
    events = feed(TurnDetector(), signal)
    (started,), (stopped,) = of_type(events, SpeechStarted), of_type(events, SpeechStopped)
    assert 1000 - 300 - 100 <= started.audio_start_ms <= 1000  # speech starts at 1 s, 300 ms prefix padding
    assert stopped.audio_start_ms == started.audio_start_ms
    begin = started.audio_start_ms * 16
    assert np.array_equal(stopped.audio, signal[begin : begin + len(stopped.audio)])
    spoken_until = 1000 + np.flatnonzero(np.abs(speech) > 1000)[-1] / 16
    assert stopped.audio_start_ms + len(stopped.audio) / 16 >= spoken_until
    assert 500 <= stopped.audio_end_ms - spoken_until <= 800  # silence_duration_ms, plus VAD lag


@pytest.mark.parametrize("name", ["noise.wav", "silence.wav"])
def test_noise_and_silence_make_no_turn(name):
    detector = TurnDetector()
    assert feed(detector, read_wav(name)) == []
    assert detector.state is TurnState.QUIET


def test_events_do_not_depend_on_chunk_size():
    signal = np.concatenate([silence(500), read_wav("speech06.wav"), silence(1000)])
    expected = [(type(e), vars(e).get("audio_ms"), vars(e).get("audio_start_ms")) for e in feed(TurnDetector(), signal)]
    for chunk in (7, 160, 513, 4096):
        events = feed(TurnDetector(), signal, chunk)
        assert [(type(e), vars(e).get("audio_ms"), vars(e).get("audio_start_ms")) for e in events] == expected


def test_a_long_monologue_is_cut_at_max_utterance_without_losing_audio():
    sentences = [trim_trailing_silence(read_wav(name), keep_ms=200) for name in SPEECH_FILES]
    speech = np.concatenate(sentences * 3)  # a 60 s monologue whose pauses are all shorter than 500 ms
    signal = np.concatenate([silence(1000), speech, silence(1000)])
    events = feed(TurnDetector(TurnSettings(max_utterance_ms=30000)), signal)
    starts, stops = of_type(events, SpeechStarted), of_type(events, SpeechStopped)
    assert len(starts) == len(stops) >= 2
    for stop, next_start in zip(stops, starts[1:]):  # every stop but the last is a cut, not a pause
        assert 30000 - 32 < len(stop.audio) / 16 <= 30000
        assert next_start.audio_start_ms == stop.audio_end_ms == stop.audio_start_ms + len(stop.audio) // 16
    assert [s.cut for s in stops] == [True] * (len(stops) - 1) + [False]
    begin = starts[0].audio_start_ms * 16
    joined = np.concatenate([s.audio for s in stops])
    assert np.array_equal(joined, signal[begin : begin + len(joined)])
    assert begin + len(joined) > np.flatnonzero(np.abs(signal) > 1000)[-1]  # through the last spoken sample


def test_a_short_pause_is_speculative_silence_then_resumed_speech():
    first, second = read_wav("speech02.wav"), read_wav("speech05.wav")
    first = trim_trailing_silence(first)
    pause_ms = 250  # shorter than silence_duration_ms (500)
    signal = np.concatenate([silence(1000), first, silence(pause_ms), second, silence(1000)])
    events = feed(TurnDetector(), signal)
    assert len(of_type(events, SpeechStarted)) == len(of_type(events, SpeechStopped)) == 1
    pause_start = 1000 + len(first) // 16
    in_pause = [i for i, e in enumerate(events) if isinstance(e, SilenceBegan) and e.audio_ms >= pause_start - 100]
    assert isinstance(events[in_pause[0] + 1], SpeechResumed)
    assert events[in_pause[0] + 1].audio_ms <= pause_start + pause_ms + 100


def test_the_speculated_audio_is_the_final_utterance():
    signal = np.concatenate([silence(1000), read_wav("speech03.wav"), silence(1000)])
    events = feed(TurnDetector(), signal)
    assert isinstance(events[-2], SilenceBegan) and isinstance(events[-1], SpeechStopped)
    assert np.array_equal(events[-2].audio, events[-1].audio)


def test_the_turn_ends_once_silence_lasts_silence_duration_ms():
    detector = TurnDetector(TurnSettings(prefix_padding_ms=320, silence_duration_ms=512))
    events = script(detector, [0.1] * 20 + [0.9] * 30 + [0.1] * 15)  # 480 ms of silence: not yet
    assert [type(e) for e in events] == [SpeechStarted, SilenceBegan]
    (stopped,) = script(detector, [0.1])  # the 16th silent window: 512 ms
    assert isinstance(stopped, SpeechStopped) and detector.state is TurnState.QUIET
    assert stopped.audio_start_ms == 20 * 32 - 320  # prefix padding before the first speech window
    assert stopped.audio_end_ms == (20 + 30 + 16) * 32
    assert len(stopped.audio) == (10 + 30 + 1) * WINDOW_SAMPLES  # prefix + speech + first silent window


def test_speech_between_the_thresholds_does_not_end_the_turn():
    detector = TurnDetector(TurnSettings(threshold=0.5))
    events = script(detector, [0.9] * 5 + [0.4] * 40)  # 0.4 is above threshold - 0.15: still speaking
    assert [type(e) for e in events] == [SpeechStarted]


def test_a_click_shorter_than_min_speech_does_not_start_a_turn():
    detector = TurnDetector(TurnSettings(min_speech_ms=64))
    assert script(detector, [0.1] * 5 + [0.9] + [0.1] * 5) == []
    assert [type(e) for e in script(detector, [0.9] * 2)] == [SpeechStarted]


def test_manual_commit_returns_everything_since_the_last_commit():
    detector = ManualTurns()
    speech = read_wav("speech01.wav")
    assert feed(detector, speech, 333) == []
    assert not detector.idle
    utterance = detector.commit()
    assert detector.idle
    assert np.array_equal(utterance.audio, speech)
    assert (utterance.audio_start_ms, utterance.audio_end_ms) == (0, len(speech) // 16)
    assert detector.commit() is None
    detector.feed(speech[:1600])
    assert detector.commit().audio_start_ms == len(speech) // 16


def test_commit_while_speaking_closes_the_turn_and_clear_drops_it():
    speech = read_wav("speech05.wav")
    detector = TurnDetector()
    feed(detector, np.concatenate([silence(500), speech[:16000]]))
    assert detector.state is TurnState.SPEAKING
    utterance = detector.commit()
    assert len(utterance.audio) >= 16000 and detector.state is TurnState.QUIET
    feed(detector, speech[16000:32000])
    assert not detector.idle
    detector.clear()
    assert detector.idle and detector.commit() is None
    assert detector.position_ms == 500 + 2000
