"""Embedded page: no API key in the browser; the operator's backend (`?session_url=`) mints a client secret per session."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import openai
import pytest
from websockets.exceptions import InvalidStatus

from server.app import Gateway
from server.config import Settings
from tests.audio.speech_data import read_wav, silence
from tests.browser.browser import expect, open_browser, write_microphone
from tests.conftest import running_server
from tests.fakes.llm_server import ScriptedLLM, Text

API_KEY = "operator-real-key"
ANSWER = "The museum is open from ten until four on Sundays."
SLOW = 60_000  # ms: speech models on a shared CPU

# What the operator's backend answers instead of a secret: (HTTP status, content type, body).
Reply = tuple[int, str, bytes]


@dataclass
class OperatorBackend:
    """The operator's own backend on another loopback origin: each POST mints a Confab client secret with the real key and relays it."""

    confab_port: int
    reply: Reply | None = None  # a fixed answer instead of minting (a failing backend)
    asked: list[dict[str, Any]] = field(default_factory=list)
    minted: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        """The session URL the page is given."""
        return f"http://127.0.0.1:{self.port}/confab-session"

    def answer(self, body: bytes) -> Reply:
        """Mint for the caller and agent the page asked about, with openai-python and the real key."""
        asked = json.loads(body)
        self.asked.append(asked)
        if self.reply is not None:
            return self.reply
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{self.confab_port}/v1", api_key=API_KEY, max_retries=0)
        session: Any = {"type": "realtime", **({"model": asked["agent"]} if asked.get("agent") else {})}
        secret = client.realtime.client_secrets.create(session=session, extra_query={"caller": asked["caller"]})
        self.minted.append(secret.value)
        return 200, "application/json", secret.model_dump_json(exclude_none=True).encode()


def _handler(backend: OperatorBackend) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def cors(self) -> None:
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Methods", "POST")
            self.send_header("Access-Control-Allow-Headers", "Content-Type")

        def do_OPTIONS(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(204)
            self.cors()
            self.end_headers()

        def do_POST(self) -> None:  # noqa: N802
            status, content_type, body = backend.answer(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(status)
            self.cors()
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def operator_backend(confab_port: int, reply: Reply | None = None) -> Iterator[OperatorBackend]:
    """Serve an OperatorBackend on loopback (a thread: it calls Confab with openai-python's blocking client)."""
    backend = OperatorBackend(confab_port, reply)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(backend))
    backend.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield backend
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def keyed_settings(settings: Settings) -> Settings:
    """A server with one API key (owner `acme`), which only the operator's backend holds."""
    return settings.model_copy(update={"api_keys": [f"acme:{API_KEY}"]})


@pytest.fixture
async def keyed_server(keyed_settings: Settings) -> AsyncIterator[Gateway]:
    """The running server that needs the key."""
    async with running_server(keyed_settings) as gateway:
        yield gateway


@pytest.fixture
async def quiet_server(settings: Settings) -> AsyncIterator[Gateway]:
    """A server without speech models, for tests that never get as far as a session."""
    async with running_server(settings.model_copy(update={"speech": False})) as gateway:
        yield gateway


def _embedded_page(server: Gateway, session_url: str) -> str:
    return f"http://127.0.0.1:{server.port}/?session_url={quote(session_url, safe='')}"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_an_embedded_page_talks_with_a_secret_its_operator_minted_and_never_sees_the_key(
    keyed_server: Gateway, llm: ScriptedLLM, tmp_path: Path
) -> None:
    llm.script(Text(ANSWER))
    microphone = write_microphone(tmp_path / "microphone.wav", silence(1000), read_wav("speech05.wav"), silence(4000))
    with operator_backend(keyed_server.port) as backend:
        async with open_browser(tmp_path / "profile", microphone) as browser:
            page = browser.page
            requests: list[Any] = []
            sockets: list[str] = []
            page.on("request", lambda request: requests.append(request))
            page.on("websocket", lambda ws: sockets.append(ws.url))
            await page.goto(_embedded_page(keyed_server, backend.url))
            await page.click("#connect")
            await expect(page.locator("#status")).to_contain_text("connected", timeout=SLOW)
            await expect(page.locator(".caption.user:not(.pending) .text").first).not_to_be_empty(timeout=SLOW)
            await expect(page.locator(".caption.assistant:not(.pending) .text")).to_have_text(ANSWER, timeout=SLOW)
            caller = await page.evaluate("() => localStorage.getItem('confab.caller')")
            seen = [json.dumps([r.url, await r.all_headers(), r.post_data]) for r in requests] + sockets + [await page.content()]
            assert browser.errors == [] and (await browser.stats())["errors"] == []
    assert backend.asked == [{"caller": caller, "agent": None}]
    assert not [text for text in seen if API_KEY in text], "the real key reached the page"
    assert len(sockets) == 1 and "caller=" not in sockets[0] and "model=" not in sockets[0], "the secret names the caller and agent"
    reuse = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{keyed_server.port}/v1", api_key=backend.minted[0], max_retries=0)
    with pytest.raises(InvalidStatus) as refused:
        async with reuse.realtime.connect(model="gpt-realtime"):
            pass
    assert refused.value.response.status_code == 401 and b"client_secret_used" in refused.value.response.body


async def test_every_connect_of_an_embedded_page_asks_for_a_fresh_secret(keyed_server: Gateway, tmp_path: Path) -> None:
    microphone = write_microphone(tmp_path / "quiet.wav", silence(3000))
    with operator_backend(keyed_server.port) as backend:
        async with open_browser(tmp_path / "profile", microphone) as browser:
            page = browser.page
            await page.goto(_embedded_page(keyed_server, backend.url))
            for _ in range(2):
                await page.click("#connect")
                await expect(page.locator("#status")).to_contain_text("connected: listening", timeout=SLOW)
                await page.click("#connect")
                await expect(page.locator("#status")).to_have_text("disconnected")
            assert browser.errors == []
    assert len(backend.minted) == 2 and backend.minted[0] != backend.minted[1]


async def test_an_embedded_page_hides_what_needs_the_key_and_names_the_site_handing_out_sessions(quiet_server: Gateway, tmp_path: Path) -> None:
    async with open_browser(tmp_path / "profile") as browser:
        page = browser.page
        await page.goto(_embedded_page(quiet_server, "https://shop.example/confab-session"))
        await expect(page.locator("#embedded")).to_contain_text("Sessions come from https://shop.example")
        for hidden in ("#key", "#agent", "#forget", "#memory"):
            await expect(page.locator(hidden)).to_be_hidden()
        await expect(page.locator("#connect")).to_be_visible()
        assert browser.errors == []


FAILURES: dict[str, tuple[Callable[[OperatorBackend], str], Reply | None, str]] = {
    "refused": (lambda b: b.url, (403, "application/json", b'{"error": {"message": "Sign in first."}}'),
                "refused to start a session (HTTP 403): Sign in first."),
    "not a secret": (lambda b: b.url, (200, "text/html", b"<html>login</html>"), "did not answer with a client secret"),
    "unreachable": (lambda b: f"http://127.0.0.1:{_closed_port()}/confab-session", None, "Cannot get a session from http://127.0.0.1:"),
}


@pytest.mark.parametrize("failure", FAILURES)
async def test_a_session_url_that_gives_no_secret_is_explained_and_nothing_connects(quiet_server: Gateway, tmp_path: Path, failure: str) -> None:
    where, reply, explained = FAILURES[failure]
    microphone = write_microphone(tmp_path / "quiet.wav", silence(2000))
    with operator_backend(quiet_server.port, reply) as backend:
        async with open_browser(tmp_path / "profile", microphone) as browser:
            page = browser.page
            sockets: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            await page.goto(_embedded_page(quiet_server, where(backend)))
            await page.click("#connect")
            await expect(page.locator("#error")).to_contain_text(explained)
            await expect(page.locator("#status")).to_have_text("disconnected")
    assert sockets == []


async def test_a_secret_confab_refuses_at_the_handshake_is_explained(quiet_server: Gateway, tmp_path: Path) -> None:
    unknown_secret = (200, "application/json", json.dumps({"value": "ek_" + "x" * 43, "expires_at": 0}).encode())
    microphone = write_microphone(tmp_path / "quiet.wav", silence(2000))
    with operator_backend(quiet_server.port, unknown_secret) as backend:
        async with open_browser(tmp_path / "profile", microphone) as browser:
            page = browser.page
            await page.goto(_embedded_page(quiet_server, backend.url))
            await page.click("#connect")
            await expect(page.locator("#error")).to_contain_text("The Confab server refused this session's client secret")
            await expect(page.locator("#status")).to_have_text("disconnected")
