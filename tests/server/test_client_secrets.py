"""Short-lived client secrets, minted and used with openai-python against a real server and Redis."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from memory.agents import AgentStore
from memory.records import AgentRecord
from server.app import Gateway
from server.config import Settings
from server.realtime.client_secrets import ClientSecretGrant, ClientSecrets
from tests.conftest import running_server
from tests.fakes.llm_server import ScriptedLLM, Text

API_KEY = "acme-key"


@pytest.fixture
def text_settings(settings: Settings) -> Settings:
    """A text-only server (no speech models to load) with one API key, owner `acme`."""
    return settings.model_copy(update={"speech": False, "api_keys": [f"acme:{API_KEY}"]})


@pytest.fixture
async def gateway(text_settings: Settings) -> AsyncIterator[Gateway]:
    """The running server."""
    async with running_server(text_settings) as running:
        yield running


def _client(port: int, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)


async def _ask(port: int, key: str, question: str, model: str = "gpt-realtime") -> tuple[str, list[Any]]:
    """One text turn over openai-python's realtime client with `key`; the reply and every event received."""
    events: list[Any] = []
    async with _client(port, key).realtime.connect(model=model) as connection:
        await connection.conversation.item.create(item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": question}]})
        await connection.response.create()
        async for event in connection:
            events.append(event)
            if event.type == "response.done":
                break
    return "".join(e.delta for e in events if e.type == "response.output_text.delta"), events


async def _create_agent(redis_url: str, name: str, persona: str) -> AgentRecord:
    redis = Redis.from_url(redis_url)
    try:
        return await AgentStore(redis).create(AgentRecord(owner="acme", name=name, system_prompt=persona))
    finally:
        await redis.aclose()


async def test_minting_answers_value_expiry_and_session_as_openai_does(gateway: Gateway) -> None:
    before = int(time.time())
    secret = await _client(gateway.port, API_KEY).realtime.client_secrets.create(
        session={"type": "realtime", "output_modalities": ["text"], "instructions": "Be brief."}
    )
    assert secret.value.startswith("ek_") and len(secret.value) > 40
    assert before + 600 <= secret.expires_at <= int(time.time()) + 600, "ten minutes by default"
    assert secret.session.type == "realtime" and secret.session.model == "default"
    assert secret.session.output_modalities == ["text"] and secret.session.instructions == "Be brief."


async def test_a_secret_opens_a_session_with_the_agent_and_config_it_was_minted_for(gateway: Gateway, text_settings: Settings, llm: ScriptedLLM) -> None:
    await _create_agent(text_settings.redis_url or "", "support", "You are Acme's support line.")
    secret = await _client(gateway.port, API_KEY).realtime.client_secrets.create(
        session={"type": "realtime", "model": "support", "output_modalities": ["text"], "instructions": "Answer in one word."}
    )
    llm.script(Text("Yes."))
    reply, events = await _ask(gateway.port, secret.value, "Can you help?")
    assert reply == "Yes."
    system = llm.requests[-1]["messages"][0]["content"]
    assert system.startswith("You are Acme's support line.") and "Answer in one word." in system
    updated = next(e for e in events if e.type == "session.updated")
    assert updated.session.output_modalities == ["text"]


async def test_a_secret_opens_only_one_session(gateway: Gateway, llm: ScriptedLLM) -> None:
    secret = await _client(gateway.port, API_KEY).realtime.client_secrets.create(session={"type": "realtime", "output_modalities": ["text"]})
    await _ask(gateway.port, secret.value, "Hi")
    with pytest.raises(InvalidStatus) as refused:
        await _ask(gateway.port, secret.value, "Hi again")
    assert refused.value.response.status_code == 401
    assert b"client_secret_used" in refused.value.response.body


async def test_a_secret_used_on_one_server_is_refused_by_another(text_settings: Settings, llm: ScriptedLLM, tmp_path: Path) -> None:
    other = text_settings.model_copy(update={"data_dir": tmp_path / "second"})  # same Redis, its own archival store
    async with running_server(text_settings) as first, running_server(other) as second:
        secret = await _client(first.port, API_KEY).realtime.client_secrets.create(session={"type": "realtime", "output_modalities": ["text"]})
        await _ask(first.port, secret.value, "Hi")
        with pytest.raises(InvalidStatus) as refused:
            await _ask(second.port, secret.value, "Hi")
    assert refused.value.response.status_code == 401 and b"client_secret_used" in refused.value.response.body


async def test_an_expired_secret_is_refused(gateway: Gateway, text_settings: Settings) -> None:
    redis = Redis.from_url(text_settings.redis_url or "")
    agent = await AgentStore(redis).get_or_create_default("acme")
    grant = ClientSecretGrant(owner="acme", agent_id=agent.id, caller=None, session={"type": "realtime"}, expires_at=int(time.time()) - 1)
    value = await ClientSecrets(redis).mint(grant)
    await redis.aclose()
    with pytest.raises(InvalidStatus) as refused:
        await _ask(gateway.port, value, "Hi")
    assert refused.value.response.status_code == 401 and b"client_secret_expired" in refused.value.response.body


async def test_an_unknown_secret_is_refused(gateway: Gateway) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await _ask(gateway.port, "ek_" + "x" * 43, "Hi")
    assert refused.value.response.status_code == 401 and b"client_secret_unknown" in refused.value.response.body


@pytest.mark.parametrize("key", ["wrong-key", "ek_" + "x" * 43])
async def test_minting_needs_a_real_api_key(gateway: Gateway, key: str) -> None:
    with pytest.raises(openai.AuthenticationError):
        await _client(gateway.port, key).realtime.client_secrets.create(session={"type": "realtime"})


async def test_a_session_config_the_server_cannot_run_is_refused_at_minting_by_name(gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await _client(gateway.port, API_KEY).realtime.client_secrets.create(
            session={"type": "realtime", "audio": {"input": {"format": {"type": "audio/flac"}}}}  # type: ignore[typeddict-item]
        )
    assert refused.value.body["param"].startswith("session.audio")  # type: ignore[index]


async def test_an_expiry_outside_10_s_to_2_h_is_refused(gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await _client(gateway.port, API_KEY).realtime.client_secrets.create(expires_after={"anchor": "created_at", "seconds": 5})
    assert refused.value.body["param"] == "expires_after.seconds"  # type: ignore[index]


async def test_minting_for_an_unknown_agent_is_refused(gateway: Gateway) -> None:
    with pytest.raises(openai.NotFoundError):
        await _client(gateway.port, API_KEY).realtime.client_secrets.create(session={"type": "realtime", "model": "nobody"})


async def test_a_malformed_caller_id_is_refused_at_minting(gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await _client(gateway.port, API_KEY).realtime.client_secrets.create(
            session={"type": "realtime"}, extra_query={"caller": "ada}:*"}
        )
    assert refused.value.body["param"] == "caller"  # type: ignore[index]


async def test_a_secret_refuses_a_url_naming_another_agent(gateway: Gateway, text_settings: Settings) -> None:
    await _create_agent(text_settings.redis_url or "", "billing", "You are billing.")
    secret = await _client(gateway.port, API_KEY).realtime.client_secrets.create(session={"type": "realtime", "output_modalities": ["text"]})
    events: list[Any] = []
    with pytest.raises(ConnectionClosedError) as closed:
        async with _client(gateway.port, secret.value).realtime.connect(model="billing") as connection:
            async for event in connection:
                events.append(event)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert events[0].type == "error" and events[0].error.code == "agent_not_found"
    assert "'default', not 'billing'" in events[0].error.message


async def _raw_post(port: int, headers: str, pieces: list[bytes]) -> tuple[bytes, bytes]:
    """POST to the client secrets route over a plain socket, the request sent in `pieces`; status line and body."""
    head = f"POST /v1/realtime/client_secrets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n{headers}\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for piece in [head[:20], head[20:], *pieces]:
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.05)
    answer = await reader.read()
    writer.close()
    status, _, payload = answer.partition(b"\r\n\r\n")
    return status.split(b"\r\n")[0], payload


async def test_a_request_body_arriving_in_pieces_is_read_whole(gateway: Gateway) -> None:
    body = json.dumps({"session": {"type": "realtime", "instructions": "Be brief."}}).encode()
    status, payload = await _raw_post(gateway.port, f"Content-Length: {len(body)}\r\n", [body[:10], body[10:30], body[30:]])
    assert status == b"HTTP/1.1 200 OK"
    assert json.loads(payload)["session"]["instructions"] == "Be brief."


async def test_a_body_above_25_mib_is_refused_before_it_is_read(gateway: Gateway) -> None:
    status, _ = await _raw_post(gateway.port, f"Content-Length: {26 << 20}\r\n", [b"{" * 1000])
    assert status == b"HTTP/1.1 413 Request Entity Too Large"


async def test_a_chunked_body_is_refused_with_length_required(gateway: Gateway) -> None:
    status, _ = await _raw_post(gateway.port, "Transfer-Encoding: chunked\r\n", [b"2\r\n{}\r\n0\r\n\r\n"])
    assert status == b"HTTP/1.1 411 Length Required"
