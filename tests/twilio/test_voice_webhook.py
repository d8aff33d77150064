"""The voice webhook: Twilio asks what to do with a call, Confab answers TwiML whose stream is that number's conversation."""

from __future__ import annotations

import time
from xml.etree import ElementTree

import httpx
import pytest
from redis.asyncio import Redis

from memory.agents import AgentStore
from memory.conversations import CallerRecord, ConversationStore
from server.app import Gateway
from server.config import Settings
from server.twilio.caller_token import CallerTokens, caller_tokens
from server.twilio.signature import compute_signature
from server.twilio.voice_webhook import VOICE_WEBHOOK_PATH, VoiceWebhookRequest, answer_voice_webhook
from tests.conftest import running_server
from tests.fakes.llm_server import ScriptedLLM, Text
from tests.twilio.peer import TwilioPeer, eventually

NUMBER = "+15550001111"


def _stream_of(twiml: str) -> tuple[str, dict[str, str]]:
    """The `<Stream>` URL and its `<Parameter>`s."""
    stream = ElementTree.fromstring(twiml).find("./Connect/Stream")
    assert stream is not None
    return stream.attrib["url"], {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}


async def _webhook(gateway: Gateway, fields: dict[str, str], headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(f"http://127.0.0.1:{gateway.port}{VOICE_WEBHOOK_PATH}", params=fields, headers=headers)


async def _callers(redis_url: str) -> list[CallerRecord]:
    redis = Redis.from_url(redis_url)
    try:
        agent = await AgentStore(redis).get("local", "default")
        assert agent is not None
        return await ConversationStore(redis).list(agent)
    finally:
        await redis.aclose()


async def _call(gateway: Gateway, parameters: dict[str, str], call_sid: str) -> None:
    """A call whose stream starts with `parameters`; the caller presses # and hears the answer."""
    peer = await TwilioPeer.call(f"ws://127.0.0.1:{gateway.port}/v1/twilio", parameters, call_sid=call_sid)
    await peer.press("#")
    await peer.until(lambda: peer.count("media") > 0, timeout=30)
    await peer.stop()
    await peer.closed()


async def test_a_call_through_the_voice_webhook_is_remembered_as_that_number(server: Gateway, llm: ScriptedLLM, redis_url: str) -> None:
    llm.default = Text("Hello again.")
    for call_sid in ("CA0001", "CA0002"):
        answer = await _webhook(server, {"From": NUMBER, "To": "+15559990000", "CallSid": call_sid})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/xml")
        url, parameters = _stream_of(answer.text)
        assert url == f"wss://127.0.0.1:{server.port}/v1/twilio" and parameters["agent"] == "default"
        await _call(server, parameters, call_sid)
    [caller] = await _callers(redis_url)
    assert caller.caller_id == NUMBER
    assert [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "user"] == ["[The caller pressed # on the keypad]"] * 2


async def test_a_withheld_number_calls_anonymously(server: Gateway, llm: ScriptedLLM) -> None:
    answer = await _webhook(server, {"From": "anonymous", "To": "+15559990000", "CallSid": "CA0003"})
    _, parameters = _stream_of(answer.text)
    assert "caller_token" not in parameters


def _tokens_not_vouching_for_this_call(agent_id: str) -> dict[str, str]:
    genuine = CallerTokens(b"the-deployment-secret")
    forger = CallerTokens(b"a-guessed-secret")
    _, mac = genuine.sign("local", agent_id, NUMBER, "CA0004").split(".")
    other_payload, _ = genuine.sign("local", agent_id, "+15550002222", "CA0004").split(".")
    return {
        "forged": forger.sign("local", agent_id, NUMBER, "CA0004"),
        "expired": genuine.sign("local", agent_id, NUMBER, "CA0004", now=time.time() - 3600),
        "another call": genuine.sign("local", agent_id, NUMBER, "CA9999"),
        "edited": f"{other_payload}.{mac}",
        "not a token": "+15550001111",
    }


@pytest.mark.parametrize("kind", ["forged", "expired", "another call", "edited", "not a token"])
async def test_a_stream_whose_caller_token_is_not_genuine_current_and_for_this_call_is_anonymous(
    settings: Settings, llm: ScriptedLLM, redis_url: str, kind: str
) -> None:
    llm.default = Text("Hello.")
    async with running_server(settings.model_copy(update={"caller_token_secret": "the-deployment-secret"})) as gateway:
        agent = await gateway.runtime.agents.get_or_create_default("local")
        token = _tokens_not_vouching_for_this_call(agent.id)[kind]
        await _call(gateway, {"caller_token": token, "caller": NUMBER}, "CA0004")
    [caller] = await _callers(redis_url)
    assert caller.caller_id is None


async def test_the_webhook_refuses_a_request_twilio_did_not_sign(settings: Settings, llm: ScriptedLLM) -> None:
    public = "wss://voice.example.com"
    fields = {"From": NUMBER, "To": "+15559990000", "CallSid": "CA0005"}
    async with running_server(settings.model_copy(update={"twilio_auth_token": "twilio-secret", "public_url": public})) as gateway:
        query = httpx.QueryParams(fields)
        signed_url = f"https://voice.example.com{VOICE_WEBHOOK_PATH}?{query}"
        unsigned = await _webhook(gateway, fields)
        forged = await _webhook(gateway, fields, {"X-Twilio-Signature": compute_signature("guess", signed_url)})
        signed = await _webhook(gateway, fields, {"X-Twilio-Signature": compute_signature("twilio-secret", signed_url)})
        post = VoiceWebhookRequest.parse(
            "POST", VOICE_WEBHOOK_PATH, {"X-Twilio-Signature": compute_signature("twilio-secret", f"https://voice.example.com{VOICE_WEBHOOK_PATH}", fields)},
            str(query).encode(), public,
        )
        tampered = VoiceWebhookRequest(post.base, post.path, post.query, {**post.form, "From": "+15550002222"}, post.signature)
        posted, tampered_answer = await answer_voice_webhook(gateway.runtime, post), await answer_voice_webhook(gateway.runtime, tampered)
        tokens = await caller_tokens(gateway.runtime.redis, None)
    assert unsigned.status_code == forged.status_code == 403 and unsigned.json()["error"]["code"] == "invalid_signature"
    assert signed.status_code == 200 and _stream_of(signed.text)[0] == f"{public}/v1/twilio"
    assert posted.status_code == 200 and tampered_answer.status_code == 403
    claim = tokens.verify(_stream_of(posted.body.decode())[1]["caller_token"])
    assert claim is not None and (claim.caller_id, claim.call_sid) == (NUMBER, "CA0005")
