"""What a conversation says (typed, frozen events), how it is set up (options) and how its commands fail."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from agent.events import ClientToolCall, ModelUsage
from audio.codecs import AudioFormat
from audio.echo import EchoSettings
from audio.endpointing import EndpointingSettings
from audio.interruption import InterruptionSettings
from audio.stt import TranscriptionHints
from audio.turns import TurnSettings
from server.voice.speaker import Pacing

ReplyStatus = Literal["completed", "incomplete", "failed", "cancelled"]
CancelReason = Literal["turn_detected", "client_cancelled"]


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeechStarted:
    """The caller started speaking (a reply in flight was interrupted just after this, if barge-in is on)."""

    item_id: str
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    """The caller's utterance ended (or was committed); its transcript follows."""

    item_id: str
    audio_end_ms: int


@dataclass(frozen=True)
class Transcribed:
    """An utterance's text (empty when nothing intelligible was said; then it is not stored), the seconds of
    audio transcribed, and why the words were lost when the speech-to-text failed."""

    item_id: str
    text: str
    audio_s: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class ReplyStarted:
    """A reply began; `spoken` says whether ReplyAudio or ReplyText follows."""

    reply_id: str
    spoken: bool


@dataclass(frozen=True)
class ReplyText:
    """Text of a reply that is not spoken."""

    reply_id: str
    text: str


@dataclass(frozen=True)
class ReplyAudio:
    """One frame of a spoken reply, due now; `words` are the text its chunk starts to say."""

    reply_id: str
    audio: bytes
    words: str | None


@dataclass(frozen=True)
class ReplyMark:
    """Send this mark after the audio so far; the output echoes it once that audio has played."""

    reply_id: str
    mark: str


@dataclass(frozen=True)
class ReplyToolCall:
    """The reply calls a tool the client runs."""

    reply_id: str
    call: ClientToolCall


@dataclass(frozen=True)
class ReplyInterrupted:
    """The reply's audio stopped now: drop whatever of it the output still buffers."""

    reply_id: str


@dataclass(frozen=True)
class ReplyFailure:
    """Why a reply failed: an error code and its kind (Realtime's `status_details.error`)."""

    code: str
    kind: str


@dataclass(frozen=True)
class TurnTimings:
    """When each stage of a voice turn happened (monotonic seconds); None for a stage it never reached."""

    speech_end: float
    vad_end: float
    stt_done: float
    llm_first_token: float | None
    tts_first_audio: float | None
    first_byte_sent: float | None

    def stages_ms(self) -> dict[str, float]:
        """Each reached stage in milliseconds after the caller stopped speaking, in time order."""
        stages = {
            "vad_end": self.vad_end, "stt_done": self.stt_done, "llm_first_token": self.llm_first_token,
            "tts_first_audio": self.tts_first_audio, "first_byte_sent": self.first_byte_sent,
        }
        reached = sorted((at, name) for name, at in stages.items() if at is not None)
        return {name: round((at - self.speech_end) * 1000, 1) for at, name in reached}


@dataclass(frozen=True)
class ReplyDone:
    """A reply ended. `heard` is what of it history keeps when it was cut (None: all of it, or text);
    `timings` is set for a reply to something the caller said; `usage` totals its model calls."""

    reply_id: str
    status: ReplyStatus
    reason: CancelReason | None
    heard: str | None
    failure: ReplyFailure | None
    timings: TurnTimings | None
    usage: ModelUsage = ModelUsage()


@dataclass(frozen=True)
class IdleTimeout:
    """The caller said nothing for the idle timeout after a reply finished: an empty user turn was
    committed as `item_id` (the silence ran from `audio_start_ms` to `audio_end_ms`); a reply follows."""

    item_id: str
    audio_start_ms: int
    audio_end_ms: int


@dataclass(frozen=True)
class ConversationError:
    """Something the client should be told about (the model failed, a reply crashed)."""

    message: str
    code: str


ConversationEvent = (
    SpeechStarted | SpeechStopped | Transcribed | ReplyStarted | ReplyText | ReplyAudio | ReplyMark
    | ReplyToolCall | ReplyInterrupted | ReplyDone | IdleTimeout | ConversationError
)
Emit = Callable[[ConversationEvent], Awaitable[None]]


# -- errors of commands ------------------------------------------------------------------------


class SpeechUnavailable(RuntimeError):
    """Audio was asked of a server that runs text-only."""


class ReplyInProgress(RuntimeError):
    """A reply is already being generated."""


class EmptyAudioBuffer(ValueError):
    """A commit with no audio buffered."""


# -- options -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoiceOutput:
    """How replies are spoken: the format, the pacing, whether the output echoes marks (telephony), the speed."""

    format: AudioFormat
    pacing: Pacing = Pacing()
    marks: bool = False
    speed: float = 1.0  # > 1 speaks faster


@dataclass(frozen=True)
class ConversationOptions:
    """What a conversation hears and says; `output` None means replies are text."""

    input_format: AudioFormat
    turn_settings: TurnSettings | None  # None: push-to-talk
    output: VoiceOutput | None
    auto_respond: bool = True  # answer each utterance when it is transcribed
    barge_in: bool = True  # the caller speaking interrupts the reply
    endpointing: EndpointingSettings | None = None  # semantic_vad: hold unfinished utterances (None: each ends a turn)
    interruptions: InterruptionSettings | None = None  # classify speech over a reply (None: any speech interrupts)
    echo: EchoSettings | None = None  # cancel the replies' audio from the input (None: the input is heard as is)
    idle_timeout_ms: int | None = None  # server VAD: a finished reply followed by this much silence prompts another
    transcription: TranscriptionHints = TranscriptionHints()  # the language and prompt every utterance is transcribed with
    remember: bool = True  # store what the caller says (False: a transcription-only session keeps nothing)
