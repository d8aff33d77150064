"""Hostile frames over real sockets: each is answered (an `error` event, or a 1008 close with a reason),
the Realtime session lives on, nothing is logged as a traceback, and no session is left counted."""

import asyncio
import json
import logging
import random
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.config import Settings
from server.realtime.protocol import ProtocolError, parse_client_frame
from server.twilio.protocol import MediaStream, ProtocolViolation
from tests.conftest import running_server, ws_url
from tests.fakes.llm_server import ScriptedLLM, Text
from tests.metrics_probe import active_sessions
from tests.realtime_client import RealtimeTestClient
from tests.server.test_fuzz_adapters import REALTIME_TEMPLATES, TWILIO_TEMPLATES, _paths, _replaced

NASTY_VALUES: list[Any] = [{}, [], None, True, -1, 1e308, 2**60, "\ud800", "", "x" * 70, [[[[[]]]]], {"type": {}}]


def _deep(levels: int, kind: str = '"type": "response.create"') -> str:
    return "{" + kind + ', "x": ' + "[" * levels + "]" * levels + "}"


def _nested_schema(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


REALTIME_HOSTILE: list[str | bytes] = [
    '{"type": {}}', '{"type": []}', '{"type": null}', '{"type": 1e999}', "", "   ", b"\x00\xff", "{", "{1}",
    _deep(1000), _deep(40), '{"type": "response.create", "n": ' + "9" * 5000 + "}", '{"type": "response.create", "n": NaN}',
    '{"type": "session.update", "session": {"type": "realtime", "instructions": "\\ud800"}}',
    '{"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a\\udfffb"}]}}',
    json.dumps({"type": "session.update", "session": {"type": "realtime", "tools": [{"type": "function", "name": "deep", "parameters": _nested_schema(300)}]}}),
    json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": ["x"]}}),
    json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"output": {"voice": "x"}}}}),
    json.dumps({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "prefix_padding_ms": 10**9}}}}}),
    json.dumps({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "c", "output": "x" * 100_001}}),
    json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}),  # the server runs without speech
]


def _mutations(templates: list[dict[str, Any]], count: int, keep: Any) -> list[str]:
    """`count` frames made from the templates with one value replaced by a nasty one, those `keep` accepts."""
    rng = random.Random(17)
    frames: list[str] = []
    while len(frames) < count:
        template = rng.choice(templates)
        frame = json.dumps(_replaced(template, rng.choice(_paths(template)), rng.choice(NASTY_VALUES)))
        if keep(frame):
            frames.append(frame)
    return frames



def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_hostile_realtime_frames_each_get_an_error_event_and_the_session_lives_on(
    settings: Settings, llm: ScriptedLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    refused = lambda frame: isinstance(parse_client_frame(frame), ProtocolError)  # noqa: E731
    frames = REALTIME_HOSTILE + _mutations(REALTIME_TEMPLATES, 280, refused)
    llm.script(Text("Still here."))
    async with running_server(settings.model_copy(update={"speech": False})) as gateway:
        client = await RealtimeTestClient.open(ws_url(gateway))
        answers = []
        for frame in frames:
            await client.connection.send(frame)
            answers.append((await client.next_event(timeout=10))["type"])
        reply, _ = await client.ask("Are you still there?")
        await client.close()
        await asyncio.sleep(0.3)
        left_open = await active_sessions(gateway.port)
    assert answers == ["error"] * len(frames)
    assert reply == "Still here."
    assert left_open == 0
    assert _tracebacks(caplog) == []


async def _close_after(port: int, frames: list[str | bytes]) -> tuple[int | None, str | None]:
    async with connect(f"ws://127.0.0.1:{port}/v1/twilio") as connection:
        try:
            for frame in frames:
                await connection.send(frame)
            async with asyncio.timeout(10):
                async for _ in connection:
                    pass
        except ConnectionClosed:
            pass
    return connection.close_code, connection.close_reason


TWILIO_HOSTILE: list[str | bytes] = [
    '{"event": {}}', '{"event": []}', "{", b"\x00", _deep(1000, '"event": "media"'),
    '{"event": "media", "sequenceNumber": ' + "7" * 5000 + "}",
    '{"event": "start", "streamSid": "MZ\\ud800", "start": {"streamSid": "MZ\\ud800"}}',
    json.dumps({**TWILIO_TEMPLATES[1], "start": {**TWILIO_TEMPLATES[1]["start"], "customParameters": {"token": "\ud800"}}}),
    json.dumps({**TWILIO_TEMPLATES[1], "start": {**TWILIO_TEMPLATES[1]["start"], "customParameters": {"token": "wrong"}}}),
    json.dumps(TWILIO_TEMPLATES[2]),  # media before start
]


def _refused_before_start(frame: str) -> bool:
    try:
        MediaStream().receive(frame)
    except ProtocolViolation:
        return True
    return False


async def test_hostile_twilio_frames_each_close_the_stream_with_1008_and_a_reason(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    frames = TWILIO_HOSTILE + _mutations(TWILIO_TEMPLATES, 190, _refused_before_start)
    async with running_server(settings.model_copy(update={"speech": False, "api_keys": ["acme:k"]})) as gateway:
        closes = [await _close_after(gateway.port, [json.dumps(TWILIO_TEMPLATES[0]), frame]) for frame in frames]
        left_open = await active_sessions(gateway.port)
    unanswered = [(frame, close) for frame, close in zip(frames, closes) if close[0] != 1008 or not close[1]]
    assert unanswered == []
    assert left_open == 0
    assert _tracebacks(caplog) == []
