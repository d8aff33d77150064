"""What a passage accepts: UUID ids and timezone-aware times, kept in UTC."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from memory.archival import Passage


def test_a_passage_gets_a_fresh_uuid_by_default() -> None:
    first, second = Passage(agent_id="ana", text="hi"), Passage(agent_id="ana", text="hi")
    assert uuid.UUID(first.id) != uuid.UUID(second.id)


def test_an_id_that_is_not_a_uuid_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Passage(id="msg-1", agent_id="ana", text="hi")


def test_a_naive_created_at_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Passage(agent_id="ana", text="hi", created_at=datetime(2025, 6, 1, 12, 0))


def test_created_at_is_kept_in_utc() -> None:
    lisbon_summer = timezone(timedelta(hours=1))
    passage = Passage(agent_id="ana", text="hi", created_at=datetime(2025, 6, 1, 13, 0, tzinfo=lisbon_summer))
    assert passage.created_at == datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
    assert passage.created_at.utcoffset() == timedelta(0)


def test_a_passage_needs_an_agent_and_some_text() -> None:
    with pytest.raises(ValidationError):
        Passage(agent_id="", text="hi")
    with pytest.raises(ValidationError):
        Passage(agent_id="ana", text="")
