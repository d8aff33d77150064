"""The `usage` of a Realtime `response.done`, from what the model's streams reported.

The model gives text tokens only (Confab's audio is its own STT and TTS, not model tokens), so
audio token counts are zero. When the model reported nothing, the counts are zeros and the
extension field `confab_usage_reported` is false: clients can tell "none used" from "not known".
"""

from __future__ import annotations

from openai.types.realtime import RealtimeResponseUsage

from agent.events import ModelUsage

USAGE_REPORTED = "confab_usage_reported"


def response_usage(usage: ModelUsage) -> RealtimeResponseUsage:
    """The `response.usage` object for one response's total model usage (`ModelUsage.total` of its calls)."""
    return RealtimeResponseUsage.model_validate({
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "input_token_details": {"text_tokens": usage.input_tokens, "audio_tokens": 0, "cached_tokens": usage.cached_tokens},
        "output_token_details": {"text_tokens": usage.output_tokens, "audio_tokens": 0},
        USAGE_REPORTED: usage.reported,
    })
