"""Tools that are HTTP endpoints: the call is a (signed) POST, the JSON response is the result.

The request body is `{"tool", "call_id", "arguments", "agent_id", "response_id"}`. With a
secret, `X-Confab-Timestamp` carries the Unix time and `X-Confab-Signature` is
`sha256=` + hex HMAC-SHA256(secret, timestamp + "." + body), so the receiver can check
both origin and freshness. A non-2xx status is an error result for the model.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from agent.tools.base import Tool, current_call
from memory.tool_records import WebhookToolRecord

SIGNATURE_HEADER = "X-Confab-Signature"
TIMESTAMP_HEADER = "X-Confab-Timestamp"
_ERROR_BODY_CHARS = 500


class WebhookError(RuntimeError):
    """The webhook answered with a non-2xx status."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Confab-Signature` value for a request body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_tool(record: WebhookToolRecord, client: httpx.AsyncClient, timeout_s: float) -> Tool:
    """The tool that POSTs to `record.url` through the shared `client`, within `record.timeout_s` or `timeout_s`."""
    timeout = record.timeout_s or timeout_s

    async def run(arguments: dict[str, Any]) -> Any:
        context = current_call.get()
        body = json.dumps({
            "tool": record.name,
            "call_id": context.call_id if context else None,
            "arguments": arguments,
            "agent_id": context.agent_id if context else None,
            "response_id": context.response_id if context else None,
        }).encode()
        headers = {**record.headers, "Content-Type": "application/json"}
        if record.secret:
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = signature(record.secret, timestamp, body)
        response = await client.post(str(record.url), content=body, headers=headers, timeout=timeout)
        if not response.is_success:
            raise WebhookError(f"HTTP {response.status_code}: {response.text[:_ERROR_BODY_CHARS]}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    return Tool(record.name, record.description, record.parameters, run, timeout_s=timeout)
