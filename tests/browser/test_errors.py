"""What the page says when it cannot talk: a refused key, a server gone, a microphone denied."""

from __future__ import annotations

from pathlib import Path

from server.app import Gateway
from server.config import Settings
from tests.audio.speech_data import silence
from tests.browser.browser import expect, open_browser, write_microphone
from tests.conftest import running_server


async def test_a_wrong_key_is_named_as_such_and_the_right_key_connects(settings: Settings, tmp_path: Path) -> None:
    guarded = settings.model_copy(update={"api_keys": ["alice:open-sesame"]})
    microphone = write_microphone(tmp_path / "quiet.wav", silence(2000))
    async with running_server(guarded) as server, open_browser(tmp_path / "profile", microphone) as browser:
        page = browser.page
        await page.goto(f"http://127.0.0.1:{server.port}/")
        await expect(page.locator("#error")).to_contain_text("needs an API key")
        await page.fill("#key", "wrong-key")
        await page.click("#connect")
        await expect(page.locator("#error")).to_contain_text("The API key was refused (HTTP 401)")
        await expect(page.locator("#status")).to_have_text("disconnected")
        await page.fill("#key", "open-sesame")
        await page.locator("#key").dispatch_event("change")
        await expect(page.locator("#error")).to_be_hidden()
        await page.click("#connect")
        await expect(page.locator("#status")).to_contain_text("connected: listening")
        await expect(page.locator('.block[data-label="persona"]')).to_be_visible()


async def test_a_server_that_went_away_is_reported_as_unreachable(settings: Settings, tmp_path: Path) -> None:
    async with open_browser(tmp_path / "profile") as browser:
        async with running_server(settings) as server:
            await browser.page.goto(f"http://127.0.0.1:{server.port}/")
            await expect(browser.page.locator("#agent")).to_have_value("default")
        await browser.page.click("#connect")
        await expect(browser.page.locator("#error")).to_contain_text("Cannot reach the Confab server")
        await expect(browser.page.locator("#status")).to_have_text("disconnected")


async def test_a_denied_microphone_is_explained(server: Gateway, tmp_path: Path) -> None:
    async with open_browser(tmp_path / "profile", None, "--deny-permission-prompts", fake_ui=False) as browser:
        await browser.page.goto(f"http://127.0.0.1:{server.port}/")
        await browser.page.click("#connect")
        await expect(browser.page.locator("#error")).to_contain_text("Microphone permission was denied")
        await expect(browser.page.locator("#status")).to_have_text("disconnected")
