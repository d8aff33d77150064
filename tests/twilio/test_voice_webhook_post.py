"""The voice webhook over POST, Twilio's default method, through a real socket."""

from __future__ import annotations

import httpx

from server.config import Settings
from server.twilio.signature import compute_signature
from server.twilio.voice_webhook import VOICE_WEBHOOK_PATH
from tests.conftest import running_server
from tests.fakes.llm_server import ScriptedLLM


async def test_a_signed_post_gets_twiml_and_an_unsigned_one_a_403(settings: Settings, llm: ScriptedLLM) -> None:
    public = "wss://voice.example.com"
    fields = {"From": "+15550001111", "To": "+15559990000", "CallSid": "CA0100"}
    signature = compute_signature("twilio-secret", f"https://voice.example.com{VOICE_WEBHOOK_PATH}", fields)
    update = {"twilio_auth_token": "twilio-secret", "public_url": public, "speech": False}
    async with running_server(settings.model_copy(update=update)) as gateway, httpx.AsyncClient() as http:
        url = f"http://127.0.0.1:{gateway.port}{VOICE_WEBHOOK_PATH}"
        signed = await http.post(url, data=fields, headers={"X-Twilio-Signature": signature})
        unsigned = await http.post(url, data=fields)
    assert signed.status_code == 200 and signed.headers["content-type"].startswith("text/xml")
    assert "<Stream url=\"wss://voice.example.com/v1/twilio\">" in signed.text
    assert unsigned.status_code == 403
