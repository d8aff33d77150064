"""The inbound rate limit: a burst goes through at once, beyond it the reader waits for the sustained rate."""

import asyncio

from server.config import Settings
from server.websocket_io import TokenBucket
from tests.conftest import running_server, ws_url
from tests.realtime_client import RealtimeTestClient


def test_a_burst_within_the_capacity_is_read_without_waiting() -> None:
    bucket = TokenBucket(rate=1000, capacity=5000, updated=0.0)
    assert [bucket.take(1000, now=0.0) for _ in range(5)] == [0.0] * 5


def test_beyond_the_burst_the_reader_waits_until_the_debt_is_paid_at_the_rate() -> None:
    bucket = TokenBucket(rate=1000, capacity=5000, updated=0.0)
    bucket.take(5000, now=0.0)
    assert bucket.take(2000, now=0.0) == 2.0


def test_a_flood_is_held_to_the_sustained_rate() -> None:
    bucket = TokenBucket(rate=1000, capacity=1000, updated=0.0)
    now, sent = 0.0, 0
    while now < 10.0:
        now += bucket.take(500, now)
        sent += 500
    assert 10_000 <= sent <= 11_500  # the burst plus 10 s at 1000/s


def test_idle_time_refills_the_bucket_only_up_to_its_capacity() -> None:
    bucket = TokenBucket(rate=1000, capacity=2000, updated=0.0)
    bucket.take(2000, now=0.0)
    assert bucket.take(2000, now=60.0) == 0.0
    assert bucket.take(1000, now=60.0) == 1.0


async def test_a_flood_of_frames_is_read_no_faster_than_the_sustained_rate(settings: Settings) -> None:
    limited = settings.model_copy(update={"speech": False, "inbound_frames_per_s": 20, "inbound_burst_frames": 20})
    async with running_server(limited) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway))
        started = asyncio.get_running_loop().time()
        for _ in range(60):
            await client.send({"type": "response.cancel"})
        answers = [(await client.next_event())["error"]["code"] for _ in range(60)]
        elapsed = asyncio.get_running_loop().time() - started
        await client.close()
    assert answers == ["response_cancel_not_active"] * 60  # nothing dropped
    assert elapsed >= 1.9  # 60 frames, 20 at once and 20 a second: the rest waited ~2 s
