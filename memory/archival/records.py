"""Engine-neutral pieces both Qdrant stores share: the payload layout and the search filter."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from memory.archival.models import Passage, ScoredPassage

VECTOR_NAME = "text"
AGENT_ID = "agent_id"
SCOPE = "scope"
KNOWLEDGE = "knowledge"
TEXT = "text"
CREATED_AT = "created_at"
TAGS = "tags"


@dataclass(frozen=True, slots=True)
class Point:
    """A passage as the engine stores it: id, dense vector, payload."""

    id: str
    vector: list[float]
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Hit:
    """One raw search result from an engine."""

    id: str | uuid.UUID
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MatchValue:
    """`key` equals `value`."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class MatchAny:
    """`key` (a value or a list of values) contains at least one of `values`."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DatetimeRange:
    """`key` is a datetime within [gte, lte]; a missing bound is open."""

    key: str
    gte: datetime | None
    lte: datetime | None


Condition = MatchValue | MatchAny | DatetimeRange


@dataclass(frozen=True, slots=True)
class PassageFilter:
    """Which passages a search, count or delete applies to: always one agent, optionally scopes, a window and tags.

    A scope is a conversation id, or `KNOWLEDGE` for the agent-wide passages; no scopes
    means every passage of the agent.
    """

    agent_id: str
    start: datetime | None = None
    end: datetime | None = None
    tags: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Reject empty agents, naive datetimes and windows that end before they start."""
        if not self.agent_id:
            raise ValueError("agent_id must not be empty")
        for bound in (self.start, self.end):
            if bound is not None and bound.tzinfo is None:
                raise ValueError("time window bounds must be timezone-aware")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(f"time window starts ({self.start}) after it ends ({self.end})")

    def conditions(self) -> list[Condition]:
        """The conditions that must all hold, in engine-neutral form."""
        conditions: list[Condition] = [MatchValue(AGENT_ID, self.agent_id)]
        if self.scopes:
            conditions.append(MatchAny(SCOPE, self.scopes))
        if self.start is not None or self.end is not None:
            conditions.append(DatetimeRange(CREATED_AT, _in_utc(self.start), _in_utc(self.end)))
        if self.tags:
            conditions.append(MatchAny(TAGS, self.tags))
        return conditions


def _in_utc(moment: datetime | None) -> datetime | None:
    """The same instant in UTC, the zone `created_at` is stored in."""
    return moment.astimezone(UTC) if moment is not None else None


def to_points(passages: Sequence[Passage], vectors: Sequence[Sequence[float]], dim: int) -> list[Point]:
    """Pair passages with their vectors, checking there is one `dim`-long vector per passage."""
    if len(passages) != len(vectors):
        raise ValueError(f"{len(passages)} passages but {len(vectors)} vectors")
    return [
        Point(passage.id, checked_vector(vector, dim), to_payload(passage))
        for passage, vector in zip(passages, vectors, strict=True)
    ]


def checked_vector(vector: Sequence[float], dim: int) -> list[float]:
    """The vector as a list of floats, if it has `dim` components."""
    if len(vector) != dim:
        raise ValueError(f"vector has {len(vector)} dimensions, the store expects {dim}")
    return [float(x) for x in vector]


def to_payload(passage: Passage) -> dict[str, Any]:
    """The stored payload of a passage (its id is the point id)."""
    return {
        AGENT_ID: passage.agent_id,
        SCOPE: passage.conversation_id or KNOWLEDGE,
        TEXT: passage.text,
        CREATED_AT: passage.created_at.isoformat(),
        TAGS: list(passage.tags),
    }


def from_payload(point_id: str | uuid.UUID, payload: dict[str, Any]) -> Passage:
    """The passage a stored point holds."""
    fields = {k: v for k, v in payload.items() if k != SCOPE}
    scope = payload.get(SCOPE, KNOWLEDGE)
    return Passage(id=str(point_id), conversation_id=None if scope == KNOWLEDGE else scope, **fields)


def ranked(hits: Iterable[Hit]) -> list[ScoredPassage]:
    """Hits as scored passages, best score first and, among equal scores, newest first."""
    scored = [ScoredPassage(passage=from_payload(hit.id, hit.payload), score=hit.score) for hit in hits]
    return sorted(scored, key=lambda s: (-s.score, -s.passage.created_at.timestamp()))
