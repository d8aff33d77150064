"""One caller on two sockets shares one conversation, whose responses never run concurrently."""

from __future__ import annotations

from typing import Any

from server.app import Gateway
from tests.conftest import ws_url
from tests.fakes.llm_server import Hang, Reply, ScriptedLLM, Text
from tests.realtime_client import RealtimeTestClient, text_of

ADA = "+15550001111"
SLOW_ANSWER = "This answer to the first tab takes a while to stream."


def _user_message(text: str) -> dict[str, Any]:
    return {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}


async def test_a_response_create_while_the_callers_other_socket_is_answering_gets_the_error_and_nothing_is_lost(
    server: Gateway, llm: ScriptedLLM
) -> None:
    llm.script(Text(SLOW_ANSWER, chunk_chars=2, delay=0.05), Text("Second answer."))
    first = await RealtimeTestClient.open(ws_url(server, caller=ADA))
    second = await RealtimeTestClient.open(ws_url(server, caller=ADA))
    await first.say("Question from the first tab.")
    await first.until_type("response.output_text.delta")
    await second.send(_user_message("Question from the second tab."))
    await second.send({"type": "response.create", "event_id": "evt_second"})
    [*_, refused] = await second.until_type("error")
    await first.until_type("response.done")
    await second.send({"type": "response.create"})
    second_answer = await second.until_type("response.done")
    await first.close()
    await second.close()
    assert refused["error"]["code"] == "conversation_already_has_active_response" and refused["error"]["event_id"] == "evt_second"
    assert text_of(first.received) == SLOW_ANSWER and text_of(second_answer) == "Second answer."
    assert len(llm.requests) == 2
    context = [(m["role"], m["content"]) for m in llm.requests[1]["messages"][1:]]
    assert context == [  # in the order they happened: the second question came while the first answer streamed
        ("user", "Question from the first tab."), ("user", "Question from the second tab."), ("assistant", SLOW_ANSWER)
    ]


async def test_different_callers_of_one_agent_never_wait_for_each_other(server: Gateway, llm: ScriptedLLM) -> None:
    def reply(body: dict[str, Any]) -> Reply:
        return Hang() if body["messages"][-1]["content"] == "Think about this forever." else Text("Quick answer.")

    llm.default = reply
    ada = await RealtimeTestClient.open(ws_url(server, caller=ADA))
    bob = await RealtimeTestClient.open(ws_url(server, caller="bob@example.com"))
    await ada.say("Think about this forever.")
    await ada.until_type("response.created")
    answer, _ = await bob.ask("Are you there?")
    await bob.close()
    await ada.close()
    assert answer == "Quick answer."
