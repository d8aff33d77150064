"""The archival store interface: what every Qdrant-backed implementation offers and checks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from memory.archival.models import Passage, ScoredPassage
from memory.archival.records import Condition, Hit, PassageFilter, Point, checked_vector, ranked, to_points


class ArchivalStoreError(RuntimeError):
    """The store cannot be opened or used (engine unavailable, wrong dimension, directory in use)."""


class ArchivalStoreClosedError(ArchivalStoreError):
    """The store was used after `close()`."""


class ArchivalStore(ABC):
    """Long-term passages of many agents, searched by vector similarity within one agent.

    Inputs are validated and results mapped here, once; an engine only implements the
    underscored primitives on engine-neutral points, conditions and hits.
    """

    def __init__(self, dim: int) -> None:
        """A store of `dim`-dimensional vectors compared by cosine similarity."""
        self.dim = dim
        self._closed = False

    async def insert(self, passages: Sequence[Passage], vectors: Sequence[Sequence[float]]) -> list[str]:
        """Store passages with their embeddings (one per passage, same order); returns their ids.

        Inserting a passage whose id is already stored replaces it.
        """
        self._check_open()
        points = to_points(passages, vectors, self.dim)
        if points:
            await self._upsert(points)
        return [point.id for point in points]

    async def search(
        self,
        agent_id: str,
        query_vector: Sequence[float],
        *,
        limit: int = 5,
        start: datetime | None = None,
        end: datetime | None = None,
        tags: Sequence[str] | None = None,
        scopes: Sequence[str] = (),
    ) -> list[ScoredPassage]:
        """The agent's passages closest to `query_vector`, best first.

        `start`/`end` bound `created_at` inclusively (either may be open); `tags` keeps
        passages carrying at least one of the given tags; `scopes` (conversation ids or
        `KNOWLEDGE`) keeps the passages of those scopes only.
        """
        self._check_open()
        if limit < 1:
            raise ValueError("limit must be at least 1")
        vector = checked_vector(query_vector, self.dim)
        where = PassageFilter(agent_id, start, end, tuple(tags or ()), tuple(scopes))
        return ranked(await self._query(vector, where.conditions(), limit))

    async def count(self, agent_id: str, scopes: Sequence[str] = ()) -> int:
        """How many passages the agent has (in `scopes` only, when given)."""
        self._check_open()
        return await self._count(PassageFilter(agent_id, scopes=tuple(scopes)).conditions())

    async def delete_scope(self, agent_id: str, scope: str) -> int:
        """Forget the agent's passages of one scope (a conversation); returns how many there were."""
        self._check_open()
        where = PassageFilter(agent_id, scopes=(scope,)).conditions()
        found = await self._count(where)
        if found:
            await self._delete(where)
        return found

    async def delete_agent(self, agent_id: str) -> None:
        """Forget every passage of the agent."""
        self._check_open()
        await self._delete(PassageFilter(agent_id).conditions())

    async def healthy(self) -> bool:
        """Whether the store is open and its engine answers."""
        if self._closed:
            return False
        try:
            return await self._ping()
        except Exception:
            return False

    async def close(self) -> None:
        """Finish in-flight work, persist and release the engine; later calls raise. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._close()

    def _check_open(self) -> None:
        """Raise if the store was closed."""
        if self._closed:
            raise ArchivalStoreClosedError("the archival store is closed")

    @abstractmethod
    async def _upsert(self, points: list[Point]) -> None:
        """Write points durably enough that a following search sees them."""

    @abstractmethod
    async def _query(self, vector: list[float], conditions: list[Condition], limit: int) -> list[Hit]:
        """The `limit` nearest points matching all conditions, with payloads."""

    @abstractmethod
    async def _count(self, conditions: list[Condition]) -> int:
        """Exact number of points matching all conditions."""

    @abstractmethod
    async def _delete(self, conditions: list[Condition]) -> None:
        """Delete the points matching all conditions."""

    @abstractmethod
    async def _ping(self) -> bool:
        """Cheap liveness probe of the engine."""

    @abstractmethod
    async def _close(self) -> None:
        """Release the engine after in-flight calls finish."""
