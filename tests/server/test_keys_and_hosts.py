"""API keys that cannot work are refused at start; odd keys and host names are never mistaken for good ones."""

import asyncio

import pytest
from pydantic import ValidationError

from server.config import Settings
from tests.conftest import running_server


@pytest.mark.parametrize("keys", [":", "alice:", ":secret", "alice:se cret", "ok-key,bob:"])
def test_api_keys_with_an_empty_or_unusable_owner_or_key_are_refused(keys: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFAB_API_KEYS", keys)
    with pytest.raises(ValidationError, match="each API key is KEY or OWNER:KEY"):
        Settings()


def test_well_formed_api_keys_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFAB_API_KEYS", "plain-key,alice:alice-key")
    assert Settings().api_keys == ["plain-key", "alice:alice-key"]


@pytest.mark.parametrize("host", ["127.evil.example", "localhost.evil.example", "0.0.0.0", "10.0.0.1"])
def test_host_names_that_only_look_local_are_not_loopback(host: str) -> None:
    assert not Settings(host=host).is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_are_loopback(host: str) -> None:
    assert Settings(host=host).is_loopback


async def _status_of_upgrade(port: int, authorization: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /v1/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Authorization: Bearer " + authorization + b"\r\n\r\n"
    )
    status = await reader.readline()
    writer.close()
    return status


async def test_a_key_with_a_non_ascii_byte_is_a_401_not_a_server_error(settings: Settings) -> None:
    async with running_server(settings.model_copy(update={"api_keys": ["alice:alice-key"], "speech": False})) as gateway:
        status = await _status_of_upgrade(gateway.port, b"alice-k\xffey")
    assert status.startswith(b"HTTP/1.1 401")
