"""qdrant-client specifics: one shared collection, created on first use and checked afterwards."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from qdrant_client import AsyncQdrantClient

from memory.archival import ArchivalStoreError, Passage, QdrantClientArchivalStore

OpenClientStore = Callable[..., Awaitable[QdrantClientArchivalStore]]


async def test_the_collection_is_created_under_the_configured_name(open_client_store: OpenClientStore) -> None:
    client = AsyncQdrantClient(location=":memory:")
    store = await open_client_store(client=client, collection="team_memory")
    assert await client.collection_exists("team_memory")
    await store.close()


async def test_an_existing_collection_of_another_dimension_is_refused(open_client_store: OpenClientStore) -> None:
    client = AsyncQdrantClient(location=":memory:")
    store = await open_client_store(dim=384, client=client)
    with pytest.raises(ArchivalStoreError, match="768-d"):
        await open_client_store(dim=768, client=client)
    await store.close()


async def test_opening_an_existing_collection_keeps_its_passages(open_client_store: OpenClientStore) -> None:
    client = AsyncQdrantClient(location=":memory:")
    first = await open_client_store(client=client)
    await first.insert([Passage(agent_id="ana", text="hello")], [[1.0] + [0.0] * 383])
    second = await open_client_store(client=client)
    assert await second.count("ana") == 1
    await second.close()
