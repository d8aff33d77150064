"""Client-side tools over /v1/realtime, driven by openai-python's own Realtime client."""

import json
from typing import Any

import openai

from tests.conftest import conversation_history, ws_url
from tests.fakes.llm_server import Call, ScriptedLLM, Text, ToolCalls
from tests.realtime_client import RealtimeTestClient

GET_LOCATION = {
    "type": "function",
    "name": "get_location",
    "description": "Where the caller's phone is.",
    "parameters": {
        "type": "object",
        "properties": {"precision": {"type": "string", "enum": ["city", "street"]}},
        "required": ["precision"],
    },
}


async def _until_done(connection: Any) -> list[Any]:
    events = []
    async for event in connection:
        events.append(event)
        if event.type == "response.done":
            return events
    raise AssertionError("the connection closed before response.done")


async def test_a_client_side_tool_is_called_answered_and_remembered(server, llm: ScriptedLLM, redis_url: str) -> None:
    llm.script(
        ToolCalls([Call("get_location", {"pre_exec_msg": "Let me see where you are.", "precision": "city"}, id="call_loc")]),
        Text("You are in Lyon."),
    )
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="x")
    async with client.realtime.connect(model="default") as connection:
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"], "tools": [GET_LOCATION]})
        await connection.conversation.item.create(item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Where am I?"}]})
        await connection.response.create()
        first = await _until_done(connection)
        [done_args] = [e for e in first if e.type == "response.function_call_arguments.done"]
        await connection.conversation.item.create(
            item={"type": "function_call_output", "call_id": done_args.call_id, "output": json.dumps({"city": "Lyon"})}
        )
        await connection.response.create()
        second = await _until_done(connection)

    said = "".join(e.delta for e in first if e.type == "response.output_text.delta")
    assert said == "Let me see where you are.", "the pre-execution message is said while the client works"
    kinds = [e.type for e in first]
    assert kinds.index("response.output_text.delta") < kinds.index("response.output_item.added", kinds.index("response.output_text.delta"))
    assert "response.function_call_arguments.delta" in kinds
    assert (done_args.call_id, done_args.name, json.loads(done_args.arguments)) == ("call_loc", "get_location", {"precision": "city"})
    response = first[-1].response
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["message", "function_call"]
    assert "".join(e.delta for e in second if e.type == "response.output_text.delta") == "You are in Lyon."

    offered = {t["function"]["name"]: t["function"] for t in llm.requests[0]["tools"]}
    assert list(offered["get_location"]["parameters"]["properties"]) == ["pre_exec_msg", "precision"]
    tool_message = next(m for m in llm.requests[1]["messages"] if m["role"] == "tool")
    assert tool_message["tool_call_id"] == "call_loc" and json.loads(tool_message["content"]) == {"result": {"city": "Lyon"}}

    history = await conversation_history(redis_url)
    call_message = next(m for m in history if m.tool_calls)
    assert call_message.tool_calls[0].name == "get_location" and call_message.content == "Let me see where you are."
    assert next(m for m in history if m.role == "tool").tool_call_id == "call_loc"


async def test_an_unanswered_client_call_is_closed_when_the_conversation_moves_on(server, llm: ScriptedLLM) -> None:
    llm.script(ToolCalls([Call("get_location", {"pre_exec_msg": "Checking.", "precision": "city"}, id="call_x")]), Text("Never mind then."))
    client = await RealtimeTestClient.open(ws_url(server))
    await client.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "tools": [GET_LOCATION]}})
    await client.until_type("session.updated")
    await client.ask("Where am I?")
    await client.ask("Forget it.")
    closed = next(m for m in llm.requests[-1]["messages"] if m["role"] == "tool")
    assert closed["tool_call_id"] == "call_x" and "did not answer" in json.loads(closed["content"])["error"]
    await client.send({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "call_x", "output": "{}"}})
    late = await client.until_type("error")
    assert late[-1]["error"]["code"] == "invalid_value" and "call_x" in late[-1]["error"]["message"]
