"""Piper runs are bounded: text espeak spells out letter by letter is spoken in short runs, none of it lost."""

from audio.tts import MAX_PHONEMES_PER_RUN, _runs

SPELLED_OUT = "Привет мир, это тест. 日本語のテキストをここに書きます漢字仮名交じり文ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ"


def test_a_long_sentence_is_cut_into_runs_at_word_breaks_and_nothing_is_dropped() -> None:
    sentence = list(("hɛloʊ wɜːld " * 60).strip())
    runs = _runs(sentence)
    assert max(len(run) for run in runs) <= MAX_PHONEMES_PER_RUN
    assert all(run[0] == " " for run in runs[1:])
    assert [p for run in runs for p in run] == sentence


def test_a_word_longer_than_a_run_is_cut_inside_the_word() -> None:
    assert [len(run) for run in _runs(["a"] * 250)] == [MAX_PHONEMES_PER_RUN, MAX_PHONEMES_PER_RUN, 10]


def test_text_spelled_out_letter_by_letter_is_spoken_whole_in_bounded_runs(synthesizer) -> None:
    sentences = synthesizer._voice.phonemize(SPELLED_OUT)
    assert max(len(s) for s in sentences) > 3 * MAX_PHONEMES_PER_RUN  # one sentence of hundreds of phonemes
    audio = synthesizer.synthesize(SPELLED_OUT)
    assert len(audio) / synthesizer.sample_rate > 20  # all of it is spoken, in several runs
