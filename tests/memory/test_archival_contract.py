"""The archival store contract, run against Qdrant Edge and qdrant-client alike, with the real embedding model."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from memory.archival import ArchivalStore, ArchivalStoreClosedError, Passage
from memory.embedders import SentenceTransformerEmbedder

Remember = Callable[..., Awaitable[list[Passage]]]

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
FACTS = [
    "My son's birthday is on the fourth of July",
    "I am allergic to peanuts",
    "We moved to Lisbon last spring",
    "My car is a red Volvo from 2012",
]


async def test_insert_returns_the_ids_of_the_passages(store: ArchivalStore) -> None:
    passages = [Passage(agent_id="ana", text="first"), Passage(agent_id="ana", text="second")]
    vectors = [[1.0] + [0.0] * 383, [0.0, 1.0] + [0.0] * 382]
    assert await store.insert(passages, vectors) == [p.id for p in passages]


async def test_a_found_passage_comes_back_exactly_as_stored(
    store: ArchivalStore, remember: Remember, embedder: SentenceTransformerEmbedder
) -> None:
    [stored] = await remember("ana", "I am allergic to peanuts", created_at=NOW, tags=["health", "food"])
    [hit] = await store.search("ana", (await embedder.embed(["peanut allergy"]))[0])
    assert hit.passage == stored


async def test_search_ranks_the_semantically_relevant_passage_first(
    store: ArchivalStore, remember: Remember, embedder: SentenceTransformerEmbedder
) -> None:
    await remember("ana", *FACTS)
    hits = await store.search("ana", (await embedder.embed(["when is the birthday of my kid"]))[0])
    assert hits[0].passage.text == "My son's birthday is on the fourth of July"


async def test_results_are_best_score_first_and_capped_at_the_limit(
    store: ArchivalStore, remember: Remember, embedder: SentenceTransformerEmbedder
) -> None:
    await remember("ana", *FACTS)
    hits = await store.search("ana", (await embedder.embed(["family birthdays"]))[0], limit=3)
    assert len(hits) == 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_an_agent_never_sees_another_agents_passages(
    store: ArchivalStore, remember: Remember, embedder: SentenceTransformerEmbedder
) -> None:
    await remember("ana", *FACTS)
    await remember("ben", "I play the piano on Sundays")
    query = (await embedder.embed(["when is the birthday of my kid"]))[0]
    hits = await store.search("ben", query, limit=10)
    assert [h.passage.text for h in hits] == ["I play the piano on Sundays"]


async def test_a_time_window_includes_passages_inside_it_and_excludes_those_outside(
    store: ArchivalStore, remember: Remember, embedder: SentenceTransformerEmbedder
) -> None:
    for days_ago in (1, 5, 10):
        await remember("ana", f"We had dinner together {days_ago} days ago", created_at=NOW - timedelta(days=days_ago))
    query = (await embedder.embed(["dinner together"]))[0]
    hits = await store.search("ana", query, start=NOW - timedelta(days=7), end=NOW - timedelta(days=3))
    assert [h.passage.text for h in hits] == ["We had dinner together 5 days ago"]


async def test_an_open_ended_window_bounds_one_side_only(
    store: ArchivalStore, remember: Remember, embedder: SentenceTransformerEmbedder
) -> None:
    for days_ago in (1, 5, 10):
        await remember("ana", f"We had dinner together {days_ago} days ago", created_at=NOW - timedelta(days=days_ago))
    query = (await embedder.embed(["dinner together"]))[0]
    since = await store.search("ana", query, start=NOW - timedelta(days=7))
    until = await store.search("ana", query, end=NOW - timedelta(days=7))
    assert {h.passage.created_at for h in since} == {NOW - timedelta(days=1), NOW - timedelta(days=5)}
    assert {h.passage.created_at for h in until} == {NOW - timedelta(days=10)}


async def test_window_bounds_are_inclusive(
    store: ArchivalStore, remember: Remember, embedder: SentenceTransformerEmbedder
) -> None:
    await remember("ana", "We had dinner together", created_at=NOW)
    query = (await embedder.embed(["dinner"]))[0]
    assert len(await store.search("ana", query, start=NOW, end=NOW)) == 1


async def test_a_window_may_be_given_in_any_timezone(
    store: ArchivalStore, remember: Remember, embedder: SentenceTransformerEmbedder
) -> None:
    await remember("ana", "We had dinner together", created_at=NOW)
    query = (await embedder.embed(["dinner"]))[0]
    new_york = timezone(timedelta(hours=-4))
    start, end = NOW.astimezone(new_york), (NOW + timedelta(minutes=1)).astimezone(new_york)
    assert len(await store.search("ana", query, start=start, end=end)) == 1


async def test_a_window_with_a_naive_bound_is_rejected(store: ArchivalStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.search("ana", [1.0] + [0.0] * 383, start=datetime(2025, 6, 1))


async def test_a_window_that_ends_before_it_starts_is_rejected(store: ArchivalStore) -> None:
    with pytest.raises(ValueError, match="after it ends"):
        await store.search("ana", [1.0] + [0.0] * 383, start=NOW, end=NOW - timedelta(days=1))


async def test_a_tags_filter_keeps_passages_with_any_of_the_tags(
    store: ArchivalStore, remember: Remember, embedder: SentenceTransformerEmbedder
) -> None:
    await remember("ana", "I am allergic to peanuts", tags=["health"])
    await remember("ana", "I love spicy food", tags=["food"])
    await remember("ana", "We moved to Lisbon last spring", tags=["home"])
    query = (await embedder.embed(["what should I eat"]))[0]
    hits = await store.search("ana", query, limit=10, tags=["health", "food"])
    assert {h.passage.text for h in hits} == {"I am allergic to peanuts", "I love spicy food"}


async def test_count_counts_only_the_agents_own_passages(store: ArchivalStore, remember: Remember) -> None:
    await remember("ana", *FACTS)
    await remember("ben", "I play the piano on Sundays")
    assert (await store.count("ana"), await store.count("ben"), await store.count("cat")) == (4, 1, 0)


async def test_delete_agent_forgets_that_agent_and_no_other(store: ArchivalStore, remember: Remember) -> None:
    await remember("ana", *FACTS)
    await remember("ben", "I play the piano on Sundays")
    await store.delete_agent("ana")
    assert (await store.count("ana"), await store.count("ben")) == (0, 1)


async def test_inserting_an_existing_id_replaces_the_passage(
    store: ArchivalStore, embedder: SentenceTransformerEmbedder
) -> None:
    original = Passage(agent_id="ana", text="I live in Porto")
    corrected = original.model_copy(update={"text": "I live in Lisbon"})
    await store.insert([original], await embedder.embed([original.text]))
    await store.insert([corrected], await embedder.embed([corrected.text]))
    hits = await store.search("ana", (await embedder.embed(["where do I live"]))[0])
    assert [h.passage.text for h in hits] == ["I live in Lisbon"]


async def test_a_vector_of_the_wrong_dimension_is_rejected(store: ArchivalStore) -> None:
    with pytest.raises(ValueError, match="384"):
        await store.insert([Passage(agent_id="ana", text="hello")], [[1.0, 0.0]])
    with pytest.raises(ValueError, match="384"):
        await store.search("ana", [1.0, 0.0])


async def test_a_store_is_healthy_until_closed(store: ArchivalStore) -> None:
    assert await store.healthy()
    await store.close()
    assert not await store.healthy()


async def test_a_closed_store_refuses_calls(store: ArchivalStore) -> None:
    await store.close()
    with pytest.raises(ArchivalStoreClosedError):
        await store.count("ana")
