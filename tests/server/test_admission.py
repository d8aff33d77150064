"""Who gets a session: sockets without a key never hold one, and each owner and address has its limits."""

import asyncio
import json

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from server.config import Settings
from tests.conftest import running_server, ws_url
from tests.fakes.llm_server import ScriptedLLM, Text
from tests.metrics_probe import active_sessions
from tests.realtime_client import RealtimeTestClient
from tests.twilio.peer import TwilioPeer

KEYS = ["alice:alice-key", "bob:bob-key"]


def _twilio_url(gateway) -> str:
    return f"ws://127.0.0.1:{gateway.port}/v1/twilio"


async def _keyless_stream(gateway) -> ClientConnection:
    """A Twilio-like socket that says `connected`, then never `start`s."""
    connection = await connect(_twilio_url(gateway))
    try:
        await connection.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    except ConnectionClosed:
        pass  # refused at once; `_close_of` tells why
    return connection


async def _keep_alive(connection: ClientConnection) -> None:
    try:
        while True:
            await connection.send(json.dumps({"event": "keepalive"}))
            await asyncio.sleep(0.2)
    except ConnectionClosed:
        return


async def _close_of(connection: ClientConnection, timeout: float = 10.0) -> tuple[int | None, str | None]:
    try:
        async with asyncio.timeout(timeout):
            async for _ in connection:
                pass
    except ConnectionClosed:
        pass
    return connection.close_code, connection.close_reason


async def _open_as(gateway, key: str) -> RealtimeTestClient:
    return await RealtimeTestClient.open(ws_url(gateway), additional_headers={"Authorization": f"Bearer {key}"})


async def test_a_hundred_keyless_twilio_sockets_cannot_keep_a_caller_out(settings: Settings, llm: ScriptedLLM) -> None:
    llm.script(Text("You got through."))
    limited = settings.model_copy(update={"api_keys": KEYS, "max_sessions": 10, "speech": False})
    async with running_server(limited) as gateway:
        squatters = await asyncio.gather(*(_keyless_stream(gateway) for _ in range(100)))
        keepers = [asyncio.create_task(_keep_alive(c)) for c in squatters]
        await asyncio.sleep(0.5)
        caller = await _open_as(gateway, "alice-key")
        reply, _ = await caller.ask("Can I get through?")
        await caller.close()
        for connection in squatters:
            await connection.close()
        await asyncio.gather(*keepers)
    assert reply == "You got through."


async def test_a_hundred_keyless_twilio_sockets_cannot_keep_a_phone_caller_out(settings: Settings) -> None:
    # one address for all (loopback), allowed to hold them all: they still take no session slot
    roomy = {"api_keys": KEYS, "max_sessions": 10, "max_unauthenticated_per_address": 150}
    async with running_server(settings.model_copy(update=roomy)) as gateway:
        squatters = await asyncio.gather(*(_keyless_stream(gateway) for _ in range(100)))
        keepers = [asyncio.create_task(_keep_alive(c)) for c in squatters]
        await asyncio.sleep(0.5)
        caller = await TwilioPeer.call(_twilio_url(gateway), {"token": "alice-key"})
        await asyncio.sleep(1.0)
        in_call = await active_sessions(gateway.port)
        await caller.hang_up()
        for connection in squatters:
            await connection.close()
        await asyncio.gather(*keepers)
    assert caller.connection.close_code == 1000
    assert in_call == 1.0


async def test_a_twilio_stream_that_does_not_start_in_time_is_closed_with_the_reason(settings: Settings) -> None:
    async with running_server(settings.model_copy(update={"api_keys": KEYS, "auth_timeout_s": 1.0, "speech": False})) as gateway:
        connection = await _keyless_stream(gateway)
        keeper = asyncio.create_task(_keep_alive(connection))
        code, reason = await _close_of(connection)
        await keeper
    assert code == 1008 and reason == "no start message within 1 s"


async def test_sockets_waiting_to_authenticate_are_limited_per_address(settings: Settings) -> None:
    limited = settings.model_copy(update={"api_keys": KEYS, "max_unauthenticated_per_address": 3, "speech": False})
    async with running_server(limited) as gateway:
        waiting = [await _keyless_stream(gateway) for _ in range(3)]
        await asyncio.sleep(0.3)
        extra = await _keyless_stream(gateway)
        code, reason = await _close_of(extra)
        for connection in waiting:
            await connection.close()
    assert code == 1008 and reason == "too many connections from your address waiting to authenticate"


async def test_an_owner_beyond_its_session_limit_is_asked_to_retry_while_others_get_in(settings: Settings) -> None:
    limited = settings.model_copy(update={"api_keys": KEYS, "max_sessions_per_owner": 2, "speech": False})
    async with running_server(limited) as gateway:
        alices = [await _open_as(gateway, "alice-key") for _ in range(2)]
        third = await connect(ws_url(gateway), additional_headers={"Authorization": "Bearer alice-key"})
        code, reason = await _close_of(third)
        bob = await _open_as(gateway, "bob-key")
        for client in (*alices, bob):
            await client.close()
    assert code == 1013 and reason == "too many sessions for this API key; try again later"


async def test_sessions_are_counted_only_while_open(settings: Settings) -> None:
    async with running_server(settings.model_copy(update={"speech": False})) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway))
        during = await active_sessions(gateway.port)
        await client.close()
        await asyncio.sleep(0.3)
        after = await active_sessions(gateway.port)
    assert (during, after) == (1.0, 0.0)


