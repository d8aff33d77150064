"""Identifiers of events, items, responses and utterances: a prefix and 20 random hex digits."""

from __future__ import annotations

import uuid


def new_id(prefix: str) -> str:
    """A fresh id such as `item_3f2a...` (OpenAI's shape)."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"
