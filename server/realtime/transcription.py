"""A session's `audio.input.transcription`: the model, language and prompt each utterance is transcribed with.

Sans-I/O. The model is the server's own Whisper (or its remote STT); an OpenAI transcription
model name is taken as a name for it, so clients that hard-code `whisper-1` or
`gpt-4o-transcribe` work unchanged, and the echo names the model really in force.
`transcription: null` turns the transcription events off; the agent's model still gets the
caller's words (it hears text, not audio), so the server transcribes all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openai.types.realtime import (
    AudioTranscription,
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemInputAudioTranscriptionDeltaEvent,
    ConversationItemInputAudioTranscriptionFailedEvent,
)
from openai.types.realtime.conversation_item_input_audio_transcription_completed_event import (
    UsageTranscriptTextUsageDuration as UsageDuration,
)
from openai.types.realtime.conversation_item_input_audio_transcription_failed_event import Error as FailedError
from pydantic import BaseModel

from audio.stt import DEFAULT_MODEL_NAME, TranscriptionHints
from server.ids import new_id
from server.realtime.fields import Refusal

OPENAI_TRANSCRIPTION_MODELS = frozenset({
    "whisper-1", "gpt-transcribe", "gpt-live-transcribe", "gpt-4o-transcribe", "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15", "gpt-realtime-whisper",
})
"""Names that mean the server's own model (`gpt-4o-transcribe-diarize` is not one: Whisper labels no speakers)."""
_PARAM = "session.audio.input.transcription"
_UNSUPPORTED = ("keywords", "languages", "delay")


@dataclass(frozen=True)
class Transcription:
    """The transcription in force; `enabled` False: no transcription events (the words still reach the model)."""

    model: str = DEFAULT_MODEL_NAME
    hints: TranscriptionHints = TranscriptionHints()
    enabled: bool = True

    def updated(self, audio_input: Any, languages: tuple[str, ...] | None) -> tuple[Transcription, list[Refusal]]:
        """This transcription with an `audio.input`'s `transcription` applied, or unchanged with the refusals.

        `languages` are those the model knows (None: any, a remote decides).
        """
        if audio_input is None or "transcription" not in audio_input.model_fields_set:
            return self, []
        asked: AudioTranscription | None = audio_input.transcription
        if asked is None:
            return Transcription(self.model, self.hints, enabled=False), []
        refusals = [Refusal(f"{_PARAM}.{name}", f"{_PARAM}.{name} is not supported by Whisper")
                    for name in _UNSUPPORTED if getattr(asked, name, None)]
        refusals += [Refusal(f"{_PARAM}.{name}", f"{_PARAM} has no field {name!r}") for name in asked.model_extra or {}]
        if asked.model is not None and asked.model != self.model and asked.model not in OPENAI_TRANSCRIPTION_MODELS:
            refusals.append(Refusal(f"{_PARAM}.model", f"the transcription model is {self.model!r} (OpenAI's transcription "
                                                       f"model names mean it too), not {asked.model!r}", "invalid_value"))
        language = asked.language.lower() if asked.language else None
        if language is not None and languages is not None and language not in languages:
            known = ", ".join(languages) if len(languages) <= 8 else f"the {len(languages)} Whisper languages"
            refusals.append(Refusal(f"{_PARAM}.language", f"{self.model} transcribes {known}, not {asked.language!r}", "invalid_value"))
        if refusals:
            return self, refusals
        return Transcription(self.model, TranscriptionHints(language, asked.prompt or None)), []

    def wire(self) -> dict[str, Any] | None:
        """The `audio.input.transcription` echoed in `session.created|updated` (None: off)."""
        if not self.enabled:
            return None
        hints = {"language": self.hints.language, "prompt": self.hints.prompt}
        return {"model": self.model} | {name: value for name, value in hints.items() if value is not None}


def transcript_events(item_id: str, text: str, audio_s: float, error: str | None) -> list[BaseModel]:
    """The events of one utterance's transcription: `.failed`, or the text as one `.delta` then `.completed`.

    The delta is the whole text: Whisper transcribes an utterance in one pass once it has ended
    (speculatively, during the end-of-turn silence), so there is nothing earlier to stream.
    """
    if error is not None:
        return [ConversationItemInputAudioTranscriptionFailedEvent(
            type="conversation.item.input_audio_transcription.failed", event_id=new_id("event"), item_id=item_id,
            content_index=0, error=FailedError(type="transcription_error", code="speech_unavailable", message=error),
        )]
    deltas: list[BaseModel] = [ConversationItemInputAudioTranscriptionDeltaEvent(
        type="conversation.item.input_audio_transcription.delta", event_id=new_id("event"), item_id=item_id,
        content_index=0, delta=text,
    )] if text else []
    return [*deltas, ConversationItemInputAudioTranscriptionCompletedEvent(
        type="conversation.item.input_audio_transcription.completed", event_id=new_id("event"), item_id=item_id,
        content_index=0, transcript=text, usage=UsageDuration(type="duration", seconds=round(audio_s, 3)),
    )]


def unknown_field(session: Any) -> str | None:
    """The dotted path of the first field a transcription session does not have (openai-python's models keep unknown ones)."""
    audio = getattr(session, "audio", None)
    audio_in = getattr(audio, "input", None)
    levels = (("session", session), ("session.audio", audio), ("session.audio.input", audio_in),
              (_PARAM, getattr(audio_in, "transcription", None)))
    for path, model in levels:
        for name in (getattr(model, "model_extra", None) or {}):
            return f"{path}.{name}"
    return None
