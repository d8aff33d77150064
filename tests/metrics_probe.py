"""Reading a running server's Prometheus metrics, as an operator's dashboard would."""

from __future__ import annotations

import httpx


async def active_sessions(port: int) -> float:
    """`confab_active_sessions`, summed over protocols."""
    async with httpx.AsyncClient(timeout=10) as client:
        body = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith("confab_active_sessions{"))
