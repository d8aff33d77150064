"""The inbound rate limit: a burst goes through at once, beyond it the reader waits for the sustained rate."""

from server.websocket_io import TokenBucket


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
