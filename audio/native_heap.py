"""Giving the C heap's freed memory back to the OS (glibc's `malloc_trim`); a no-op elsewhere.

glibc keeps what native code (ONNX Runtime, CTranslate2, numpy) frees in its arenas, one
per thread that allocated, so a process's resident memory stays at its busiest moment's
level unless it is asked to return it.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable


def _glibc_malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        return trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


_MALLOC_TRIM = _glibc_malloc_trim()


def trim() -> None:
    """Return the free memory of every arena to the OS (blocks for a few milliseconds: keep it off the event loop)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class Trimmer:
    """Runs `trim()` in a worker thread when asked, at most once per `pause_s`: requests in between are merged into one."""

    def __init__(self, pause_s: float = 1.0) -> None:
        self._pause_s = pause_s
        self._running: asyncio.Task[None] | None = None
        self._again = False

    def request(self) -> None:
        """Trim soon, off the event loop (call from the loop)."""
        if self._running is not None and not self._running.done():
            self._again = True
            return
        self._running = asyncio.create_task(self._run(), name="malloc_trim")

    async def _run(self) -> None:
        again = True
        while again:
            self._again = False
            await asyncio.to_thread(trim)
            await asyncio.sleep(self._pause_s)
            again = self._again

    async def close(self) -> None:
        """Stop trimming (a trim already in its thread finishes there)."""
        if self._running is not None:
            self._running.cancel()
            await asyncio.wait({self._running})
