"""Clients that hard-code OpenAI model names reach the owner's default agent, through openai-python."""

import openai
from redis.asyncio import Redis

from memory.agents import AgentStore
from memory.records import AgentRecord
from server.agent_names import is_openai_model_name
from server.config import Settings
from tests.conftest import running_server
from tests.fakes.llm_server import ScriptedLLM, Text


async def _create_agent(redis_url: str, name: str, persona: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        await AgentStore(redis).create(AgentRecord(owner="local", name=name, system_prompt=persona))
    finally:
        await redis.aclose()


async def _ask(port: int, model: str, question: str) -> str:
    """One text turn with openai-python's realtime client connected with `model`; the reply."""
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
    text = ""
    async with client.realtime.connect(model=model) as connection:
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await connection.conversation.item.create(item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": question}]})
        await connection.response.create()
        async for event in connection:
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type == "response.done":
                return text
    return text


def _system_prompt(request: dict) -> str:
    return request["messages"][0]["content"]


def test_openai_model_names_are_recognised_and_agent_names_are_not() -> None:
    openai_names = ["gpt-realtime", "gpt-realtime-mini", "gpt-4o-realtime-preview", "gpt-4o-mini-realtime-preview-2024-12-17", "gpt-4o-mini", "o3-mini"]
    assert all(is_openai_model_name(n) for n in openai_names)
    assert not any(is_openai_model_name(n) for n in ["support", "default", "gpt", "my-gpt-4o", "o", "orders"])


async def test_a_client_hard_coding_gpt_realtime_talks_to_the_default_agent(settings: Settings, llm: ScriptedLLM) -> None:
    llm.script(Text("Hello from the default agent."))
    async with running_server(settings) as gateway:
        reply = await _ask(gateway.port, "gpt-4o-realtime-preview", "Hi")
    assert reply == "Hello from the default agent."
    assert _system_prompt(llm.requests[-1]).startswith(AgentRecord(owner="local", name="x").system_prompt)


async def test_the_configured_default_agent_answers_openai_model_names(settings: Settings, llm: ScriptedLLM) -> None:
    await _create_agent(settings.redis_url, "support", "You are Acme's support line.")
    settings.default_agent = "support"
    llm.script(Text("Acme support here."))
    async with running_server(settings) as gateway:
        await _ask(gateway.port, "gpt-realtime", "Hi")
    assert _system_prompt(llm.requests[-1]).startswith("You are Acme's support line.")


async def test_an_agent_named_like_an_openai_model_is_that_agent(settings: Settings, llm: ScriptedLLM) -> None:
    await _create_agent(settings.redis_url, "gpt-realtime", "You are the agent called gpt-realtime.")
    llm.script(Text("That's me."))
    async with running_server(settings) as gateway:
        await _ask(gateway.port, "gpt-realtime", "Hi")
    assert _system_prompt(llm.requests[-1]).startswith("You are the agent called gpt-realtime.")
