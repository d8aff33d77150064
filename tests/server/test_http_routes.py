"""The HTTP GET routes beside the WebSockets: health, readiness, metrics."""

import httpx

from server.config import Settings
from tests.conftest import running_server, ws_url
from tests.fakes.llm_server import ScriptedLLM, Text
from tests.realtime_client import RealtimeTestClient


async def _get(gateway, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"http://127.0.0.1:{gateway.port}{path}")


async def test_healthz_answers_ok(server) -> None:
    response = await _get(server, "/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_reports_redis_and_the_model_endpoint(server, llm: ScriptedLLM) -> None:
    body = (await _get(server, "/readyz")).json()
    assert body["ready"] is True and body["redis"] is True
    assert body["llm"]["configured"] is True and body["llm"]["base_url"] == llm.base_url


async def test_readyz_is_unavailable_without_a_model(settings: Settings) -> None:
    settings.llm_base_url = None
    settings.llm_api_key = None
    async with running_server(settings) as gateway:
        response = await _get(gateway, "/readyz")
    assert response.status_code == 503 and response.json()["llm"]["configured"] is False


async def test_a_turn_without_a_model_answers_with_a_clear_error(settings: Settings) -> None:
    settings.llm_base_url = None
    settings.llm_api_key = None
    async with running_server(settings) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway))
        _, events = await client.ask("hello?")
    error = next(e for e in events if e["type"] == "error")["error"]
    assert error["code"] == "llm_not_configured" and "CONFAB_LLM_BASE_URL" in error["message"]


async def test_metrics_count_responses(server, llm: ScriptedLLM) -> None:
    llm.script(Text("counted"))
    client = await RealtimeTestClient.open(ws_url(server))
    await client.ask("count this")
    body = (await _get(server, "/metrics")).text
    assert 'confab_responses_total{status="completed"}' in body
    assert "confab_active_sessions" in body


async def test_unknown_paths_are_404(server) -> None:
    assert (await _get(server, "/nope")).status_code == 404
