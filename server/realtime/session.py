"""One `/v1/realtime` connection: session state, conversation items, voice I/O and the running response."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from openai.types.realtime import (
    ConversationItemCreateEvent,
    ConversationItemTruncateEvent,
    InputAudioBufferAppendEvent,
    InputAudioBufferClearEvent,
    InputAudioBufferCommitEvent,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeConversationItemUserMessage,
    RealtimeSessionCreateRequest,
    ResponseCancelEvent,
    ResponseCreateEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
    SessionUpdateEvent,
)
from pydantic import BaseModel

from agent.events import TurnFailed
from agent.voice_agent import VoiceAgent
from memory.records import AgentRecord
from server.realtime import items
from server.realtime.client_tools import ClientTools, accept_output
from server.realtime.outputs import CancelReason, PlainTextOutput, RealtimeEventOutput, ResponseOutput
from server.realtime.protocol import (
    PlainTextUtterance,
    ProtocolError,
    ServerEventEncoder,
    error_event,
    new_event_id,
    parse_client_frame,
)
from server.realtime.voice_config import VoiceConfig, latency_event
from server.metrics import RESPONSES, observe_turn
from server.runtime import Runtime
from server.voice.listener import FormatLocked, Listener, ListenerEvent, Transcribed, VoiceStarted, VoiceStopped
from server.voice.reply import stream_reply
from server.voice.speaker import Speaker, heard_text

log = logging.getLogger(__name__)

SendFrame = Callable[[str], Awaitable[None]]
_SPOKEN_ITEMS_KEPT = 8
APOLOGY = "Sorry, I could not hear that. Could you say it again?"
_FLOOD_AHEAD_S = 5.0


@dataclass
class ActiveResponse:
    """The response being generated, at most one per session."""

    response_id: str
    output: ResponseOutput
    task: asyncio.Task[None] | None = None
    cancel_reason: CancelReason | None = None
    finished: bool = False
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class RealtimeSession:
    """Drives one Realtime conversation: typed client events in, server events out.

    The socket is not here: frames come in through `handle_frame` and leave through
    `send_frame`, so the whole session can be driven by tests or other transports.
    """

    runtime: Runtime
    agent: AgentRecord
    send_frame: SendFrame
    beta: bool = False
    report_latency: bool = False
    instructions: str | None = None
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    _encoder: ServerEventEncoder = field(init=False)
    _voice_agent: VoiceAgent = field(init=False)
    _response: ActiveResponse | None = field(default=None, init=False)
    _last_item_id: str | None = field(default=None, init=False)
    _listener: Listener | None = field(default=None, init=False)
    _client_tools: ClientTools = field(default_factory=ClientTools, init=False)
    _spoken: OrderedDict[str, tuple[str, Speaker]] = field(default_factory=OrderedDict, init=False)
    _flood_reported: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._encoder = ServerEventEncoder(self.beta)
        self._voice_agent = self.runtime.voice_agent(self.agent, client_tools=self._client_tools)

    async def send(self, event: BaseModel) -> None:
        """Encode and send one server event."""
        frame = self._encoder.encode(event)
        if frame is not None:
            await self.send_frame(frame)

    async def error(self, message: str, code: str, event_id: str | None = None, param: str | None = None) -> None:
        """Send an `error` event."""
        await self.send(error_event(message, code, event_id, param))

    def _session_model(self) -> RealtimeSessionCreateRequest:
        return RealtimeSessionCreateRequest(
            type="realtime", model=self.agent.name, instructions=self.instructions or "",
            output_modalities=[self.voice.modality], audio=self.voice.audio_config(), tools=list(self._client_tools.declared),
        )

    async def open(self) -> None:
        """Greet the client with `session.created`."""
        await self.send(SessionCreatedEvent(type="session.created", event_id=new_event_id(), session=self._session_model()))

    async def close(self) -> None:
        """The connection ended: stop listening and the running response (persisting what was heard)."""
        if self._listener is not None:
            await self._listener.close()
        await self.cancel_response("client_cancelled")

    async def handle_frame(self, frame: str | bytes) -> None:
        """Handle one incoming frame; problems become `error` events, never exceptions."""
        event = parse_client_frame(frame, self.beta)
        match event:
            case ProtocolError():
                await self.error(event.message, event.code, event.event_id, event.param)
            case PlainTextUtterance():
                await self._plain_text_turn(event.text)
            case InputAudioBufferAppendEvent():
                await self._append_audio(event)
            case InputAudioBufferCommitEvent():
                await self._commit_audio(event.event_id)
            case InputAudioBufferClearEvent():
                if self._listener is not None:
                    await self._listener.clear()
                await self.send(items.cleared())
            case SessionUpdateEvent():
                await self._update_session(event)
            case ConversationItemCreateEvent():
                await self._create_item(event)
            case ConversationItemTruncateEvent():
                await self._truncate(event)
            case ResponseCreateEvent():
                await self._start_response(event.event_id)
            case ResponseCancelEvent():
                if self._response is None:
                    await self.error("there is no active response to cancel", "response_cancel_not_active", event.event_id)
                else:
                    await self.cancel_response("client_cancelled")
            case _:
                kind = getattr(event, "type", "?")
                await self.error(f"{kind} is not supported in this session", "unsupported_event", getattr(event, "event_id", None), "type")

    # -- session and items -------------------------------------------------------------------

    async def _update_session(self, event: SessionUpdateEvent) -> None:
        update: Any = event.session
        try:
            voice = self.voice.updated(update)
            if self._listener is not None:
                self._listener.configure(voice.input_format, voice.turn_settings)
        except (ValueError, FormatLocked) as exc:
            await self.error(str(exc), "invalid_value", event.event_id, "session.audio")
            return
        self.voice = voice
        if getattr(update, "instructions", None) is not None:
            self.instructions = update.instructions
            self._voice_agent = self.runtime.voice_agent(self.agent, self.instructions, client_tools=self._client_tools)
        if getattr(update, "tools", None) is not None:
            for problem in self._client_tools.declare(update.tools):
                await self.error(f"session.tools: {problem}; ignored", "invalid_value", event.event_id, "session.tools")
        await self.send(SessionUpdatedEvent(type="session.updated", event_id=new_event_id(), session=self._session_model()))

    async def _create_item(self, event: ConversationItemCreateEvent) -> None:
        item = event.item
        if isinstance(item, RealtimeConversationItemFunctionCallOutput):
            await self._function_call_output(event, item)
            return
        if not isinstance(item, RealtimeConversationItemUserMessage):
            await self.error(f"conversation items of type {item.type}/{getattr(item, 'role', '')} are not supported", "unsupported_item", event.event_id, "item")
            return
        text = " ".join(part.text or part.transcript or "" for part in item.content if part.type == "input_text").strip()
        if not text:
            await self.error("a user message needs an input_text part with text", "invalid_value", event.event_id, "item.content")
            return
        message = await self._voice_agent.add_user_message(text)
        await self._announce_item(items.user_text_item(item.id or message.id, text))

    async def _function_call_output(self, event: ConversationItemCreateEvent, item: RealtimeConversationItemFunctionCallOutput) -> None:
        stored = await accept_output(self._voice_agent, item)
        if stored is None:
            await self.error(f"no function call {item.call_id!r} is waiting for an output", "invalid_value", event.event_id, "item.call_id")
            return
        await self._announce_item(stored)

    async def _announce_item(self, stored: items.ConversationItem) -> None:
        previous, self._last_item_id = self._last_item_id, stored.id
        await self.send(items.item_added(stored, previous))
        await self.send(items.item_done(stored, previous))

    async def _truncate(self, event: ConversationItemTruncateEvent) -> None:
        spoken = self._spoken.get(event.item_id)
        if spoken is None:
            await self.error(f"no audio item {event.item_id!r} to truncate", "item_not_found", event.event_id, "item_id")
            return
        response_id, speaker = spoken
        if event.audio_end_ms > speaker.sent_ms + 1:
            await self.error(f"audio_end_ms {event.audio_end_ms} is past the {speaker.sent_ms:.0f} ms of audio sent", "invalid_value", event.event_id, "audio_end_ms")
            return
        await self._voice_agent.truncate_response(response_id, heard_text(speaker.segments, event.audio_end_ms))
        await self.send(items.truncated(event.item_id, event.audio_end_ms))

    # -- audio in ----------------------------------------------------------------------------

    def _ensure_listener(self) -> Listener:
        if self._listener is None:
            speech = self.runtime.require_speech()
            self._listener = Listener(speech, self.voice.input_format, self.voice.turn_settings, self._on_voice, items.new_item_id)
        return self._listener

    async def _append_audio(self, event: InputAudioBufferAppendEvent) -> None:
        try:
            data = base64.b64decode(event.audio, validate=True)
        except (binascii.Error, ValueError):
            await self.error("input_audio_buffer.append: audio is not valid base64", "invalid_value", event.event_id, "audio")
            return
        try:
            ahead = await self._ensure_listener().append(data)
        except ValueError as exc:
            await self.error(f"input_audio_buffer.append: {exc}", "invalid_value", event.event_id, "audio")
            return
        if ahead > _FLOOD_AHEAD_S and not self._flood_reported:
            self._flood_reported = True
            await self.error(
                f"audio is arriving {ahead:.1f} s ahead of real time; it is processed at its own pace (nothing is dropped)",
                "input_audio_faster_than_realtime", event.event_id,
            )

    async def _commit_audio(self, event_id: str | None) -> None:
        if self._listener is None or self._listener.idle:
            await self.error("the input audio buffer is empty", "input_audio_buffer_commit_empty", event_id)
            return
        await self._listener.commit()

    async def _on_voice(self, event: ListenerEvent) -> None:
        match event:
            case VoiceStarted():
                barge_in = self._response is not None and self.voice.interrupt_response
                if barge_in and self._response is not None:
                    self._response.output.mute()
                await self.send(items.speech_started(event.item_id, event.audio_start_ms))
                if barge_in:
                    await self.cancel_response("turn_detected")
            case VoiceStopped():
                await self.send(items.speech_stopped(event.item_id, event.audio_end_ms))
                previous, self._last_item_id = self._last_item_id, event.item_id
                await self.send(items.committed(event.item_id, previous))
                await self.send(items.item_added(items.user_audio_item(event.item_id, None), previous))
            case Transcribed():
                await self._transcribed(event)

    async def _transcribed(self, event: Transcribed) -> None:
        if event.error is not None:
            await self.error(event.error, "speech_unavailable")
            await self._apologise()
        await self.send(items.transcription_completed(event.item_id, event.text))
        await self.send(items.item_done(items.user_audio_item(event.item_id, event.text), None))
        if not event.text:
            return
        await self._voice_agent.add_user_message(event.text)
        if event.respond and self.voice.create_response and self._response is None:
            await self._launch(self._event_output(), dict(event.timings))

    async def _apologise(self) -> None:
        """Say, without the model, that the caller's words were lost (spoken when the answer is audio)."""
        if self._response is not None or self.voice.modality == "text":
            return
        output = self._event_output()
        response = ActiveResponse(items.new_response_id(), output)
        self._response = response
        await output.start(response.response_id)

        async def speak() -> None:
            try:
                await output.text(APOLOGY)
                await output.complete()
            except asyncio.CancelledError:
                return  # cancel_response() finishes it
            await self._finish(response, "completed")

        response.task = asyncio.create_task(speak(), name=f"apology {response.response_id}")

    # -- responses ---------------------------------------------------------------------------

    def _event_output(self) -> RealtimeEventOutput:
        if self.voice.modality == "text":
            return RealtimeEventOutput(self.send, lambda: self._last_item_id)
        speech = self.runtime.require_speech()

        def speaker_factory(send_audio: Callable[[bytes, str | None], Awaitable[None]]) -> Speaker:
            return Speaker(speech, self.voice.output_format, send_audio)

        return RealtimeEventOutput(self.send, lambda: self._last_item_id, speaker_factory)

    async def _plain_text_turn(self, text: str) -> None:
        if self._response is not None:
            await self.send_frame("[busy: still answering; wait for the newline]\n")
            return
        await self._voice_agent.add_user_message(text)
        await self._launch(PlainTextOutput(self.send_frame))

    async def _start_response(self, event_id: str | None) -> None:
        if self._response is not None:
            await self.error(
                f"conversation already has an active response in progress: {self._response.response_id}",
                "conversation_already_has_active_response", event_id,
            )
            return
        try:
            output = self._event_output()
        except RuntimeError as exc:
            await self.error(str(exc), "audio_unavailable", event_id)
            return
        await self._launch(output)

    async def _launch(self, output: ResponseOutput, timings: dict[str, float] | None = None) -> None:
        response_id = items.new_response_id()
        response = ActiveResponse(response_id, output, timings=timings or {})
        self._response = response
        await output.start(response_id)
        response.task = asyncio.create_task(self._run_response(response), name=f"response {response_id}")

    async def cancel_response(self, reason: CancelReason) -> None:
        """Stop the running response, if any, and wait until its `response.done` has gone out."""
        response = self._response
        if response is None or response.task is None:
            return
        response.cancel_reason = reason
        response.task.cancel()
        await asyncio.gather(response.task, return_exceptions=True)
        speaker = response.output.voice()
        if speaker is not None:
            heard = heard_text(speaker.segments, speaker.played_ms())  # the client's truncate may refine it later
            await self._voice_agent.truncate_response(response.response_id, heard)
        await self._finish(response, "cancelled")

    async def _run_response(self, response: ActiveResponse) -> None:
        failure: tuple[str, str] | None = None

        async def failed(event: TurnFailed) -> None:
            nonlocal failure
            failure = (event.code, "server_error")
            await self.error(event.message, event.code)

        try:
            if self._listener is not None:
                await self._listener.settled()  # a response.create right after a commit answers what was just said
            status: items.ResponseStatus = await stream_reply(
                self._voice_agent, response.response_id, response.output, failed, response.timings
            )
            await response.output.complete()
            speaker = response.output.voice()
            if speaker is not None and speaker.failure is not None:
                await self.error(speaker.failure, "speech_unavailable")
        except asyncio.CancelledError:
            return  # cancel_response() finishes it
        except Exception:  # a bug must end this response cleanly, not the session
            log.exception("response %s crashed", response.response_id)
            status, failure = "failed", ("server_error", "server_error")
            await self.error("the response failed because of a server error", "server_error")
        await self._finish(response, status, failure)

    async def _finish(self, response: ActiveResponse, status: items.ResponseStatus, failure: tuple[str, str] | None = None) -> None:
        """Send the response's closing events once, and free the session for the next one."""
        if response.finished:
            return
        response.finished = True
        if self._response is response:
            self._response = None
        item_id = response.output.item_id()
        if item_id is not None:
            self._last_item_id = item_id
            speaker = response.output.voice()
            if speaker is not None:
                self._remember_spoken(item_id, response.response_id, speaker)
        await response.output.finish(status, response.cancel_reason, failure)
        RESPONSES.labels(status).inc()
        await self._report_latency(response)

    def _remember_spoken(self, item_id: str, response_id: str, speaker: Speaker) -> None:
        self._spoken[item_id] = (response_id, speaker)
        while len(self._spoken) > _SPOKEN_ITEMS_KEPT:
            self._spoken.popitem(last=False)

    async def _report_latency(self, response: ActiveResponse) -> None:
        timings = dict(response.timings)
        speaker = response.output.voice()
        if speaker is not None:
            timings.update(speaker.timings)
        if "speech_end" not in timings:
            return
        event = latency_event(response.response_id, timings)
        log.info("turn latency %s", event.stages_ms)
        observe_turn(event.stages_ms)
        if self.report_latency:
            await self.send_frame(event.model_dump_json())
