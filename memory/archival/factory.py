"""Pick the archival store the configuration asks for."""

from __future__ import annotations

from pathlib import Path

from qdrant_client import AsyncQdrantClient

from memory.archival.client import DEFAULT_COLLECTION, QdrantClientArchivalStore
from memory.archival.edge import EdgeArchivalStore
from memory.archival.store import ArchivalStore

EDGE_DIRECTORY = "qdrant-edge"


async def open_archival_store(
    *,
    data_dir: Path,
    dim: int,
    qdrant_url: str | None = None,
    qdrant_api_key: str | None = None,
    collection: str = DEFAULT_COLLECTION,
) -> ArchivalStore:
    """A Qdrant server store when `qdrant_url` is given (":memory:" for qdrant-client's in-process
    mode), else the embedded Qdrant Edge shard under `data_dir/qdrant-edge`."""
    if qdrant_url:
        client = AsyncQdrantClient(location=qdrant_url, api_key=qdrant_api_key)
        return await QdrantClientArchivalStore.open(client, dim, collection=collection)
    return await EdgeArchivalStore.open(data_dir / EDGE_DIRECTORY, dim)
