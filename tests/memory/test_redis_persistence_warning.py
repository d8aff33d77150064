"""An external Redis that would lose messages on a restart is named at start."""

from pathlib import Path

from redis.asyncio import Redis

from memory.redis_server import persistence_warning
from tests.redis_fixture import RedisProcess


async def test_an_external_redis_without_aof_is_warned_about_and_one_with_aof_is_not(tmp_path: Path) -> None:
    process = RedisProcess(tmp_path)
    process.start()
    client = Redis.from_url(process.url)
    try:
        with_aof = await persistence_warning(client)
        await client.config_set("appendonly", "no")
        without_aof = await persistence_warning(client)
    finally:
        await client.aclose()
        process.stop()
    assert with_aof is None
    assert without_aof is not None and "appendonly yes" in without_aof
