"""The plain HTTP GET routes served on the WebSocket port: health, readiness, metrics."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response


def json_response(status: HTTPStatus, body: dict[str, Any]) -> Response:
    """An HTTP response with a JSON body."""
    payload = json.dumps(body).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return Response(status.value, status.phrase, headers, payload)


def text_response(status: HTTPStatus, body: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    """An HTTP response with a text body."""
    payload = body.encode()
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(payload)))])
    return Response(status.value, status.phrase, headers, payload)
