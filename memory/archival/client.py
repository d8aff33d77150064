"""Archival memory in a Qdrant server or cluster, through `qdrant_client.AsyncQdrantClient`."""

from __future__ import annotations

from qdrant_client import AsyncQdrantClient, models

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

DEFAULT_COLLECTION = "confab_passages"

_INDEXES: dict[str, models.PayloadSchemaType | models.KeywordIndexParams | models.DatetimeIndexParams] = {
    AGENT_ID: models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
    CREATED_AT: models.DatetimeIndexParams(type=models.DatetimeIndexType.DATETIME, is_principal=True),
    TAGS: models.PayloadSchemaType.KEYWORD,
    SCOPE: models.PayloadSchemaType.KEYWORD,
}


def _field_condition(condition: Condition) -> models.FieldCondition:
    """An engine-neutral condition as a qdrant-client field condition."""
    match condition:
        case MatchValue(key, value):
            return models.FieldCondition(key=key, match=models.MatchValue(value=value))
        case MatchAny(key, values):
            return models.FieldCondition(key=key, match=models.MatchAny(any=list(values)))
        case DatetimeRange(key, gte, lte):
            return models.FieldCondition(key=key, range=models.DatetimeRange(gte=gte, lte=lte))


def _filter(conditions: list[Condition]) -> models.Filter:
    """All conditions must hold."""
    return models.Filter(must=[_field_condition(c) for c in conditions])


async def _ensure_collection(client: AsyncQdrantClient, name: str, dim: int) -> None:
    """Create the collection if missing (another gateway may race us), check its vectors, add missing indexes."""
    if not await client.collection_exists(name):
        try:
            await client.create_collection(
                name,
                vectors_config={VECTOR_NAME: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
            )
        except Exception:
            if not await client.collection_exists(name):
                raise
    info = await client.get_collection(name)
    vectors = info.config.params.vectors
    params = vectors.get(VECTOR_NAME) if isinstance(vectors, dict) else None
    if params is None or params.size != dim or params.distance != models.Distance.COSINE:
        raise ArchivalStoreError(
            f"collection {name!r} does not hold {dim}-d cosine vectors named {VECTOR_NAME!r}: {vectors}"
        )
    for field, schema in _INDEXES.items():
        if field not in info.payload_schema:
            await client.create_payload_index(name, field, field_schema=schema, wait=True)


class QdrantClientArchivalStore(ArchivalStore):
    """Passages in one collection of a Qdrant server or cluster (or qdrant-client's in-memory mode).

    All agents share the collection; `agent_id` is a tenant-indexed keyword and every request
    filters on it. Writes wait for the server to apply them, so a search sees them at once.
    """

    def __init__(self, client: AsyncQdrantClient, collection: str, dim: int) -> None:
        """Wrap a client whose collection is ready; use `open()`."""
        super().__init__(dim)
        self._client = client
        self._collection = collection

    @classmethod
    async def open(
        cls, client: AsyncQdrantClient, dim: int, *, collection: str = DEFAULT_COLLECTION
    ) -> QdrantClientArchivalStore:
        """Make sure `collection` exists for `dim`-d vectors and return a store that owns `client`.

        Build the client with `AsyncQdrantClient(url=QDRANT_URL, api_key=...)`, or
        `AsyncQdrantClient(location=":memory:")` for tests; `close()` closes it.
        """
        await _ensure_collection(client, collection, dim)
        return cls(client, collection, dim)

    async def _upsert(self, points: list[Point]) -> None:
        """Upsert and wait until applied."""
        structs = [models.PointStruct(id=p.id, vector={VECTOR_NAME: p.vector}, payload=p.payload) for p in points]
        await self._client.upsert(self._collection, points=structs, wait=True)

    async def _query(self, vector: list[float], conditions: list[Condition], limit: int) -> list[Hit]:
        """Filtered nearest-neighbour query."""
        response = await self._client.query_points(
            self._collection,
            query=vector,
            using=VECTOR_NAME,
            query_filter=_filter(conditions),
            limit=limit,
            with_payload=True,
        )
        return [Hit(p.id, p.score, p.payload or {}) for p in response.points]

    async def _count(self, conditions: list[Condition]) -> int:
        """Exact filtered count."""
        result = await self._client.count(self._collection, count_filter=_filter(conditions), exact=True)
        return result.count

    async def _delete(self, conditions: list[Condition]) -> None:
        """Delete by filter and wait until applied."""
        selector = models.FilterSelector(filter=_filter(conditions))
        await self._client.delete(self._collection, points_selector=selector, wait=True)

    async def _ping(self) -> bool:
        """The server answers and the collection is there."""
        return await self._client.collection_exists(self._collection)

    async def _close(self) -> None:
        """Close the client's connections."""
        await self._client.close()
