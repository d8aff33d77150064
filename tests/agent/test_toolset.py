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
