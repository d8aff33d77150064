"""Python tools used by the tests, referenced as `tests.sample_tools:NAME` in agent configs."""

from __future__ import annotations

import threading

calls: list[tuple[str, dict[str, object]]] = []
go = threading.Event()


def get_weather(city: str, unit: str = "celsius") -> dict[str, object]:
    """Look up the current weather.

    Args:
        city: The city to look up.
        unit: celsius or fahrenheit.
    """
    calls.append(("get_weather", {"city": city, "unit": unit}))
    return {"city": city, "temperature": 21, "unit": unit, "sky": "sunny"}


def get_time(timezone: str) -> str:
    """Tell the time in a timezone.

    Args:
        timezone: An IANA timezone name.
    """
    calls.append(("get_time", {"timezone": timezone}))
    return "14:05"


def explode(reason: str) -> str:
    """A tool that always fails.

    Args:
        reason: Why it should fail.
    """
    raise RuntimeError(f"the booking system is down ({reason})")


def wait_for_go() -> str:
    """Block until the test sets `go` (proves the caller heard the pre-execution message first)."""
    if not go.wait(timeout=10):
        raise TimeoutError("the test never saw the pre-execution message")
    return "done"


def lookup_order(email: str) -> dict[str, object]:
    """Find the caller's latest order.

    Args:
        email: The email address the order was placed with.
    """
    calls.append(("lookup_order", {"email": email}))
    return {"order_id": "A-7731", "status": "shipped", "carrier": "DHL"}
