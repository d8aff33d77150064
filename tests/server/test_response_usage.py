"""`response.done` usage built from the model's reported usage: valid for openai-python, honest when unknown."""

from typing import Any

from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from agent.events import ModelUsage
from server.realtime.usage import response_usage

SERVER_EVENTS: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)


def _done_with(usage: ModelUsage) -> dict[str, Any]:
    """A GA `response.done` carrying `usage`, as JSON after a round trip through openai-python's models."""
    event = {"type": "response.done", "event_id": "event_1", "response": {
        "id": "resp_1", "object": "realtime.response", "status": "completed", "output": [],
        "usage": response_usage(usage).model_dump(mode="json"),
    }}
    return SERVER_EVENTS.validate_python(event).model_dump(mode="json", exclude_none=True)


def test_reported_usage_fills_response_done() -> None:
    usage = _done_with(ModelUsage.total([ModelUsage(100, 20, 64, reported=True), ModelUsage(150, 6, reported=True)]))["response"]["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (250, 26, 276)
    assert usage["input_token_details"]["cached_tokens"] == 64 and usage["confab_usage_reported"] is True


def test_usage_the_model_never_reported_is_zeros_flagged_unreported() -> None:
    usage = _done_with(ModelUsage.total([ModelUsage()]))["response"]["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (0, 0, 0)
    assert usage["confab_usage_reported"] is False
