"""Stand-ins for what a conversation talks to, so the engine runs with no socket, Redis or model.

Only the agent and the models are scripted; the listener, the turn detector, the
speaker, the pacing and the engine are the real ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from agent.events import AgentEvent, TextDelta, TurnDone
from audio.codecs import AudioFormat
from audio.endpointing import EndpointingSettings
from audio.interruption import InterruptionSettings
from audio.scheduler import Job
from audio.stt import TranscriptionHints
from audio.turns import TurnSettings
from memory.records import MessageRecord
from server.voice.conversation import ConversationEngine
from server.voice.events import ConversationEvent, ConversationOptions, VoiceOutput
from server.voice.models import SpeechModels
from server.voice.speaker import Pacing

PCM16K = AudioFormat("audio/pcm", 16000)
WORD_MS = 200
FAST_TURNS = TurnSettings(prefix_padding_ms=0, silence_duration_ms=96, min_speech_ms=32)


def speech(ms: int) -> bytes:
    """Loud tone: the scripted VAD hears speech."""
    return PCM16K.encode((np.sin(np.arange(ms * 16) * 0.3) * 9000).astype(np.int16))


def silence(ms: int) -> bytes:
    """Digital silence."""
    return bytes(ms * 32)


async def at_real_time(talk: ConversationEngine, audio: bytes) -> None:
    """Hear `audio` as a microphone sends it: 32 ms at a time, on time."""
    step = 32 * 32
    for offset in range(0, len(audio), step):
        await talk.append_audio(audio[offset:offset + step])
        await asyncio.sleep(0.032)


class LoudnessVad:
    """Scores a window as speech when it is loud."""

    def score(self, windows: np.ndarray) -> np.ndarray:
        """1.0 for loud windows, 0.0 for quiet ones."""
        rows = np.asarray(windows).reshape(-1, 512).astype(np.float32)
        return (np.abs(rows).mean(axis=1) > 1000).astype(np.float32)


@dataclass
class ScriptedTranscriber:
    """Hears the scripted texts, one per utterance, in order."""

    texts: list[str]

    def submit(self, audio: np.ndarray, speculative: bool = False, hints: TranscriptionHints = TranscriptionHints()) -> Job[str]:
        """The next scripted text, as a job (a speculative one dropped before it ran takes no text)."""
        return Job(asyncio.ensure_future(self.transcribe_async(audio)))

    async def transcribe_async(self, audio: np.ndarray) -> str:
        """The next scripted text."""
        return self.texts.pop(0) if self.texts else ""


class ToneSynthesizer:
    """200 ms of tone per word, at 16 kHz."""

    sample_rate = 16000

    async def synthesize_async(self, text: str, urgent: bool = False, speed: float = 1.0) -> np.ndarray:
        """A tone as long as the words."""
        samples = len(text.split()) * WORD_MS * 16
        return (np.sin(np.arange(samples) * 0.1) * 8000).astype(np.int16)


Step = str | float | AgentEvent | Exception
"""Text to say, seconds to wait, an agent event, or an exception to raise."""


@dataclass
class ScriptedAgent:
    """Answers each turn with its next script and keeps history as the real agent does.

    A cancelled reply keeps what was said so far, marked interrupted; a truncation cuts
    the reply's text to what was heard.
    """

    scripts: list[list[Step]]
    history: list[MessageRecord] = field(default_factory=list)

    async def add_user_message(self, text: str, hidden: bool = False) -> MessageRecord:
        """Store what the caller said."""
        message = MessageRecord(conversation_id="a", role="user", content=text, hidden=hidden)
        self.history.append(message)
        return message

    async def truncate_response(self, response_id: str, heard: str) -> None:
        """Cut the reply's text to what was heard."""
        for message in self.history:
            if message.response_id == response_id:
                message.content, message.interrupted = heard, True

    def said(self) -> list[tuple[str, str | None, bool]]:
        """History as (role, text, interrupted)."""
        return [(m.role, m.content, m.interrupted) for m in self.history]

    async def step_stream(self, response_id: str | None = None) -> AsyncGenerator[AgentEvent, None]:
        """Play the next script."""
        text = ""
        try:
            for step in self.scripts.pop(0):
                if isinstance(step, float):
                    await asyncio.sleep(step)
                elif isinstance(step, Exception):
                    raise step
                elif isinstance(step, str):
                    text += step
                    yield TextDelta(step)
                else:
                    yield step
        except (asyncio.CancelledError, GeneratorExit):
            self.history.append(MessageRecord(conversation_id="a", role="assistant", content=text, interrupted=True, response_id=response_id))
            raise
        self.history.append(MessageRecord(conversation_id="a", role="assistant", content=text, response_id=response_id))
        yield TurnDone("completed")


@dataclass
class Recorder:
    """Collects a conversation's events; `until()` reads them in order, waiting for the next of a kind."""

    events: list[ConversationEvent] = field(default_factory=list)
    _read: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, event: ConversationEvent) -> None:
        self.events.append(event)
        self._arrived.set()

    async def until(self, kind: type, timeout: float = 1.0) -> ConversationEvent:
        """The next event of `kind` after the last one `until()` returned, waiting for it."""
        async with asyncio.timeout(timeout):
            while True:
                for index in range(self._read, len(self.events)):
                    if isinstance(self.events[index], kind):
                        self._read = index + 1
                        return self.events[index]
                self._arrived.clear()
                await self._arrived.wait()

    def kinds(self) -> list[str]:
        """The events' class names, in order."""
        return [type(e).__name__ for e in self.events]


def conversation(agent: ScriptedAgent, heard: list[str] | None = None, *, push_to_talk: bool = False,
                 marks: bool = False, endpointing: EndpointingSettings | None = None,
                 interruptions: InterruptionSettings | None = None) -> tuple[ConversationEngine, Recorder]:
    """A conversation in 16 kHz PCM with scripted models, and the recorder of its events (`endpointing`: semantic_vad;
    `interruptions`: speech over a reply is classified)."""
    models = SpeechModels(ScriptedTranscriber(list(heard or [])), ToneSynthesizer(), ThreadPoolExecutor(1))  # type: ignore[arg-type]
    output = VoiceOutput(PCM16K, Pacing(lead_ms=100, frame_ms=20, whole_frames=marks), marks=marks)
    options = ConversationOptions(PCM16K, None if push_to_talk else FAST_TURNS, output, endpointing=endpointing,
                                  interruptions=interruptions)
    recorder = Recorder()
    return ConversationEngine(agent, models, options, recorder, scorer=LoudnessVad()), recorder
