"""Sentence chunking (sans-I/O) of streamed LLM text into pieces worth sending to TTS.

The first chunk leaves early, so the first audio can be synthesised while the model is
still writing: at the first clause boundary once it has `first_min_words`, or after
`first_max_words` words. Later chunks end at sentence ends, or are cut near `max_chars`.
"""

import re

# A sentence end: . ! ? or … (closing quotes/brackets allowed) followed by whitespace.
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)|\n")
# A clause boundary: , ; : followed by whitespace, or a dash.
_CLAUSE_END = re.compile(r"[,;:](?=\s)|—|\s[-–](?=\s)")
_WORD_END = re.compile(r"\S(?=\s)")
_MARKDOWN = re.compile(r"[*#`]+|^\s*[-•>]\s+")  # emphasis, headings, code, list bullets, quotes
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "approx", "inc", "ltd"}
_INITIALS = re.compile(r"[A-Za-z](\.[A-Za-z])*")  # "J", "U.S", "e.g"
_WORD_BEFORE = re.compile(r"([\w.]+)\.$")


class SentenceChunker:
    """Feed text deltas, get speakable chunks; `flush()` at the end of the reply returns the rest."""

    def __init__(self, first_min_words: int = 3, first_max_words: int = 8, max_chars: int = 250) -> None:
        self.first_min_words = first_min_words
        self.first_max_words = first_max_words
        self.max_chars = max_chars
        self._text = ""
        self._first = True

    def feed(self, delta: str) -> list[str]:
        """Add a text delta; return the chunks it completed (often none)."""
        self._text += delta
        chunks = []
        while (cut := self._find_cut()) is not None:
            chunks += self._emit(self._text[:cut])
            self._text = self._text[cut:]
        return chunks

    def flush(self) -> list[str]:
        """Return whatever text is left (the reply ended) and reset for the next reply."""
        chunks = self._emit(self._text)
        self._text = ""
        self._first = True
        return chunks

    def _find_cut(self) -> int | None:
        """Index where the next chunk ends in the buffered text, or None to wait for more."""
        text = self._text
        cuts = [next((m.end() for m in _SENTENCE_END.finditer(text) if not _is_abbreviation(text, m)), None)]
        if self._first:
            cuts += [next((m.end() for m in _CLAUSE_END.finditer(text) if _words(text[: m.end()]) >= self.first_min_words), None)]
            word_ends = [m.end() for m in _WORD_END.finditer(text)]
            cuts += [word_ends[self.first_max_words - 1] if len(word_ends) >= self.first_max_words else None]
        cut = min((c for c in cuts if c is not None), default=None)
        if cut is not None and cut <= self.max_chars:
            return cut
        if len(text) <= self.max_chars:
            return None
        head = text[: self.max_chars]
        clauses = [m.end() for m in _CLAUSE_END.finditer(head)]
        space = head.rfind(" ")
        return clauses[-1] if clauses else (space if space > 0 else self.max_chars)

    def _emit(self, raw: str) -> list[str]:
        """Clean a chunk for speech (no markdown symbols, single spaces); nothing if no word is left."""
        chunk = " ".join(_MARKDOWN.sub("", raw).split())
        if not any(c.isalnum() for c in chunk):
            return []
        self._first = False
        return [chunk]


def _words(text: str) -> int:
    return len(text.split())


def _is_abbreviation(text: str, match: re.Match) -> bool:
    """A period that ends a title like "Dr." or initials like "J." or "e.g." rather than a sentence."""
    if text[match.start()] != "." or match.end() - match.start() != 1:
        return False
    word = _WORD_BEFORE.search(text[: match.end()])
    if word is None:
        return False
    token = word.group(1)
    return token.lower() in _ABBREVIATIONS or (_INITIALS.fullmatch(token) is not None and token != "I" and token != "a")
