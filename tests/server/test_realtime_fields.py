"""Realtime fields a client sends are honoured or refused by name, and echoes show what is in force.

Each test drives the server with openai-python's realtime client over a real socket, against the scripted model.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import openai
from openai.resources.realtime.realtime import AsyncRealtimeConnection

from tests.fakes.llm_server import ScriptedLLM, Text


@asynccontextmanager
async def _text_session(server, **session: Any) -> AsyncIterator[AsyncRealtimeConnection]:
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused")
    async with client.realtime.connect(model="default") as connection:
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"], **session})
        yield connection


async def _until(connection: AsyncRealtimeConnection, kind: str) -> list[Any]:
    events = []
    async for event in connection:
        events.append(event)
        if event.type == kind:
            return events
    raise AssertionError(f"the connection closed before {kind}")


async def _ask(connection: AsyncRealtimeConnection, question: str, **response: Any) -> list[Any]:
    await connection.conversation.item.create(item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": question}]})
    await connection.response.create(**({"response": response} if response else {}))
    return await _until(connection, "response.done")


async def test_response_done_reports_the_tokens_the_model_used(server, llm: ScriptedLLM) -> None:
    llm.script(Text("Forty-two.", usage=(123, 7)))
    async with _text_session(server) as connection:
        done = (await _ask(connection, "What is the answer?"))[-1]
    usage = done.response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (123, 7, 130)
    assert usage.output_token_details.text_tokens == 7 and usage.output_token_details.audio_tokens == 0
