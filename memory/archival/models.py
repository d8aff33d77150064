"""The archival memory records callers see: passages and scored search hits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from memory.records import utc_now


def _canonical_uuid(value: str) -> str:
    """The canonical text form of a UUID (Qdrant point ids are UUIDs or integers)."""
    return str(uuid.UUID(value))


def _as_utc(value: datetime) -> datetime:
    """The same instant, expressed in UTC."""
    return value.astimezone(UTC)


PassageId = Annotated[str, AfterValidator(_canonical_uuid)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]


class Passage(BaseModel):
    """One archived memory of an agent: a piece of text, when it happened, and optional tags.

    `conversation_id` says whose it is: one conversation's (one caller's), or None for
    agent-wide knowledge that every caller of the agent may find.
    `created_at` must be timezone-aware and is stored in UTC; naive datetimes are rejected.
    """

    model_config = ConfigDict(frozen=True)

    id: PassageId = Field(default_factory=lambda: str(uuid.uuid4()))
    agent_id: str = Field(min_length=1)
    conversation_id: str | None = Field(default=None, min_length=1)
    text: str = Field(min_length=1)
    created_at: UtcDatetime = Field(default_factory=utc_now)
    tags: list[str] = Field(default_factory=list)


class ScoredPassage(BaseModel):
    """A search hit: the passage and its cosine similarity to the query (higher is closer)."""

    model_config = ConfigDict(frozen=True)

    passage: Passage
    score: float
