"""The one Redis client a process shares: every command is retried through a short outage.

redis-py's own retry does it: a command that meets a dropped connection or a timeout
reconnects and runs again after an exponential backoff, for about `budget_s` in all.
Only then does the outage reach the caller, as one of `OUTAGE_ERRORS`.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

OUTAGE_ERRORS: tuple[type[Exception], ...] = (ConnectionError, TimeoutError)
"""What a command raises once Redis stayed unreachable for the whole retry budget (a Redis
still loading its AOF after a restart answers `BusyLoadingError`, a `ConnectionError`)."""

_BACKOFF_BASE_S = 0.05
_BACKOFF_CAP_S = 0.5
_CONNECT_TIMEOUT_S = 1.0


def retries_within(budget_s: float) -> int:
    """How many retries the backoff spreads over `budget_s` (their waits add up to at least it)."""
    backoff = ExponentialBackoff(cap=_BACKOFF_CAP_S, base=_BACKOFF_BASE_S)
    retries, waited = 0, 0.0
    while waited < budget_s:
        retries += 1
        waited += backoff.compute(retries)
    return retries


def connect(url: str, retry_budget_s: float) -> Redis:
    """A client of `url` whose commands ride out an outage of up to about `retry_budget_s` seconds."""
    return Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=_BACKOFF_CAP_S, base=_BACKOFF_BASE_S), retries_within(retry_budget_s)),
        retry_on_error=list(OUTAGE_ERRORS),
        socket_connect_timeout=_CONNECT_TIMEOUT_S,
    )
