"""Which client-side tool calls still wait for a result."""

from agent.client_calls import client_result, unanswered_calls
from memory.records import MessageRecord, ToolCallRecord


def _calls(*ids: str) -> MessageRecord:
    return MessageRecord(conversation_id="a", role="assistant", tool_calls=[ToolCallRecord(id=i, name="t", arguments="{}") for i in ids])


def _result(call_id: str) -> MessageRecord:
    return MessageRecord(conversation_id="a", role="tool", content="{}", tool_call_id=call_id)


def test_calls_without_results_in_the_latest_step_are_unanswered() -> None:
    user = MessageRecord(conversation_id="a", role="user", content="hi")
    assert [c.id for c in unanswered_calls([user, _calls("a", "b"), _result("a")])] == ["b"]
    assert unanswered_calls([_calls("a"), _result("a"), user]) == []
    assert unanswered_calls([_calls("old"), user]) == [], "only the tail of the conversation can still wait"
    assert unanswered_calls([]) == []


def test_a_client_output_is_a_result_and_json_stays_json() -> None:
    assert client_result('{"city": "Lyon"}').content == '{"result": {"city": "Lyon"}}'
    assert client_result("plain words").content == '{"result": "plain words"}'
