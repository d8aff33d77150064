"""Running tool calls: results, errors and timeouts become what the model sees."""

import asyncio
import json
from typing import Any

from agent.tools.base import Tool
from agent.tools.python_tools import load_python_tool
from agent.tools.toolset import ToolSet


async def _sleep_forever(arguments: dict[str, Any]) -> Any:
    await asyncio.sleep(60)


async def test_a_sync_python_tool_returns_its_result_wrapped() -> None:
    tools = ToolSet([load_python_tool("tests.sample_tools:get_weather")])
    result = await tools.call("get_weather", json.dumps({"pre_exec_msg": "Checking.", "city": "Oslo"}))
    assert not result.is_error
    assert json.loads(result.content) == {"result": {"city": "Oslo", "temperature": 21, "unit": "celsius", "sky": "sunny"}}


async def test_a_raising_tool_becomes_an_error_result() -> None:
    tools = ToolSet([load_python_tool("tests.sample_tools:explode")])
    result = await tools.call("explode", '{"reason": "test"}')
    assert result.is_error
    assert "booking system is down" in json.loads(result.content)["error"]


async def test_a_hanging_tool_hits_its_timeout() -> None:
    tools = ToolSet([Tool("hang", "never returns", {"type": "object", "properties": {}}, _sleep_forever)], timeout_s=0.2)
    result = await tools.call("hang", "{}")
    assert result.is_error and "timed out" in result.content


async def test_bad_arguments_and_unknown_tools_are_errors_for_the_model() -> None:
    tools = ToolSet([load_python_tool("tests.sample_tools:get_weather")])
    assert "not valid JSON" in (await tools.call("get_weather", "{city")).content
    assert "unknown tool" in (await tools.call("nope", "{}")).content
    assert (await tools.call("get_weather", '{"town": "Oslo"}')).is_error


class _Listed:
    """A tool source whose tools the test changes between refreshes."""

    def __init__(self, *tools: Tool) -> None:
        self.tools = list(tools)

    async def list_tools(self) -> list[Tool]:
        return self.tools


async def _echo(arguments: dict[str, Any]) -> Any:
    return arguments


async def test_sources_are_listed_again_on_refresh_and_fixed_tools_win_a_name_clash() -> None:
    source = _Listed(Tool("echo", "from the source", {"type": "object", "properties": {}}, _echo))
    tools = ToolSet([Tool("echo", "fixed", {"type": "object", "properties": {}}, _echo)], sources=[source])
    await tools.refresh()
    assert [t["function"]["description"] for t in tools.specs(strict=False)] == ["fixed"]
    source.tools.append(Tool("client_side", "runs on the client", {"type": "object", "properties": {}}, None))
    await tools.refresh()
    assert "client_side" in tools and tools.runs_on_client("client_side") and not tools.runs_on_client("echo")
    assert "runs on the client" in (await tools.call("client_side", "{}")).content


async def test_a_tools_own_timeout_overrides_the_sets() -> None:
    tools = ToolSet([Tool("hang", "never returns", {"type": "object", "properties": {}}, _sleep_forever, timeout_s=0.1)], timeout_s=30)
    result = await tools.call("hang", "{}")
    assert result.is_error and "timed out after 0.1 s" in result.content


async def test_a_strict_mode_null_for_an_optional_argument_reaches_the_tool_as_its_default() -> None:
    tools = ToolSet([load_python_tool("tests.sample_tools:get_weather")])
    result = await tools.call("get_weather", json.dumps({"pre_exec_msg": "Checking.", "city": "Oslo", "unit": None}))
    assert json.loads(result.content)["result"]["unit"] == "celsius"
