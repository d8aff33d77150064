"""Choosing the archival store from the configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory.archival import EdgeArchivalStore, QdrantClientArchivalStore, open_archival_store


async def test_without_a_qdrant_url_passages_go_to_qdrant_edge_under_the_data_dir(tmp_path: Path) -> None:
    store = await open_archival_store(data_dir=tmp_path, dim=384)
    await store.close()
    assert isinstance(store, EdgeArchivalStore)
    assert (tmp_path / "qdrant-edge" / "edge_config.json").is_file()


@pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant")
async def test_with_a_qdrant_url_passages_go_through_qdrant_client(tmp_path: Path) -> None:
    store = await open_archival_store(data_dir=tmp_path, dim=384, qdrant_url=":memory:")
    await store.close()
    assert isinstance(store, QdrantClientArchivalStore)
    assert not (tmp_path / "qdrant-edge").exists()
