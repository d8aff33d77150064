"""Archival memory fixtures: the real embedding model (loaded once) and both store implementations."""

from __future__ import annotations

import os
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model must load from the package, never the Hub

import pytest  # noqa: E402
from qdrant_client import AsyncQdrantClient  # noqa: E402

from memory.archival import ArchivalStore, EdgeArchivalStore, Passage, QdrantClientArchivalStore  # noqa: E402
from memory.embedders import SentenceTransformerEmbedder  # noqa: E402

OpenClientStore = Callable[..., Awaitable[QdrantClientArchivalStore]]


@pytest.fixture(scope="session")
async def embedder() -> SentenceTransformerEmbedder:
    """The bundled all-MiniLM-L6-v2 model, loaded once for the session."""
    model = SentenceTransformerEmbedder()
    await model.warm()
    return model


@pytest.fixture
def open_client_store() -> OpenClientStore:
    """Open a qdrant-client store, by default on a fresh in-memory client.

    Local mode warns that payload indexes are no-ops there; that warning is expected.
    """

    async def open_client_store(
        dim: int = 384, client: AsyncQdrantClient | None = None, **options: str
    ) -> QdrantClientArchivalStore:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Payload indexes have no effect in the local Qdrant")
            client = client or AsyncQdrantClient(location=":memory:")
            return await QdrantClientArchivalStore.open(client, dim, **options)

    return open_client_store


@pytest.fixture(params=["edge", "qdrant-client"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, open_client_store: OpenClientStore
) -> AsyncIterator[ArchivalStore]:
    """An empty archival store: Qdrant Edge in a fresh directory, or qdrant-client in memory."""
    if request.param == "edge":
        opened: ArchivalStore = await EdgeArchivalStore.open(tmp_path / "qdrant-edge", dim=384)
    else:
        opened = await open_client_store()
    yield opened
    await opened.close()


@pytest.fixture
def remember(store: ArchivalStore, embedder: SentenceTransformerEmbedder) -> Callable[..., Awaitable[list[Passage]]]:
    """Archive texts for an agent (embedded with the real model) and return the stored passages."""

    async def remember(
        agent_id: str, *texts: str, created_at: datetime | None = None, tags: Sequence[str] = ()
    ) -> list[Passage]:
        extra = {"created_at": created_at} if created_at else {}
        passages = [Passage(agent_id=agent_id, text=t, tags=list(tags), **extra) for t in texts]
        await store.insert(passages, await embedder.embed(list(texts)))
        return passages

    return remember
