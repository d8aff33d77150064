"""Archival memory in Qdrant Edge: the Qdrant engine in-process, persisted under a directory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import qdrant_edge as qe

from memory.archival.records import (
    AGENT_ID,
    CREATED_AT,
    SCOPE,
    TAGS,
    VECTOR_NAME,
    Condition,
    DatetimeRange,
    Hit,
    MatchAny,
    MatchValue,
    Point,
)
from memory.archival.store import ArchivalStore, ArchivalStoreError

T = TypeVar("T")

_INDEXES: dict[str, qe.PayloadSchemaType | qe.KeywordIndexParams | qe.DatetimeIndexParams] = {
    AGENT_ID: qe.KeywordIndexParams(is_tenant=True),
    CREATED_AT: qe.DatetimeIndexParams(is_principal=True),
    TAGS: qe.PayloadSchemaType.Keyword,
    SCOPE: qe.PayloadSchemaType.Keyword,
}


def _field_condition(condition: Condition) -> qe.FieldCondition:
    """An engine-neutral condition as an Edge field condition."""
    match condition:
        case MatchValue(key, value):
            return qe.FieldCondition(key=key, match=qe.MatchValue(value))
        case MatchAny(key, values):
            return qe.FieldCondition(key=key, match=qe.MatchAny(list(values)))
        case DatetimeRange(key, gte, lte):
            return qe.FieldCondition(
                key=key,
                range=qe.RangeDateTime(
                    gte=gte.isoformat() if gte else None, lte=lte.isoformat() if lte else None
                ),
            )


def _filter(conditions: list[Condition]) -> qe.Filter:
    """All conditions must hold."""
    return qe.Filter(must=[_field_condition(c) for c in conditions])


def _open_shard(path: Path, dim: int) -> qe.EdgeShard:
    """Create the shard on first use or load it (checking the vector size), then add missing payload indexes."""
    config = qe.EdgeConfig(vectors={VECTOR_NAME: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)})
    path.mkdir(parents=True, exist_ok=True)
    try:
        shard = qe.EdgeShard.load(str(path), config)
    except Exception as exc:  # the bindings raise bare Exception with the engine's message
        raise ArchivalStoreError(f"cannot open the Qdrant Edge shard at {path}: {exc}") from exc
    indexed = shard.info().payload_schema
    for field, schema in _INDEXES.items():
        if field not in indexed:
            shard.update(qe.UpdateOperation.create_field_index(field, schema))
    return shard


class EdgeArchivalStore(ArchivalStore):
    """Passages in a Qdrant Edge shard under one directory (e.g. `DATA_DIR/qdrant-edge`).

    The shard is synchronous, internally synchronised and releases the GIL, so every call runs
    on a small private thread pool and reads and writes may overlap. `close()` stops taking
    calls, drains the pool, then flushes and closes the shard. Only one store may have a
    directory open at a time (the engine locks its write-ahead log).
    Edge has no background optimizer: call `optimize()` from time to time (e.g. when idle) to
    merge segments and build the HNSW index once the shard is large.
    """

    def __init__(self, shard: qe.EdgeShard, dim: int, pool: ThreadPoolExecutor) -> None:
        """Wrap an open shard; use `open()`."""
        super().__init__(dim)
        self._shard = shard
        self._pool = pool

    @classmethod
    async def open(cls, path: Path, dim: int, *, threads: int = 2) -> EdgeArchivalStore:
        """Open (creating if needed) the shard stored under `path`, for `dim`-dimensional vectors."""
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="confab-qdrant-edge")
        try:
            shard = await asyncio.get_running_loop().run_in_executor(pool, _open_shard, path, dim)
        except BaseException:
            pool.shutdown(wait=False)
            raise
        return cls(shard, dim, pool)

    async def _run(self, call: Callable[..., T], *args: object) -> T:
        """Run a blocking engine call on the store's pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, call, *args)

    async def optimize(self) -> bool:
        """Merge segments and build indexes now (blocking work, off the event loop); True if anything changed."""
        self._check_open()
        return await self._run(self._shard.optimize)

    async def _upsert(self, points: list[Point]) -> None:
        """Upsert through the write-ahead log."""
        edge_points = [qe.Point(p.id, {VECTOR_NAME: p.vector}, p.payload) for p in points]
        await self._run(self._shard.update, qe.UpdateOperation.upsert_points(edge_points))

    async def _query(self, vector: list[float], conditions: list[Condition], limit: int) -> list[Hit]:
        """Filtered nearest-neighbour query."""
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(vector, using=VECTOR_NAME),
            filter=_filter(conditions),
            with_payload=True,
        )
        found = await self._run(self._shard.query, request)
        return [Hit(p.id, p.score, p.payload or {}) for p in found]

    async def _count(self, conditions: list[Condition]) -> int:
        """Exact filtered count."""
        return await self._run(self._shard.count, qe.CountRequest(exact=True, filter=_filter(conditions)))

    async def _delete(self, conditions: list[Condition]) -> None:
        """Delete by filter."""
        await self._run(self._shard.update, qe.UpdateOperation.delete_points_by_filter(_filter(conditions)))

    async def _ping(self) -> bool:
        """The shard answers an info request."""
        await self._run(self._shard.info)
        return True

    async def _close(self) -> None:
        """Drain the pool, then flush and close the shard."""
        await asyncio.to_thread(self._pool.shutdown, wait=True)
        await asyncio.to_thread(self._flush_and_close)

    def _flush_and_close(self) -> None:
        """Persist pending changes and release the directory."""
        self._shard.flush()
        self._shard.close()
