"""The static message buffer: where it is cut, that the cut is atomic with its sleeptime job, and its settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from memory.buffer import SLEEPTIME_JOB, BufferLimits, BufferTrimmer, Eviction, cut_index
from memory.conversations import Conversation
from memory.jobs import JobQueue
from memory.messages import MessageStore
from memory.records import AgentRecord, MessageRecord
from server.config import Settings

AGENT = AgentRecord(owner="acme", name="support")
ADA = Conversation.of(AGENT, "ada")


def _messages(*roles: str) -> list[MessageRecord]:
    """Messages with the given roles; `hidden` is a hidden user note."""
    return [
        MessageRecord(conversation_id=ADA.id, role="user" if r == "hidden" else r, hidden=r == "hidden", content=f"{r} {i}")  # type: ignore[arg-type]
        for i, r in enumerate(roles)
    ]


def _turns(count: int) -> list[MessageRecord]:
    return _messages(*["user", "assistant"] * count)


@pytest.fixture
async def redis(redis_url: str):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def test_nothing_is_cut_up_to_the_maximum() -> None:
    assert cut_index(_turns(15), BufferLimits()) is None


def test_the_cut_keeps_at_most_the_minimum_and_starts_on_a_user_message() -> None:
    buffer = _turns(16)
    cut = cut_index(buffer, BufferLimits())
    assert cut == 18 and buffer[cut].role == "user" and len(buffer) - cut <= 15


def test_the_cut_skips_hidden_notes_and_tool_messages() -> None:
    tool_turn = ["user", "assistant", "tool", "hidden", "assistant"]
    buffer = _messages(*["user", "assistant"] * 8, *tool_turn, *["user", "assistant"] * 6, "user")
    assert buffer[len(buffer) - 15].hidden
    cut = cut_index(buffer, BufferLimits())
    assert cut == 21 and buffer[cut].role == "user" and not buffer[cut].hidden


def test_without_a_later_user_message_the_cut_moves_back_to_the_nearest_one() -> None:
    buffer = _messages("user", *["assistant"] * 3, "user", *["assistant", "tool"] * 14)
    assert cut_index(buffer, BufferLimits()) == 4


@pytest.mark.parametrize(("low", "high", "message"), [
    (4, 30, "greater than 4"),
    (15, 4, "greater than 4"),
    (15, 15, r"max_message_buffer_length \(15\) must be greater than min_message_buffer_length \(15\)"),
    (20, 10, "must be greater than"),
])
def test_bad_buffer_settings_are_refused_with_a_clear_error(low: int, high: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BufferLimits(low, high)
    with pytest.raises(ValidationError, match=message):
        Settings(min_message_buffer_length=low, max_message_buffer_length=high)


async def test_a_trim_evicts_from_the_context_keeps_history_and_queues_one_job(redis: Redis) -> None:
    messages, queue = MessageStore(redis), JobQueue(redis)
    await messages.append(_turns(16))
    eviction = await BufferTrimmer(redis, messages, queue, BufferLimits()).trim(ADA)
    assert eviction is not None
    buffer = await messages.buffer(ADA.id)
    assert [m.id for m in buffer] == eviction.kept_ids and len(buffer) == 14 and buffer[0].role == "user"
    assert await messages.count(ADA.id) == 32
    [job] = await queue.queued()
    assert job.kind == SLEEPTIME_JOB and Eviction.model_validate_json(job.payload) == eviction
    assert await BufferTrimmer(redis, messages, queue, BufferLimits()).trim(ADA) is None
