"""Token usage: the agent loop asks the model for it in the stream and reports what the model said."""

from collections.abc import AsyncIterator

import pytest

from agent.events import AgentEvent, ModelUsage
from memory.records import AgentRecord
from server.config import Settings
from server.runtime import Runtime
from tests.fakes.llm_server import Call, ScriptedLLM, Text, ToolCalls


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Stores and model clients without a server around them."""
    runtime = await Runtime.open(settings, serving=False)
    yield runtime
    await runtime.stop()


async def _turn(runtime: Runtime, text: str, **agent_fields: object) -> list[AgentEvent]:
    agent = await runtime.agents.create(AgentRecord(owner="local", name="usage", **agent_fields))  # type: ignore[arg-type]
    voice_agent = runtime.voice_agent(agent, await runtime.memory.conversations.open(agent, None))
    await voice_agent.add_user_message(text)
    return [event async for event in voice_agent.step_stream()]


def _usages(events: list[AgentEvent]) -> list[ModelUsage]:
    return [e for e in events if isinstance(e, ModelUsage)]


async def test_the_model_is_asked_for_usage_in_its_stream(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.script(Text("Hello."))
    await _turn(runtime, "Hi")
    assert llm.requests[-1]["stream"] is True
    assert llm.requests[-1]["stream_options"] == {"include_usage": True}


async def test_the_usage_the_model_reports_reaches_the_agent_loop(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.script(Text("Hello there.", usage=(321, 7)))
    usages = _usages(await _turn(runtime, "Hi"))
    assert usages == [ModelUsage(input_tokens=321, output_tokens=7, reported=True)]
    assert usages[0].total_tokens == 328


async def test_each_model_call_of_a_tool_using_turn_reports_its_usage(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.script(
        ToolCalls([Call("get_time", {"pre_exec_msg": "Checking.", "timezone": "UTC"})], usage=(100, 20)),
        Text("It is 14:05.", usage=(150, 6)),
    )
    usages = _usages(await _turn(runtime, "What time is it?", tools=["tests.sample_tools:get_time"]))
    assert [(u.input_tokens, u.output_tokens) for u in usages] == [(100, 20), (150, 6)]
    assert ModelUsage.total(usages) == ModelUsage(input_tokens=250, output_tokens=26, reported=True)


async def test_a_model_that_sends_no_usage_is_reported_as_unreported_zeros(settings: Settings) -> None:
    with ScriptedLLM(report_usage=False) as silent:
        silent.script(Text("Hello."))
        runtime = await Runtime.open(settings.model_copy(update={"llm_base_url": silent.base_url}), serving=False)
        try:
            usages = _usages(await _turn(runtime, "Hi"))
        finally:
            await runtime.stop()
    assert usages == [ModelUsage(input_tokens=0, output_tokens=0, reported=False)]
    assert ModelUsage.total(usages).reported is False
