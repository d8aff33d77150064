"""Webhook tools end to end: a signed POST to a real HTTP server on loopback."""

import asyncio
import json

from server.config import Settings
from tests.conftest import running_server, ws_url
from tests.fakes.llm_server import Call, ScriptedLLM, Text, ToolCalls
from tests.realtime_client import RealtimeTestClient, text_of
from tests.tool_servers import WebhookReceiver, create_agent

ORDER_STATUS = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "description": "The order number."}},
    "required": ["order_id"],
}


def _webhook(url: str, secret: str) -> dict:
    return {"name": "order_status", "description": "Where an order is.", "parameters": ORDER_STATUS, "url": url, "secret": secret}


async def test_the_model_calls_a_signed_webhook_on_loopback(settings: Settings, llm: ScriptedLLM) -> None:
    receiver = WebhookReceiver(secret="s3cret", reply={"status": "out for delivery"})
    llm.script(ToolCalls([Call("order_status", {"pre_exec_msg": "Checking.", "order_id": "A-9"}, id="call_w")]), Text("It is out for delivery."))
    with receiver.serve() as url:
        agent = await create_agent(settings.redis_url, name="shop", webhooks=[_webhook(url, "s3cret")])
        async with running_server(settings) as gateway:
            client = await RealtimeTestClient.open(ws_url(gateway, model="shop"))
            reply, events = await client.ask("Where is A-9?")
    assert reply == "Checking.It is out for delivery."
    assert receiver.bad_signatures == 0
    [request] = receiver.requests
    response_id = next(e for e in events if e["type"] == "response.created")["response"]["id"]
    assert request == {"tool": "order_status", "call_id": "call_w", "arguments": {"order_id": "A-9"}, "agent_id": agent.id, "response_id": response_id}
    tool_message = next(m for m in llm.requests[-1]["messages"] if m["role"] == "tool")
    assert json.loads(tool_message["content"]) == {"result": {"status": "out for delivery"}}


async def test_a_webhook_that_refuses_is_an_error_result_for_the_model(settings: Settings, llm: ScriptedLLM) -> None:
    receiver = WebhookReceiver(secret="right")
    llm.script(ToolCalls([Call("order_status", {"pre_exec_msg": "Checking.", "order_id": "A-9"})]), Text("I could not check."))
    with receiver.serve() as url:
        await create_agent(settings.redis_url, name="shop", webhooks=[_webhook(url, "wrong")])
        async with running_server(settings) as gateway:
            client = await RealtimeTestClient.open(ws_url(gateway, model="shop"))
            reply, _ = await client.ask("Where is A-9?")
    assert reply.endswith("I could not check.")
    assert receiver.bad_signatures == 1 and not receiver.requests
    tool_message = next(m for m in llm.requests[-1]["messages"] if m["role"] == "tool")
    assert json.loads(tool_message["content"])["error"].startswith("WebhookError: HTTP 401")


async def test_a_cancelled_response_never_starts_its_tool(settings: Settings, llm: ScriptedLLM) -> None:
    receiver = WebhookReceiver(secret="s3cret", reply={"status": "booked"})
    slow_call = ToolCalls([Call("order_status", {"pre_exec_msg": "One moment.", "order_id": "A-1234567890"})], chunk_chars=2, delay=0.05)
    llm.script(slow_call)
    with receiver.serve() as url:
        await create_agent(settings.redis_url, name="shop", webhooks=[_webhook(url, "s3cret")])
        async with running_server(settings) as gateway:
            client = await RealtimeTestClient.open(ws_url(gateway, model="shop"))
            await client.say("Check order A-1234567890.")
            await client.until(lambda e: text_of(client.received) == "One moment.")
            await client.send({"type": "response.cancel"})
            done = (await client.until_type("response.done"))[-1]
            await asyncio.sleep(1.0)  # past the end of the scripted stream: the call would have run by now
    assert done["response"]["status"] == "cancelled"
    assert receiver.requests == [] and receiver.bad_signatures == 0
