"""Talking to an agent from the page in headless Chromium, a WAV of real speech as the microphone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from redis.asyncio import Redis

from memory.agents import AgentStore
from memory.records import AgentRecord, MessageRecord
from server.app import Gateway
from tests import sample_tools
from tests.audio.speech_data import SCRIPT, read_wav, silence, word_error_rate
from tests.browser.browser import ARTIFACTS, BrowserPage, Page, expect, open_browser, write_microphone
from tests.fakes.llm_server import Call, ScriptedLLM, Text, ToolCalls

ANSWER = "The museum is open from ten until four on Sundays."
RATE = 24000
SLOW = 60_000  # ms: speech models on a shared CPU


def _microphone(tmp_path: Path, *parts: np.ndarray) -> Path:
    return write_microphone(tmp_path / "microphone.wav", *parts)


async def _connect(browser: BrowserPage, server: Gateway, agent: str = "default", mode: str = "hands-free") -> Page:
    page = browser.page
    await page.goto(f"http://127.0.0.1:{server.port}/?agent={agent}")
    await expect(page.locator("#agent")).to_have_value(agent)
    await page.select_option("#mode", mode)
    await page.click("#connect")
    await expect(page.locator("#status")).to_contain_text("connected", timeout=SLOW)
    return page


async def _history(redis_url: str, agent_name: str = "default") -> list[MessageRecord]:
    return await conversation_history(redis_url, agent_name)


async def test_a_spoken_question_is_captioned_answered_aloud_timed_and_remembered(server: Gateway, llm: ScriptedLLM, tmp_path: Path) -> None:
    llm.script(Text(ANSWER))
    microphone = _microphone(tmp_path, silence(1000), read_wav("speech05.wav"), silence(4000))
    async with open_browser(tmp_path / "profile", microphone) as browser:
        page = await _connect(browser, server)
        question = page.locator(".caption.user:not(.pending) .text").first
        await expect(question).not_to_be_empty(timeout=SLOW)
        assert word_error_rate(SCRIPT["speech05.wav"], await question.inner_text()) <= 0.25
        await expect(page.locator(".caption.assistant:not(.pending) .text")).to_have_text(ANSWER, timeout=SLOW)
        await expect(page.locator(".caption.assistant .meta")).to_contain_text("first audio", timeout=SLOW)
        await expect(page.locator("#latency li")).to_have_count(1)
        await expect(page.locator('.block[data-label="persona"] pre')).to_contain_text("helpful voice assistant")
        await page.wait_for_function("() => window.confab.stats.played > 0.5 * window.confab.stats.audioReceived")
        await page.screenshot(path=ARTIFACTS / "browser-conversation.png")
        await page.wait_for_function("() => window.confab.stats.buffered === 0 && window.confab.stats.played > 0", timeout=SLOW)
        stats = await browser.stats()
        assert stats["audioReceived"] > RATE, "over a second of answer audio arrived"
        assert stats["played"] >= stats["audioReceived"] - 2, "the playback worklet played all of it"
        assert stats["ranDry"] == 1, "playback ran dry only at the end of the answer, never in the middle"
        assert browser.errors == []
        assert llm.requests[-1]["messages"][-1] == {"role": "user", "content": await question.inner_text()}


async def test_speaking_over_the_answer_flushes_it_and_truncates_the_stored_reply(server: Gateway, llm: ScriptedLLM, redis_url: str, tmp_path: Path) -> None:
    long_answer = " ".join(f"This is sentence number {n} of a long answer about the weather." for n in range(1, 13))
    llm.script(Text(long_answer), Text("Sure, what is it?"))
    microphone = _microphone(tmp_path, silence(1000), read_wav("speech02.wav"), silence(4500), read_wav("speech07.wav"), silence(3000))
    async with open_browser(tmp_path / "profile", microphone) as browser:
        page = await _connect(browser, server)
        await expect(page.locator(".caption.assistant.interrupted")).to_have_count(1, timeout=SLOW)
        await expect(page.locator(".caption.assistant:not(.pending) .text").last).to_have_text("Sure, what is it?", timeout=SLOW)
        await expect(page.locator("#latency li")).to_have_count(2, timeout=SLOW)
        await page.screenshot(path=ARTIFACTS / "browser-barge-in.png")
        stats = await browser.stats()
        assert browser.errors == [] and stats["errors"] == []
    truncates = [e for e in stats["sent"] if e["type"] == "conversation.item.truncate"]
    assert len(truncates) == 1, stats["sent"]
    heard_ms = truncates[0]["audio_end_ms"]
    assert stats["truncated"][0]["audio_end_ms"] == heard_ms, "the server confirmed the played position"
    assert 1000 < heard_ms < 12_000, "the answer had been playing for a few seconds"
    long_answer_ms = 12 * 3000
    assert heard_ms < long_answer_ms
    replies = [m for m in await _history(redis_url) if m.role == "assistant"]
    interrupted = replies[0]
    assert interrupted.interrupted
    heard_words = (interrupted.content or "").split()
    assert 0 < len(heard_words) < len(long_answer.split()) // 2, interrupted.content
    assert long_answer.split()[: len(heard_words) - 1] == heard_words[:-1], "the stored reply is the start of the answer"
    assert replies[-1].content == "Sure, what is it?"


async def test_the_pre_execution_message_shows_while_the_tool_runs(server: Gateway, llm: ScriptedLLM, redis_url: str, tmp_path: Path) -> None:
    redis = Redis.from_url(redis_url)
    await AgentStore(redis).create(AgentRecord(owner="local", name="guide", tools=["tests.sample_tools:wait_for_go"]))
    await redis.aclose()
    sample_tools.go.clear()
    llm.script(ToolCalls([Call("wait_for_go", {"pre_exec_msg": "One moment, let me check the opening hours."})]), Text(ANSWER))
    microphone = _microphone(tmp_path, silence(1000), read_wav("speech05.wav"), silence(3000))
    async with open_browser(tmp_path / "profile", microphone) as browser:
        page = await _connect(browser, server, agent="guide")
        answer = page.locator(".caption.assistant .text")
        await expect(answer).to_have_text("One moment, let me check the opening hours.", timeout=SLOW)
        await expect(page.locator(".caption.assistant")).to_have_class("caption assistant pending")
        assert not sample_tools.go.is_set(), "the tool is still running"
        sample_tools.go.set()
        await expect(page.locator(".caption.assistant:not(.pending) .text")).to_have_text(
            f"One moment, let me check the opening hours. {ANSWER}", timeout=SLOW)
        assert browser.errors == []


async def test_push_to_talk_sends_the_microphone_only_while_the_button_is_held(server: Gateway, llm: ScriptedLLM, tmp_path: Path) -> None:
    llm.script(Text(ANSWER))
    microphone = _microphone(tmp_path, silence(1000), read_wav("speech05.wav"), silence(4000))
    async with open_browser(tmp_path / "profile", microphone) as browser:
        page = await _connect(browser, server, mode="push-to-talk")
        await expect(page.locator("#status")).to_contain_text("hold the button")
        await page.locator("#talk").hover()
        await page.mouse.down()
        await page.wait_for_timeout(5000)
        await page.mouse.up()
        question = page.locator(".caption.user:not(.pending) .text")
        await expect(question).not_to_be_empty(timeout=SLOW)
        assert word_error_rate(SCRIPT["speech05.wav"], await question.inner_text()) <= 0.25
        await expect(page.locator(".caption.assistant:not(.pending) .text")).to_have_text(ANSWER, timeout=SLOW)
        stats = await browser.stats()
        assert browser.errors == [] and stats["errors"] == []
    kinds = [e["type"] for e in stats["sent"]]
    assert kinds[-3:] == ["input_audio_buffer.clear", "input_audio_buffer.commit", "response.create"], kinds
    assert 150 <= stats["framesSent"] <= 300, "only the 5 s the button was held were sent (250 frames of 20 ms)"
    assert len(llm.requests) == 1
