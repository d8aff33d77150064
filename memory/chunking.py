"""Splitting a passage into pieces the embedding model reads whole.

A sentence-transformers model reads a fixed number of tokens (all-MiniLM-L6-v2: 256) and
silently ignores the rest, so a fact at the end of a long passage would never be found.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

TokenCounter = Callable[[list[str]], Awaitable[list[int]]]


def _pack(units: list[tuple[str, int]], budget: int, joiner: str) -> list[tuple[str, int]]:
    """Greedily join consecutive units into runs of at most `budget` tokens (a unit never splits)."""
    runs: list[tuple[str, int]] = []
    texts: list[str] = []
    tokens = 0
    for text, count in units:
        if texts and tokens + count > budget:
            runs.append((joiner.join(texts), tokens))
            texts, tokens = [], 0
        texts.append(text)
        tokens += count
    if texts:
        runs.append((joiner.join(texts), tokens))
    return runs


async def fit_to_window(text: str, max_tokens: int, count: TokenCounter) -> list[str]:
    """`text` as one or more pieces of at most `max_tokens` tokens each (as counted by `count`).

    Pieces are cut between lines. When the text has several lines, its first line (for a
    conversation chunk: the sentence saying what it is about) heads every piece, so each
    piece's vector still says what it belongs to. A line too long for a piece by itself is
    cut between words.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    counts = await count(lines)
    if sum(counts) <= max_tokens:
        return [text]
    heading: list[str] = []
    budget = max_tokens
    if len(lines) > 1 and counts[0] <= max_tokens // 2:
        heading, budget = lines[:1], max_tokens - counts[0]
        lines, counts = lines[1:], counts[1:]
    units: list[tuple[str, int]] = []
    for line, tokens in zip(lines, counts, strict=True):
        if tokens <= budget:
            units.append((line, tokens))
            continue
        words = line.split()
        units += _pack(list(zip(words, await count(words), strict=True)), budget, " ")
    return ["\n".join([*heading, piece]) for piece, _ in _pack(units, budget, "\n")]
