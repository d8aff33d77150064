"""Shared pieces of the memory tests: a scripted sleeptime model, settings for memory tests, waiting."""

from __future__ import annotations

import asyncio
import collections
import json
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from server.config import Settings
from tests.fakes.llm_server import Call, Reply, Text, ToolCalls

FAST_JOBS = {"jobs_poll_s": 0.1, "jobs_retry_base_s": 0.2, "jobs_claim_idle_s": 2.0, "speech": False}


def memory_settings(settings: Settings, **overrides: Any) -> Settings:
    """The test settings with a quick job worker and no speech models."""
    return settings.model_copy(update={**FAST_JOBS, **overrides})


def is_sleeptime(body: dict[str, Any]) -> bool:
    """Whether a chat request comes from the sleeptime agent (it offers `store_memories`)."""
    return any(t["function"]["name"] == "store_memories" for t in body.get("tools") or [])


def transcript_of(body: dict[str, Any]) -> str:
    """The transcript part of a sleeptime request."""
    return body["messages"][1]["content"].split("(Newer) lines stay:\n", 1)[1]


def older_and_newer(body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The (Older) and (Newer) lines of a sleeptime request, without their numbers."""
    older, _, newer = transcript_of(body).removeprefix("(Older)\n").partition("(Newer)")
    return _unnumbered(older), _unnumbered(newer)


def _unnumbered(block: str) -> list[str]:
    """Lines without their number and time (`3. [Fri 2026-12-04 14:05] user: hi` -> `user: hi`)."""
    return [re.sub(r"^\d+\. \[[^\]]*\] ", "", line) for line in block.strip().splitlines() if line]


@dataclass
class SleeptimeScript:
    """A model for both agents, each with its own script (the sleeptime agent runs at any moment).

    Voice requests get the replies queued in `voice`, then "Noted.". Sleeptime requests get
    those queued in `failures` first (e.g. errors), then a run archives all (Older) lines as
    one chunk with `context`, rewrites the `human` block to `human(run_number)` and finishes.
    """

    context: str = "Ada told the assistant about her dog"
    human: Callable[[int], str] = lambda run: f"Name: Ada. Her dog is Biscuit. (memory run {run})"
    voice: collections.deque[Reply] = field(default_factory=collections.deque)
    failures: collections.deque[Reply] = field(default_factory=collections.deque)
    runs: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, body: dict[str, Any]) -> Reply:
        """The reply to one chat request."""
        with self._lock:
            if not is_sleeptime(body):
                return self.voice.popleft() if self.voice else Text("Noted.")
            if self.failures:
                return self.failures.popleft()
            step = sum(1 for m in body["messages"] if m["role"] == "tool")
            if step == 0:
                self.runs.append(body)
                older, _ = older_and_newer(body)
                chunk = {"start_index": 0, "end_index": len(older) - 1, "context": self.context}
                return ToolCalls([Call("store_memories", {"chunks": [chunk]})])
            if step == 1:
                return ToolCalls([Call("rethink_user_memory", {"new_memory": self.human(len(self.runs))})])
            return ToolCalls([Call("finish_rethinking_memory", {})])


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll `check` until it holds, failing after `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None


def tool_result(body: dict[str, Any], name: str = "search_memory") -> dict[str, Any]:
    """The parsed result of the last call to `name` in a request's messages."""
    call_ids = {c["id"] for m in body["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or [] if c["function"]["name"] == name}
    content = [m["content"] for m in body["messages"] if m["role"] == "tool" and m["tool_call_id"] in call_ids][-1]
    return json.loads(content)["result"]


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[Redis]:
    """A client of the test settings' Redis, closed at the end."""
    client = Redis.from_url(settings.redis_url or "")
    try:
        yield client
    finally:
        await client.aclose()
