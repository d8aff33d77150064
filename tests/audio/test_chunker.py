"""Sentence chunking of streamed model text for speech."""

from audio.chunker import SentenceChunker


def stream(text: str, step: int = 1, chunker: SentenceChunker | None = None) -> list[str]:
    """Feed `text` in `step`-character deltas, then flush; all chunks in order."""
    chunker = chunker or SentenceChunker()
    chunks = []
    for i in range(0, len(text), step):
        chunks += chunker.feed(text[i : i + step])
    return chunks + chunker.flush()


def test_first_chunk_leaves_at_the_first_clause_once_it_has_three_words():
    chunker = SentenceChunker()
    assert chunker.feed("Let me check that,") == []  # a comma counts once a space follows it
    assert chunker.feed(" one moment") == ["Let me check that,"]


def test_a_short_opening_clause_waits_for_more_words():
    assert stream("Sure, I can book that table for two at seven tonight.")[0] == "Sure, I can book that table for two"


def test_first_chunk_leaves_after_eight_words_without_punctuation():
    chunker = SentenceChunker()
    assert chunker.feed("one two three four five six seven eight") == []
    assert chunker.feed(" nine") == ["one two three four five six seven eight"]


def test_later_chunks_are_whole_sentences():
    text = "Hi there. The museum opens at nine, closes at five, and is free on Sundays. Anything else?"
    assert stream(text) == ["Hi there.", "The museum opens at nine, closes at five, and is free on Sundays.", "Anything else?"]


def test_decimal_numbers_and_abbreviations_are_not_sentence_ends():
    text = "Okay. It costs 3.5 dollars, e.g. at the desk. Dr. Smith and J. R. Jones agree. Bye!"
    assert stream(text) == ["Okay.", "It costs 3.5 dollars, e.g. at the desk.", "Dr. Smith and J. R. Jones agree.", "Bye!"]


def test_markdown_symbols_are_not_spoken():
    text = "## Summary\n**Great** question! Use the `reset` button.\n- first item\n- second item\n"
    assert stream(text) == ["Summary", "Great question!", "Use the reset button.", "first item", "second item"]


def test_flush_returns_the_rest_and_starts_a_new_reply():
    chunker = SentenceChunker()
    assert chunker.feed("Done. And the last bit") == ["Done."]
    assert chunker.flush() == ["And the last bit"]
    assert chunker.flush() == []
    assert chunker.feed("Next reply, it leaves early again") == []
    assert chunker.feed(", see") == ["Next reply, it leaves early again,"]


def test_a_long_sentence_without_a_full_stop_is_cut_near_max_chars():
    text = "Okay. " + "this goes on and on, " * 30 + "the end."
    chunks = stream(text, chunker=SentenceChunker(max_chars=100))
    assert chunks[0] == "Okay."
    assert all(len(c) <= 100 for c in chunks)
    assert " ".join(chunks) == " ".join(text.split())


def test_chunks_do_not_depend_on_how_the_text_was_streamed():
    text = "Well, I looked it up for you — the shop at 12.30 Main St. is open. Mr. Lee said so! Right?"
    expected = stream(text, step=len(text))
    assert expected[0] == "Well, I looked it up for you —"
    for step in (1, 2, 5, 13):
        assert stream(text, step) == expected
