"""Qdrant Edge specifics: the shard lives in a directory and outlives the process that wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory.archival import ArchivalStoreError, EdgeArchivalStore, Passage
from memory.embedders import SentenceTransformerEmbedder


async def test_passages_survive_closing_and_reopening_the_directory(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    stored = Passage(agent_id="ana", text="My son's birthday is on the fourth of July", tags=["family"])
    first = await EdgeArchivalStore.open(tmp_path / "edge", dim=384)
    await first.insert([stored], await embedder.embed([stored.text]))
    await first.close()

    reopened = await EdgeArchivalStore.open(tmp_path / "edge", dim=384)
    hits = await reopened.search("ana", (await embedder.embed(["when is the birthday of my kid"]))[0])
    await reopened.close()
    assert [h.passage for h in hits] == [stored]


async def test_reopening_a_directory_with_another_dimension_fails_clearly(tmp_path: Path) -> None:
    await (await EdgeArchivalStore.open(tmp_path / "edge", dim=384)).close()
    with pytest.raises(ArchivalStoreError, match="vector size"):
        await EdgeArchivalStore.open(tmp_path / "edge", dim=768)


async def test_a_directory_cannot_be_opened_by_two_stores_at_once(tmp_path: Path) -> None:
    first = await EdgeArchivalStore.open(tmp_path / "edge", dim=384)
    with pytest.raises(ArchivalStoreError, match="cannot open"):
        await EdgeArchivalStore.open(tmp_path / "edge", dim=384)
    await first.close()


async def test_search_still_finds_passages_after_optimize(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    store = await EdgeArchivalStore.open(tmp_path / "edge", dim=384)
    texts = ["I am allergic to peanuts", "We moved to Lisbon last spring"]
    await store.insert([Passage(agent_id="ana", text=t) for t in texts], await embedder.embed(texts))
    await store.optimize()
    hits = await store.search("ana", (await embedder.embed(["peanut allergy"]))[0])
    await store.close()
    assert hits[0].passage.text == "I am allergic to peanuts"
