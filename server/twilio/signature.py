"""`X-Twilio-Signature`: proof that a request (here, the WebSocket upgrade) comes from Twilio.

Twilio signs a request with HMAC-SHA1, keyed with the account's auth token, over the
full URL it requested followed by the POST parameters sorted by name (each name then
its value); the digest is base64-encoded. A Media Stream's upgrade is a GET, so only
the `wss://` URL of the `<Stream>` is signed. As in Twilio's own validators, the URL
is also accepted with its port removed or with the scheme's default port added.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from websockets.http11 import Request

SIGNATURE_HEADER = "X-Twilio-Signature"
_DEFAULT_PORTS = {"https": 443, "wss": 443, "http": 80, "ws": 80}


def compute_signature(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    """The signature Twilio sends for a request to `url` with these POST parameters."""
    fields = params or {}
    data = url + "".join(name + fields[name] for name in sorted(fields))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> set[str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    variants = {url, urlunsplit(parts._replace(netloc=prefix + host))}
    default = _DEFAULT_PORTS.get(parts.scheme)
    if parts.port is None and default is not None:
        variants.add(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    return variants


def valid_signature(auth_token: str, url: str, signature: str | None, params: Mapping[str, str] | None = None) -> bool:
    """Whether `signature` is Twilio's for this URL (constant-time comparison)."""
    if not signature:
        return False
    found = False
    for variant in _url_variants(url):
        found |= hmac.compare_digest(compute_signature(auth_token, variant, params).encode(), signature.encode())
    return found


def signed_url(request: Request, public_url: str | None) -> str:
    """The URL Twilio connected to: the public base URL (default `wss://` + the Host header) plus the request path."""
    base = public_url.rstrip("/") if public_url else f"wss://{request.headers.get('Host', '')}"
    return base + request.path


def request_is_from_twilio(auth_token: str, request: Request, public_url: str | None) -> bool:
    """Whether the WebSocket upgrade carries a valid `X-Twilio-Signature`."""
    return valid_signature(auth_token, signed_url(request, public_url), request.headers.get(SIGNATURE_HEADER))
