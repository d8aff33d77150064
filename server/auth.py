"""API keys and owners: who is calling, from the HTTP headers or the browser subprotocol."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from websockets.datastructures import Headers

LOCAL_OWNER = "local"
SUBPROTOCOL_KEY_PREFIX = "openai-insecure-api-key."


@dataclass(frozen=True)
class KeyRing:
    """The configured API keys, each mapped to its owner.

    A key is written `KEY` (owner `default`) or `OWNER:KEY`. With no keys configured
    every caller is the `local` owner (the server then listens on loopback only).
    """

    owners_by_key: dict[str, str]

    @classmethod
    def parse(cls, entries: list[str]) -> KeyRing:
        """Build the ring from `CONFAB_API_KEYS` entries; ValueError for an empty owner or key."""
        owners: dict[str, str] = {}
        for entry in entries:
            owner, sep, key = entry.partition(":")
            owner, key = (owner, key) if sep else ("default", owner)
            if not _is_token(owner) or not _is_token(key):
                raise ValueError("each API key is KEY or OWNER:KEY, both non-empty printable ASCII without spaces")
            owners[key] = owner
        return cls(owners)

    @property
    def enabled(self) -> bool:
        """Whether callers must present a key."""
        return bool(self.owners_by_key)

    def owner_of(self, key: str | None) -> str | None:
        """The owner of `key`, or None when it is not a valid key (constant-time per key)."""
        if not self.enabled:
            return LOCAL_OWNER
        if not key or not _is_token(key):
            return None
        found = None
        for candidate, owner in self.owners_by_key.items():
            if hmac.compare_digest(candidate.encode(), key.encode()):
                found = owner
        return found


def _is_token(text: str) -> bool:
    return text.isascii() and text.isprintable() and bool(text) and not any(c.isspace() for c in text)


def presented_key(headers: Headers) -> str | None:
    """The key a client presented: `Authorization: Bearer KEY` or subprotocol `openai-insecure-api-key.KEY`."""
    authorization = headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    for header in headers.get_all("Sec-WebSocket-Protocol"):
        for protocol in header.split(","):
            protocol = protocol.strip()
            if protocol.startswith(SUBPROTOCOL_KEY_PREFIX):
                return protocol[len(SUBPROTOCOL_KEY_PREFIX):]
    return None
