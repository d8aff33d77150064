"""Embedders: the bundled local model and any OpenAI-compatible /v1/embeddings endpoint."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from memory.embedders import EmbeddingError, OpenAIEmbedder, SentenceTransformerEmbedder
from tests.fakes.llm_server import ScriptedLLM, embedding
from tests.loop_probe import loop_ticks


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two unit vectors."""
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def endpoint() -> Iterator[ScriptedLLM]:
    """An OpenAI-compatible server answering /v1/embeddings with deterministic 384-d vectors."""
    with ScriptedLLM(embedding_dim=384) as server:
        yield server


async def test_the_local_model_produces_384_dimensional_unit_vectors(
    embedder: SentenceTransformerEmbedder,
) -> None:
    [vector] = await embedder.embed(["hello there"])
    assert embedder.dim == len(vector) == 384
    assert math.isclose(math.fsum(x * x for x in vector), 1.0, abs_tol=1e-5)


async def test_similar_sentences_are_closer_than_unrelated_ones(embedder: SentenceTransformerEmbedder) -> None:
    birthday, kid, tax = await embedder.embed([
        "My son's birthday is on the fourth of July",
        "when is the birthday of my kid",
        "The quarterly tax report is due",
    ])
    assert cosine(birthday, kid) > cosine(birthday, tax) + 0.3


async def test_embedding_nothing_returns_nothing(embedder: SentenceTransformerEmbedder) -> None:
    assert await embedder.embed([]) == []


async def test_the_event_loop_keeps_running_while_the_model_encodes(embedder: SentenceTransformerEmbedder) -> None:
    async with loop_ticks(0.001) as probe:
        await embedder.embed([f"sentence number {i} about everyday life" for i in range(256)])
    assert probe.ticks >= 5


async def test_a_model_of_another_dimension_is_refused_when_warming() -> None:
    with pytest.raises(EmbeddingError, match="384-d"):
        await SentenceTransformerEmbedder(dim=768).warm()


async def test_a_model_that_is_not_on_disk_is_not_downloaded() -> None:
    with pytest.raises(EmbeddingError, match="without downloading"):
        await SentenceTransformerEmbedder("sentence-transformers/all-mpnet-base-v2", dim=768).warm()


def test_the_local_model_loads_without_network() -> None:
    script = (
        "import asyncio\n"
        "from memory.embedders import SentenceTransformerEmbedder\n"
        "print(len(asyncio.run(SentenceTransformerEmbedder().embed(['hello']))[0]))\n"
    )
    unreachable = "http://127.0.0.1:9"
    env = os.environ | {"HF_HUB_OFFLINE": "1", "HTTP_PROXY": unreachable, "HTTPS_PROXY": unreachable,
                        "http_proxy": unreachable, "https_proxy": unreachable}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "384"


async def test_an_openai_compatible_endpoint_gives_its_vectors_in_input_order(endpoint: ScriptedLLM) -> None:
    embedder = OpenAIEmbedder(base_url=endpoint.base_url, api_key="test-key", model="mini", dim=384)
    vectors = await embedder.embed(["first", "second", "third"])
    await embedder.close()
    expected = [embedding(t) for t in ("first", "second", "third")]
    assert all(math.isclose(cosine(v, e), 1.0, abs_tol=1e-5) for v, e in zip(vectors, expected, strict=True))


async def test_a_local_endpoint_needs_no_api_key(endpoint: ScriptedLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    embedder = OpenAIEmbedder(base_url=endpoint.base_url, model="mini", dim=384)
    assert len(await embedder.embed(["hello"])) == 1
    await embedder.close()


async def test_an_endpoint_is_called_in_batches(endpoint: ScriptedLLM) -> None:
    embedder = OpenAIEmbedder(base_url=endpoint.base_url, api_key="test-key", model="mini", dim=384, batch_size=2)
    vectors = await embedder.embed(["a", "b", "c", "d", "e"])
    await embedder.close()
    assert len(vectors) == 5
    assert [len(r["input"]) for r in endpoint.embedding_requests[-3:]] == [2, 2, 1]


async def test_an_endpoint_returning_another_dimension_is_refused_when_warming(endpoint: ScriptedLLM) -> None:
    embedder = OpenAIEmbedder(base_url=endpoint.base_url, api_key="test-key", model="mini", dim=768)
    with pytest.raises(EmbeddingError, match="768-d"):
        await embedder.warm()
    await embedder.close()


async def test_shortened_vectors_can_be_requested(endpoint: ScriptedLLM) -> None:
    embedder = OpenAIEmbedder(
        base_url=endpoint.base_url, api_key="test-key", model="text-embedding-3-small", dim=256, request_dimensions=True
    )
    [vector] = await embedder.embed(["hello"])
    await embedder.close()
    assert len(vector) == 256
    assert endpoint.embedding_requests[-1]["dimensions"] == 256
