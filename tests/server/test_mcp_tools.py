"""MCP tools end to end: a real MCP server (tests/mcp_server.py) over stdio and streamable HTTP."""

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from server.config import Settings
from tests.conftest import running_server, ws_url
from tests.fakes.llm_server import Call, ScriptedLLM, Text, ToolCalls
from tests.realtime_client import RealtimeTestClient, text_of
from tests.tool_servers import create_agent, http_mcp_server, stdio_server


def _tool_results(request: dict) -> list[dict]:
    return [json.loads(m["content"]) for m in request["messages"] if m["role"] == "tool"]


def _lookup(order_id: str, call_id: str) -> ToolCalls:
    return ToolCalls([Call("lookup_order", {"pre_exec_msg": "Let me look that up.", "order_id": order_id}, id=call_id)])


async def test_the_model_calls_a_tool_on_an_mcp_server_over_stdio(settings: Settings, llm: ScriptedLLM, tmp_path: Path) -> None:
    await create_agent(settings.redis_url, name="shop", mcp_servers=[stdio_server(tmp_path / "mcp.log")])
    llm.script(_lookup("A-1001", "call_1"), Text("Your order has shipped."))
    async with running_server(settings) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway, model="shop"))
        reply, events = await client.ask("Where is order A-1001?")
    assert reply == "Let me look that up.Your order has shipped."
    assert events[-1]["response"]["status"] == "completed"
    offered = {t["function"]["name"]: t["function"] for t in llm.requests[0]["tools"]}
    assert list(offered["lookup_order"]["parameters"]["properties"])[0] == "pre_exec_msg"
    result = _tool_results(llm.requests[-1])[0]["result"]
    assert result["order_id"] == "A-1001" and result["status"] == "shipped"
    assert "called lookup_order A-1001" in (tmp_path / "mcp.log").read_text()


async def test_the_model_calls_a_tool_on_an_mcp_server_over_streamable_http(settings: Settings, llm: ScriptedLLM, tmp_path: Path) -> None:
    with http_mcp_server(tmp_path / "mcp.log") as url:
        await create_agent(settings.redis_url, name="shop", mcp_servers=[{"type": "http", "url": url, "tool_prefix": "shop_"}])
        llm.script(
            ToolCalls([Call("shop_lookup_order", {"pre_exec_msg": "Checking.", "order_id": "B-7", "include_items": True})]),
            Text("It has a teapot."),
        )
        async with running_server(settings) as gateway:
            client = await RealtimeTestClient.open(ws_url(gateway, model="shop"))
            reply, _ = await client.ask("What is in order B-7?")
    assert reply == "Checking.It has a teapot."
    assert _tool_results(llm.requests[-1])[0]["result"]["items"] == ["teapot"]
    assert "called lookup_order B-7" in (tmp_path / "mcp.log").read_text()


async def test_an_mcp_server_that_crashes_is_restarted_and_the_next_call_works(settings: Settings, llm: ScriptedLLM, tmp_path: Path) -> None:
    await create_agent(settings.redis_url, name="shop", mcp_servers=[stdio_server(tmp_path / "mcp.log")])
    llm.script(
        ToolCalls([Call("crash", {"pre_exec_msg": "Hmm."}, id="call_crash")]), Text("Something broke."),
        _lookup("A-1", "call_after"), Text("Shipped."),
    )
    async with running_server(settings) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway, model="shop"))
        await client.ask("Crash, please.")
        crashed = _tool_results(llm.requests[1])[0]
        reply, _ = await client.ask("Where is order A-1?")
    assert "went away" in crashed["error"]
    assert reply.endswith("Shipped.")
    after = _tool_results(llm.requests[-1])[-1]
    assert after["result"]["status"] == "shipped", "the restarted server answered the next call"


async def test_strict_mode_falls_back_to_non_strict_only_for_the_tool_that_cannot_be_strict(settings: Settings, llm: ScriptedLLM, tmp_path: Path) -> None:
    await create_agent(settings.redis_url, name="shop", llm={"strict": True}, mcp_servers=[stdio_server(tmp_path / "mcp.log", tools=["lookup_order", "tag_counts"])])
    llm.script(ToolCalls([Call("lookup_order", {"pre_exec_msg": "One sec.", "order_id": "C-3", "include_items": None})]), Text("Done."))
    async with running_server(settings) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway, model="shop"))
        await client.ask("Order C-3?")
    offered = {t["function"]["name"]: t["function"] for t in llm.requests[0]["tools"]}
    assert set(offered) >= {"lookup_order", "tag_counts"} and "slow_lookup" not in offered
    assert offered["lookup_order"]["strict"] is True
    assert offered["lookup_order"]["parameters"]["properties"]["include_items"]["type"] == ["boolean", "null"]
    assert offered["tag_counts"]["strict"] is False, "a free-form map cannot be strict"
    assert "additionalProperties" in offered["tag_counts"]["parameters"]["properties"]["tags"]
    assert _tool_results(llm.requests[-1])[0]["result"]["order_id"] == "C-3", "strict mode's null means 'not given' to the tool"


async def test_a_hanging_mcp_tool_hits_its_timeout_and_the_model_hears_an_error(settings: Settings, llm: ScriptedLLM, tmp_path: Path) -> None:
    log = tmp_path / "mcp.log"
    settings.tool_timeout_s = 1.0
    await create_agent(settings.redis_url, name="shop", mcp_servers=[stdio_server(log)])
    llm.script(ToolCalls([Call("slow_lookup", {"pre_exec_msg": "Hold on.", "seconds": 60})]), Text("That took too long, sorry."))
    async with running_server(settings) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway, model="shop"))
        reply, events = await client.ask("Look it up slowly.")
        assert reply == "Hold on.That took too long, sorry." and events[-1]["response"]["status"] == "completed"
        assert "timed out after 1 s" in _tool_results(llm.requests[-1])[0]["error"]
        await _until(lambda: "cancelled slow_lookup" in log.read_text())


async def test_cancelling_a_response_cancels_its_mcp_call_in_flight(settings: Settings, llm: ScriptedLLM, tmp_path: Path) -> None:
    log = tmp_path / "mcp.log"
    await create_agent(settings.redis_url, name="shop", mcp_servers=[stdio_server(log)])
    llm.script(ToolCalls([Call("slow_lookup", {"pre_exec_msg": "Hold on.", "seconds": 60}, id="call_slow")]), Text("Sure."))
    async with running_server(settings) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway, model="shop"))
        await client.say("Look it up slowly.")
        await _until(lambda: log.exists() and "called slow_lookup" in log.read_text())
        await client.send({"type": "response.cancel"})
        done = (await client.until_type("response.done"))[-1]
        assert done["response"]["status"] == "cancelled" and text_of(client.received) == "Hold on."
        await _until(lambda: "cancelled slow_lookup" in log.read_text())
        await client.ask("Never mind.")
    [cancelled] = [m for m in llm.requests[-1]["messages"] if m["role"] == "tool"]
    assert cancelled["tool_call_id"] == "call_slow" and "cancelled" in json.loads(cancelled["content"])["error"]


async def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)
