"""Archival search latency: 10,000 passages in Qdrant Edge and in qdrant-client's in-memory mode.

Passages are template sentences embedded with the real all-MiniLM-L6-v2 model (about 15 s on
2 cores; `--random-vectors` uses random unit vectors instead). 10 agents x 1,000 passages spread
over a year. Each of 200 queries searches one agent's passages (top 5), first with the agent
filter alone, then also within a random 30-day window. Latency is measured around the async
store call, so it includes the hop to the engine's thread.

Run: .venv/bin/python bench/archival_search.py [--random-vectors]
"""

import argparse
import asyncio
import random
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qdrant_client import AsyncQdrantClient  # noqa: E402

from memory.archival import ArchivalStore, EdgeArchivalStore, Passage, QdrantClientArchivalStore  # noqa: E402
from memory.embedders import SentenceTransformerEmbedder  # noqa: E402

PASSAGES, AGENTS, QUERIES, DIM = 10_000, 10, 200, 384
NOW = datetime(2025, 6, 1, tzinfo=UTC)
WINDOW = timedelta(days=30)

WHO = ["My son", "My daughter", "My wife", "My boss", "Our neighbour", "My brother", "The dentist", "My friend Ana"]
DOES = ["loves", "is allergic to", "wants to visit", "talked about", "bought", "hates", "is learning", "forgot"]
WHAT = ["peanuts", "Lisbon", "the piano", "a red Volvo", "sushi", "the tax report", "Python", "a new puppy",
        "the fourth of July", "jazz concerts", "running shoes", "the garden", "chess", "a trip to Japan"]
WHEN = ["last week", "yesterday", "every Sunday", "this morning", "since spring", "on her birthday", "at work"]


def sentences(count: int, rng: random.Random) -> list[str]:
    """Random-ish everyday sentences from templates."""
    return [f"{rng.choice(WHO)} {rng.choice(DOES)} {rng.choice(WHAT)} {rng.choice(WHEN)}" for _ in range(count)]


async def vectors_for(texts: list[str], random_vectors: bool, rng: np.random.Generator) -> list[list[float]]:
    """Real embeddings in batches of 256, or random unit vectors."""
    if random_vectors:
        matrix = rng.normal(size=(len(texts), DIM)).astype(np.float32)
        return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).tolist()
    embedder = SentenceTransformerEmbedder()
    vectors: list[list[float]] = []
    for start in range(0, len(texts), 256):
        vectors.extend(await embedder.embed(texts[start : start + 256]))
    return vectors


def percentiles(samples_ms: list[float]) -> str:
    """p50 / p95 of latencies in milliseconds."""
    p50, p95 = np.percentile(samples_ms, [50, 95])
    return f"p50 {p50:6.2f} ms  p95 {p95:6.2f} ms"


Query = tuple[str, list[float], datetime]  # agent, query vector, window start


async def timed_searches(store: ArchivalStore, queries: list[Query], windowed: bool) -> list[float]:
    """Latency in ms of each query, after 10 warm-up queries."""
    for agent_id, vector, _ in queries[:10]:
        await store.search(agent_id, vector)
    latencies = []
    for agent_id, vector, start in queries:
        window = {"start": start, "end": start + WINDOW} if windowed else {}
        began = time.perf_counter()
        await store.search(agent_id, vector, limit=5, **window)
        latencies.append((time.perf_counter() - began) * 1000)
    return latencies


async def insert_all(name: str, store: ArchivalStore, passages: list[Passage], vectors: list[list[float]]) -> None:
    """Insert everything in batches of 500 and say how long it took."""
    began = time.perf_counter()
    for start in range(0, len(passages), 500):
        await store.insert(passages[start : start + 500], vectors[start : start + 500])
    print(f"\n{name}: inserted {len(passages):,} passages in {time.perf_counter() - began:.2f} s")


async def report(label: str, store: ArchivalStore, queries: list[Query]) -> None:
    """Print search latency with the agent filter alone and with a 30-day window too."""
    print(f"  {label}")
    print(f"    agent filter:           {percentiles(await timed_searches(store, queries, False))}")
    print(f"    agent + 30-day window:  {percentiles(await timed_searches(store, queries, True))}")


async def main(random_vectors: bool) -> None:
    """Build the data set once and run it through both stores."""
    rng, np_rng = random.Random(7), np.random.default_rng(7)
    texts = sentences(PASSAGES, rng)
    passages = [
        Passage(agent_id=f"agent-{i % AGENTS}", text=text, created_at=NOW - timedelta(days=rng.uniform(0, 365)))
        for i, text in enumerate(texts)
    ]
    began = time.perf_counter()
    vectors = await vectors_for(texts, random_vectors, np_rng)
    query_vectors = await vectors_for(sentences(QUERIES, rng), random_vectors, np_rng)
    kind = "random unit vectors" if random_vectors else "all-MiniLM-L6-v2 embeddings"
    print(f"{PASSAGES:,} passages + {QUERIES} queries as {kind}: {time.perf_counter() - began:.1f} s")
    queries = [
        (f"agent-{rng.randrange(AGENTS)}", vector, NOW - timedelta(days=rng.uniform(30, 365)))
        for vector in query_vectors
    ]

    with tempfile.TemporaryDirectory() as directory:
        edge = await EdgeArchivalStore.open(Path(directory) / "qdrant-edge", DIM)
        await insert_all("Qdrant Edge", edge, passages, vectors)
        await report("appendable segment, as inserted (exact search):", edge, queries)
        began = time.perf_counter()
        await edge.optimize()
        await report(f"after optimize() ({time.perf_counter() - began:.1f} s; HNSW index built):", edge, queries)
        await edge.close()

    warnings.filterwarnings("ignore", message="Payload indexes have no effect in the local Qdrant")
    client = await QdrantClientArchivalStore.open(AsyncQdrantClient(location=":memory:"), DIM)
    await insert_all("qdrant-client :memory:", client, passages, vectors)
    await report("local mode (pure Python, exact search):", client, queries)
    await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-vectors", action="store_true", help="skip the model; use random unit vectors")
    asyncio.run(main(parser.parse_args().random_vectors))
