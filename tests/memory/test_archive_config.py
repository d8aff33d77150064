"""Archival memory as configured: which store, which embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory.archival import KNOWLEDGE, EDGE_DIRECTORY, EdgeArchivalStore, Passage, QdrantClientArchivalStore
from memory.archive import ArchivalConfig, ArchivalMemory
from memory.embedders import OpenAIEmbedder, SentenceTransformerEmbedder
from tests.fakes.llm_server import ScriptedLLM


@pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant")
async def test_a_qdrant_url_and_an_embeddings_endpoint_replace_the_embedded_defaults(tmp_path: Path, llm: ScriptedLLM) -> None:
    config = ArchivalConfig(
        data_dir=tmp_path, qdrant_url=":memory:", embedder="openai", embedding_model="embed-small",
        embedding_base_url=llm.base_url, embedding_api_key="test-key",
    )
    memory = await ArchivalMemory.open(config)
    try:
        assert isinstance(memory.store, QdrantClientArchivalStore) and isinstance(memory.embedder, OpenAIEmbedder)
        await memory.insert([Passage(agent_id="a1", text="Ada's dog is called Biscuit.")])
        [hit] = await memory.search("a1", "Ada's dog is called Biscuit.", scopes=[KNOWLEDGE])
    finally:
        await memory.close()
    assert hit.passage.text == "Ada's dog is called Biscuit." and hit.score == pytest.approx(1.0, abs=1e-5)
    assert {r["model"] for r in llm.embedding_requests} == {"embed-small"}
    assert not (tmp_path / EDGE_DIRECTORY).exists()


async def test_by_default_passages_go_to_qdrant_edge_embedded_by_the_bundled_model(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    memory = await ArchivalMemory.open(ArchivalConfig(data_dir=tmp_path))
    await memory.close()
    assert isinstance(memory.store, EdgeArchivalStore) and isinstance(memory.embedder, SentenceTransformerEmbedder)
    assert memory.description == f"Qdrant Edge (in-process) at {tmp_path / EDGE_DIRECTORY}"


def test_an_embeddings_endpoint_without_a_model_name_is_refused() -> None:
    with pytest.raises(ValueError, match="CONFAB_EMBEDDING_MODEL"):
        ArchivalConfig(data_dir=Path("."), embedder="openai").build_embedder()
