"""Headless Chromium for the browser tests: Debian's `chromium` driven by Playwright, a WAV as the microphone."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:
    from playwright.async_api import Page, async_playwright, expect
except ImportError as missing:  # a collection error that says what to do, never a skip
    raise ImportError("the browser tests need the Python package playwright: `pip install -e '.[test]'` "
                      "(no browser download: they drive Debian's chromium)") from missing

from tests.browser.chromium import CHROMIUM

__all__ = ["ARTIFACTS", "BrowserPage", "Page", "expect", "open_browser", "write_microphone"]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
MIC_RATE = 16000
# Flags for a closed network and a machine without a screen, GPU or sound card.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
FAKE_DEVICE = "--use-fake-device-for-media-stream"
FAKE_UI = "--use-fake-ui-for-media-stream"


def write_microphone(path: Path, *parts: np.ndarray) -> Path:
    """Join 16 kHz int16 pieces into the mono 16-bit WAV that Chromium plays as its fake microphone."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(MIC_RATE)
        wav.writeframes(np.concatenate(parts).astype("<i2").tobytes())
    return path


@dataclass
class BrowserPage:
    """A page and the JavaScript errors it logged (a test fails on any)."""

    page: Page
    errors: list[str] = field(default_factory=list)

    async def stats(self) -> dict[str, Any]:
        """The page's `window.confab.stats` counters."""
        stats: dict[str, Any] = await self.page.evaluate("() => window.confab.stats")
        return stats


@asynccontextmanager
async def open_browser(profile: Path, microphone: Path | None = None, *extra_flags: str, fake_ui: bool = True) -> AsyncIterator[BrowserPage]:
    """Chromium with a fresh profile and a fake microphone.

    `microphone` (played once, then silence) replaces the fake device's beeps; `fake_ui` grants
    the microphone without a prompt (without it the page gets the browser's real permission flow).
    """
    ARTIFACTS.mkdir(exist_ok=True)

    flags = FLAGS + [FAKE_DEVICE] + ([FAKE_UI] if fake_ui else []) + list(extra_flags)
    if microphone is not None:
        flags.append(f"--use-file-for-fake-audio-capture={microphone}%noloop")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=flags,
            viewport={"width": 1200, "height": 820},
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            opened = BrowserPage(page)
            page.on("pageerror", lambda error: opened.errors.append(str(error)))
            page.on("console", lambda message: opened.errors.append(message.text) if message.type == "error" else None)
            yield opened
        finally:
            await context.close()
