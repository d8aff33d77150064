"""The sans-I/O Twilio adapter, the signature check and the TwiML, without a socket."""

import base64
import json
from xml.etree import ElementTree

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from server.cli import main
from server.twilio.protocol import (
    Connected,
    Dtmf,
    Mark,
    Media,
    MediaStream,
    ProtocolViolation,
    Start,
    Stop,
    Unknown,
    parse_frame,
)
from server.twilio.signature import compute_signature, request_is_from_twilio, signed_url, valid_signature
from server.twilio.twiml import stream_twiml

SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
START = {
    "event": "start", "sequenceNumber": "1", "streamSid": SID,
    "start": {
        "accountSid": "AC123", "streamSid": SID, "callSid": "CA123", "tracks": ["inbound"],
        "customParameters": {"agent": "support", "token": "k1"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    },
}


def _frame(message: dict) -> str:
    return json.dumps(message)


def _started() -> MediaStream:
    stream = MediaStream()
    stream.receive(_frame({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    stream.receive(_frame(START))
    return stream


def test_twilio_messages_parse_into_typed_events() -> None:
    stream = MediaStream()
    assert isinstance(stream.receive(_frame({"event": "connected", "protocol": "Call", "version": "1.0.0"})), Connected)
    start = stream.receive(_frame(START))
    assert isinstance(start, Start)
    assert (start.start.stream_sid, start.start.call_sid, start.start.custom_parameters["agent"]) == (SID, "CA123", "support")
    assert start.start.media_format.sample_rate == 8000
    media = stream.receive(_frame({"event": "media", "sequenceNumber": "3", "streamSid": SID, "media": {
        "track": "inbound", "chunk": "1", "timestamp": "5", "payload": base64.b64encode(b"\xff" * 160).decode()}}))
    assert isinstance(media, Media) and media.media.payload == b"\xff" * 160 and media.media.chunk == "1"
    dtmf = stream.receive(_frame({"event": "dtmf", "streamSid": SID, "sequenceNumber": "5", "dtmf": {"track": "inbound_track", "digit": "1"}}))
    assert isinstance(dtmf, Dtmf) and dtmf.dtmf.digit == "1"
    mark = stream.receive(_frame({"event": "mark", "sequenceNumber": "4", "streamSid": SID, "mark": {"name": "resp_1.1"}}))
    assert isinstance(mark, Mark) and mark.mark.name == "resp_1.1"
    stop = stream.receive(_frame({"event": "stop", "sequenceNumber": "5", "streamSid": SID, "stop": {"accountSid": "AC123", "callSid": "CA123"}}))
    assert isinstance(stop, Stop) and stream.stopped


def test_outbound_messages_have_twilios_shapes() -> None:
    stream = _started()
    assert json.loads(stream.media(b"\x00\x01")) == {"event": "media", "streamSid": SID, "media": {"payload": "AAE="}}
    assert json.loads(stream.mark("resp_1.1")) == {"event": "mark", "streamSid": SID, "mark": {"name": "resp_1.1"}}
    assert json.loads(stream.clear()) == {"event": "clear", "streamSid": SID}


def test_unknown_events_are_ignored() -> None:
    assert parse_frame(_frame({"event": "someday", "x": 1})) == Unknown(event="someday")


@pytest.mark.parametrize("frame, says", [
    ("{not json", "not JSON"),
    ("[1, 2]", "JSON object with an `event`"),
    (b"\x00\x01", "binary frame"),
    (_frame({"event": "media", "streamSid": SID, "media": {"payload": "not base64!!"}}), "payload is not valid base64"),
    (_frame({"event": "start", "start": {"streamSid": SID}}), "start.mediaFormat: Field required"),
    (_frame({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": "12"}}), "dtmf.digit"),
    ('{"event": {}}', "JSON object with an `event`"),
    ('{"event": "media", "x": ' + "[" * 2000 + "]" * 2000 + "}", "nested deeper than 8 levels"),
    ('{"event": "media", "sequenceNumber": ' + "7" * 5000 + "}", "too many digits"),
    ('{"event": "start", "start": {"streamSid": "MZ\\ud800"}}', "not valid Unicode"),
    ('{"event": "start", "start": {"customParameters": {"token": "\\udc80"}}}', "not valid Unicode"),
])
def test_malformed_frames_are_protocol_violations(frame: str | bytes, says: str) -> None:
    with pytest.raises(ProtocolViolation) as caught:
        parse_frame(frame)
    assert says in str(caught.value)


@pytest.mark.parametrize("message, says", [
    ({"event": "media", "streamSid": SID, "media": {"payload": "AAA="}}, "media before start"),
    ({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": "1"}}, "dtmf before start"),
])
def test_events_before_start_are_refused(message: dict, says: str) -> None:
    with pytest.raises(ProtocolViolation, match=says):
        MediaStream().receive(_frame(message))


def test_a_second_start_another_stream_and_events_after_stop_are_refused() -> None:
    stream = _started()
    with pytest.raises(ProtocolViolation, match="second start"):
        stream.receive(_frame(START))
    with pytest.raises(ProtocolViolation, match="for stream MZother"):
        stream.receive(_frame({"event": "media", "streamSid": "MZother", "media": {"payload": "AAA="}}))
    stream.receive(_frame({"event": "stop", "streamSid": SID}))
    with pytest.raises(ProtocolViolation, match="media after stop"):
        stream.receive(_frame({"event": "media", "streamSid": SID, "media": {"payload": "AAA="}}))


def test_signatures_match_twilios_reference_values() -> None:
    # The vectors of Twilio's own request validator tests.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309", "To": "+18005551212", "Caller": "+14158675309"}
    assert compute_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert valid_signature("12345", url.replace(".com", ".com:1234"), "RSOYDt4T1cUTdK1PDd93/VVr8B8=", params)
    assert valid_signature("12345", url, "kvajT1Ptam85bY51eRf/AJRuM3w=", params)  # signed with :443
    assert not valid_signature("12345", url, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", {**params, "Digits": "9"})
    assert not valid_signature("12345", url, None, params)


def test_the_signed_url_of_an_upgrade_is_the_public_wss_url() -> None:
    headers = Headers([("Host", "voice.example.com"), ("X-Twilio-Signature", compute_signature("tok", "wss://voice.example.com/v1/twilio"))])
    request = Request("/v1/twilio", headers)
    assert signed_url(request, None) == "wss://voice.example.com/v1/twilio"
    assert signed_url(request, "wss://public.example.org/") == "wss://public.example.org/v1/twilio"
    assert request_is_from_twilio("tok", request, None)
    assert not request_is_from_twilio("tok", request, "wss://public.example.org")
    assert not request_is_from_twilio("other", request, None)


def test_twiml_connects_a_stream_with_agent_and_token_parameters() -> None:
    root = ElementTree.fromstring(stream_twiml("wss://voice.example.com/v1/twilio", 'sales & "support"', "acme:k1"))
    stream = root.find("./Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://voice.example.com/v1/twilio"
    assert {p.get("name"): p.get("value") for p in stream.findall("Parameter")} == {"agent": 'sales & "support"', "token": "acme:k1"}


def test_confab_twiml_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["twiml", "--url", "wss://h.example/v1/twilio", "--agent", "support", "--token", "k1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Connect><Stream url="wss://h.example/v1/twilio">')
    assert '<Parameter name="agent" value="support" /><Parameter name="token" value="k1" />' in out
