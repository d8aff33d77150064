"""The page is one caller: an id kept in the browser, shown, remembered across visits, and a "Forget me" button."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from memory.agents import AgentStore
from memory.conversations import CallerRecord, ConversationStore
from server.app import Gateway
from tests.audio.speech_data import silence
from tests.browser.browser import expect, open_browser, write_microphone


async def _callers(redis_url: str) -> list[CallerRecord]:
    redis = Redis.from_url(redis_url)
    try:
        agent = await AgentStore(redis).get("local", "default")
        return await ConversationStore(redis).list(agent) if agent is not None else []
    finally:
        await redis.aclose()


async def test_the_page_keeps_its_caller_id_across_visits_and_forget_me_erases_that_caller(
    server: Gateway, tmp_path: Path, redis_url: str
) -> None:
    microphone = write_microphone(tmp_path / "quiet.wav", silence(3000))
    async with open_browser(tmp_path / "profile", microphone) as browser:
        page = browser.page
        await page.goto(f"http://127.0.0.1:{server.port}/")
        caller = await page.locator("#caller").text_content()
        await page.reload()
        await expect(page.locator("#caller")).to_have_text(caller or "")
        await page.click("#connect")
        await expect(page.locator("#status")).to_contain_text("connected: listening")
        await page.click("#connect")
        await expect(page.locator("#status")).to_have_text("disconnected")
        remembered = await _callers(redis_url)
        await page.click("#forget")
        await expect(page.locator("#forgotten")).to_contain_text("Forgotten:")
        renamed = await page.locator("#caller").text_content()
    assert caller and caller.startswith("web-")
    assert [r.caller_id for r in remembered] == [caller]
    assert await _callers(redis_url) == []
    assert renamed and renamed.startswith("web-") and renamed != caller
