"""A session's audio settings (formats, turn detection, output modality) read from `session.update`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from openai.types.realtime import RealtimeAudioConfig
from pydantic import BaseModel

from audio.codecs import AudioFormat
from audio.endpointing import Eagerness, EndpointingSettings
from audio.interruption import InterruptionSettings
from audio.turns import TurnSettings
from server.realtime import items
from server.realtime.fields import SPEEDS, VOICE
from server.realtime.protocol import EXTENSION_RATE
from server.realtime.transcription import Transcription
from server.voice.events import ConversationOptions, TurnTimings, VoiceOutput

DEFAULT_FORMAT = AudioFormat("audio/pcm", 24000)
ADAPTIVE_INTERRUPTION = "adaptive_interruption"
"""`turn_detection` extension: speech over an answer goes through the interruption classifier unless this is false."""
_INTERRUPTION_FIELDS = tuple(name for name in InterruptionSettings.model_fields if name != "threshold")


def _interruptions(detection: Any, threshold: float) -> InterruptionSettings | None:
    """The classifier's settings from `turn_detection`'s extension fields (None: turned off); ValueError on bad ones."""
    extra = detection.model_extra or {}
    if not extra.get(ADAPTIVE_INTERRUPTION, True):
        return None
    return InterruptionSettings(threshold=threshold, **{name: extra[name] for name in _INTERRUPTION_FIELDS if name in extra})


class TurnLatency(BaseModel):
    """`confab.turn.latency`: a non-standard event, sent only to clients that opt in with `?latency=1`."""

    type: str = "confab.turn.latency"
    response_id: str
    stages_ms: dict[str, float]


def latency_event(response_id: str, timings: TurnTimings) -> TurnLatency:
    """Stage times of one turn in ms after the caller stopped speaking."""
    return TurnLatency(response_id=response_id, stages_ms=timings.stages_ms())


def _format(model: Any, current: AudioFormat) -> AudioFormat:
    if model is None:
        return current
    rate = getattr(model, EXTENSION_RATE, None) or getattr(model, "rate", None)
    return AudioFormat.parse(model.type or "audio/pcm", rate)


def _wire(fmt: AudioFormat) -> dict[str, Any]:
    return {"type": fmt.type, "rate": fmt.rate} if fmt.type == "audio/pcm" and fmt.rate == 24000 else {"type": fmt.type}


@dataclass(frozen=True)
class VoiceConfig:
    """What a session hears and says; defaults follow OpenAI's (audio out, server VAD, pcm 24 kHz).

    A `transcription` session (`kind`) only listens: it never answers and stores nothing.
    """

    kind: Literal["realtime", "transcription"] = "realtime"
    transcription: Transcription = Transcription()
    speed: float = 1.0
    modality: items.Modality = "audio"
    input_format: AudioFormat = DEFAULT_FORMAT
    output_format: AudioFormat = DEFAULT_FORMAT
    turn_settings: TurnSettings | None = TurnSettings()
    create_response: bool = True
    interrupt_response: bool = True
    endpointing: EndpointingSettings | None = None  # semantic_vad
    interruptions: InterruptionSettings | None = InterruptionSettings()  # adaptive_interruption (on unless false)
    idle_timeout_ms: int | None = None  # server_vad only

    def updated(self, session: Any) -> VoiceConfig:
        """This config with a `session.update`'s changes applied (ValueError on bad formats)."""
        config = self
        if getattr(session, "output_modalities", None):
            config = replace(config, modality="audio" if "audio" in session.output_modalities else "text")
        audio = getattr(session, "audio", None)
        audio_in = getattr(audio, "input", None)
        audio_out = getattr(audio, "output", None)
        if audio_in is not None:
            config = replace(config, input_format=_format(audio_in.format, config.input_format))
            if "turn_detection" in audio_in.model_fields_set:
                config = config._with_turn_detection(audio_in.turn_detection, answers=session.type == "realtime")
        if audio_out is not None:
            config = replace(config, output_format=_format(audio_out.format, config.output_format))
            if audio_out.speed is not None and SPEEDS[0] <= audio_out.speed <= SPEEDS[1]:  # else refused by name
                config = replace(config, speed=audio_out.speed)
        return config

    def _with_turn_detection(self, detection: Any, answers: bool) -> VoiceConfig:
        if detection is None:  # push-to-talk: the client commits and sends response.create itself
            return replace(self, turn_settings=None, create_response=False)
        base = self.turn_settings or TurnSettings()
        endpointing = None
        if detection.type == "semantic_vad":
            endpointing = EndpointingSettings(eagerness=Eagerness(detection.eagerness or "auto"))
            settings = replace(base, silence_duration_ms=endpointing.silence_duration_ms)
        else:
            settings = replace(
                base,
                threshold=detection.threshold if detection.threshold is not None else base.threshold,
                prefix_padding_ms=detection.prefix_padding_ms if detection.prefix_padding_ms is not None else base.prefix_padding_ms,
                silence_duration_ms=detection.silence_duration_ms if detection.silence_duration_ms is not None else base.silence_duration_ms,
            )
        return replace(
            self, turn_settings=settings, endpointing=endpointing,
            interruptions=_interruptions(detection, settings.threshold),
            idle_timeout_ms=detection.idle_timeout_ms if detection.type == "server_vad" and answers else None,  # else refused by name
            create_response=detection.create_response if detection.create_response is not None else True,
            interrupt_response=detection.interrupt_response if detection.interrupt_response is not None else True,
        )

    def options(self) -> ConversationOptions:
        """The conversation engine's options for these settings."""
        hints = self.transcription.hints
        if self.kind == "transcription":
            return ConversationOptions(self.input_format, self.turn_settings, None, auto_respond=False, transcription=hints, remember=False)
        output = VoiceOutput(self.output_format, speed=self.speed) if self.modality == "audio" else None
        return ConversationOptions(self.input_format, self.turn_settings, output, self.create_response,
                                   self.interrupt_response, self.endpointing, self.interruptions,
                                   idle_timeout_ms=self.idle_timeout_ms, transcription=hints)

    def input_config(self) -> dict[str, Any]:
        """The `session.audio.input` object reported in `session.created|updated`."""
        turn: dict[str, Any] | None = None
        if self.turn_settings is not None and self.endpointing is not None:
            turn = {"type": "semantic_vad", "eagerness": self.endpointing.eagerness.value,
                    "create_response": self.create_response, "interrupt_response": self.interrupt_response}
        elif self.turn_settings is not None:
            turn = {
                "type": "server_vad", "threshold": self.turn_settings.threshold,
                "prefix_padding_ms": self.turn_settings.prefix_padding_ms,
                "silence_duration_ms": self.turn_settings.silence_duration_ms,
                "create_response": self.create_response, "interrupt_response": self.interrupt_response,
                "idle_timeout_ms": self.idle_timeout_ms,
            }
        if turn is not None and self.interruptions is not None:
            turn |= {ADAPTIVE_INTERRUPTION: True} | self.interruptions.model_dump(include=set(_INTERRUPTION_FIELDS))
        return {"format": _wire(self.input_format), "turn_detection": turn, "transcription": self.transcription.wire()}

    def audio_config(self) -> RealtimeAudioConfig:
        """The `session.audio` object reported in `session.created|updated` of a realtime session."""
        return RealtimeAudioConfig.model_validate({
            "input": self.input_config(),
            "output": {"format": _wire(self.output_format), "voice": VOICE, "speed": self.speed},
        })
