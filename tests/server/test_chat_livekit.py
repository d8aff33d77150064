"""LiveKit Agents' own `openai.LLM(base_url=...)` pointed at Confab: text in, text out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from livekit.agents import llm as lk_llm
from livekit.plugins import openai as lk_openai

from server.app import Gateway
from server.config import Settings
from tests.conftest import running_server
from tests.fakes.llm_server import Call, ScriptedLLM, Text, ToolCalls


@pytest.fixture
async def chat_server(settings: Settings) -> AsyncIterator[Gateway]:
    """A text-only Confab server."""
    async with running_server(settings.model_copy(update={"speech": False})) as gateway:
        yield gateway


def _livekit_llm(gateway: Gateway) -> lk_openai.LLM:
    return lk_openai.LLM(model="gpt-4o-mini", base_url=f"http://127.0.0.1:{gateway.port}/v1", api_key="unused", user="ada")


async def _reply(model: lk_openai.LLM, ctx: lk_llm.ChatContext, tools: list[Any] | None = None) -> tuple[str, list[Any]]:
    text, calls = "", []
    async with model.chat(chat_ctx=ctx, tools=tools or []) as stream:
        async for chunk in stream:
            if chunk.delta is not None:
                text += chunk.delta.content or ""
                calls += chunk.delta.tool_calls or []
    return text, calls


async def test_livekit_agents_holds_a_conversation_that_confab_remembers(chat_server: Gateway, llm: ScriptedLLM) -> None:
    llm.script(Text("Nice to meet you, Ada."), Text("Your name is Ada."))
    model = _livekit_llm(chat_server)
    ctx = lk_llm.ChatContext()
    ctx.add_message(role="system", content="You answer phone calls.")
    ctx.add_message(role="user", content="Hi, I'm Ada.")
    first, _ = await _reply(model, ctx)
    ctx.add_message(role="assistant", content=first)
    ctx.add_message(role="user", content="What's my name?")
    second, _ = await _reply(model, ctx)
    assert (first, second) == ("Nice to meet you, Ada.", "Your name is Ada.")
    assert [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "user"] == ["Hi, I'm Ada.", "What's my name?"]


async def test_a_livekit_function_tool_is_called_and_its_output_continues_the_turn(chat_server: Gateway, llm: ScriptedLLM) -> None:
    llm.script(
        ToolCalls([Call("lookup_order", {"pre_exec_msg": "Let me look that up.", "order_id": "A17"}, id="call_order")]),
        Text("Order A17 ships tomorrow."),
    )

    @lk_llm.function_tool
    async def lookup_order(order_id: str) -> str:
        """Look up an order's shipping date.

        Args:
            order_id: The order number.
        """
        return "ships tomorrow"

    model = _livekit_llm(chat_server)
    ctx = lk_llm.ChatContext()
    ctx.add_message(role="user", content="Where is order A17?")
    said, calls = await _reply(model, ctx, [lookup_order])
    assert said == "Let me look that up."
    [call] = calls
    assert (call.name, json.loads(call.arguments)) == ("lookup_order", {"order_id": "A17"})
    ctx.add_message(role="assistant", content=said)
    ctx.items.append(lk_llm.FunctionCall(call_id=call.call_id, name=call.name, arguments=call.arguments))
    ctx.items.append(lk_llm.FunctionCallOutput(call_id=call.call_id, name=call.name, output="ships tomorrow", is_error=False))
    answer, _ = await _reply(model, ctx, [lookup_order])
    assert answer == "Order A17 ships tomorrow."
    result = next(m for m in llm.requests[-1]["messages"] if m["role"] == "tool")
    assert result["tool_call_id"] == "call_order" and json.loads(result["content"]) == {"result": "ships tomorrow"}
