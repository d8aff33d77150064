"""One `/v1/realtime` connection: Realtime frames mapped to a `Conversation` and its events back to frames.

Turn-taking (listening, barge-in, replies, truncation) is the conversation engine's;
this module keeps what is Realtime's own: the session settings, client tools and the
item ledger (item ids, `previous_item_id`, which item holds which reply's audio).
"""

from __future__ import annotations

import base64
import functools
import binascii
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from openai.types.realtime import (
    ConversationItem,
    ConversationItemCreateEvent,
    ConversationItemDeleteEvent,
    ConversationItemRetrieveEvent,
    ConversationItemTruncateEvent,
    InputAudioBufferAppendEvent,
    InputAudioBufferClearEvent,
    InputAudioBufferCommitEvent,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeConversationItemUserMessage,
    RealtimeSessionCreateRequest,
    RealtimeTranscriptionSessionCreateRequest,
    ResponseCancelEvent,
    ResponseCreateEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
    SessionUpdateEvent,
)
from pydantic import BaseModel

from agent.voice_agent import VoiceAgent
from memory.conversations import Conversation
from memory.redis_client import OUTAGE_ERRORS
from memory.records import AgentRecord, MessageRecord
from memory.scratch import ScratchMessages
from server.ids import new_id
from server.realtime import items
from server.realtime.client_tools import ClientTools, accept_output
from server.realtime.ledger import ItemLedger, LedgerEntry
from server.realtime.fields import ModelSettings, Refusal, response_refusals, session_refusals
from server.realtime.outputs import PlainTextReply, RealtimeReply, WireReply
from server.realtime.protocol import PlainTextUtterance, ProtocolError, ServerEventEncoder, error_event, parse_client_frame
from server.realtime.response_input import input_messages
from server.realtime.transcription import Transcription, transcript_events
from server.realtime.voice_config import VoiceConfig, latency_event
from server.runtime import VoiceServices
from server.voice.conversation import MEMORY_UNAVAILABLE, ConversationEngine
from server.voice.events import (
    ConversationError,
    ConversationEvent,
    EmptyAudioBuffer,
    IdleTimeout,
    ReplyAudio,
    ReplyDone,
    ReplyInProgress,
    ReplyStarted,
    ReplyText,
    ReplyToolCall,
    SpeechStarted,
    SpeechStopped,
    SpeechUnavailable,
    Transcribed,
)
from server.voice.listener import FormatLocked, InputBufferFull

log = logging.getLogger(__name__)

SendFrame = Callable[[str], Awaitable[None]]
_SPOKEN_ITEMS_KEPT = 8
_FLOOD_AHEAD_S = 5.0


@dataclass(frozen=True)
class _Starting:
    """What a `response.create` says of its response: echoed metadata, and whether it is in-band."""

    metadata: dict[str, str] | None = None
    in_conversation: bool = True


@dataclass
class RealtimeSession:
    """Maps one Realtime conversation: typed client events to engine commands, engine events to server events.

    The socket is not here: frames come in through `handle_frame` and leave through
    `send_frame`, so the whole session can be driven by tests or other transports.
    """

    services: VoiceServices
    agent: AgentRecord
    conversation: Conversation
    send_frame: SendFrame
    beta: bool = False
    report_latency: bool = False
    instructions: str | None = None
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    model_settings: ModelSettings = field(default_factory=ModelSettings)
    _encoder: ServerEventEncoder = field(init=False)
    _voice_agent: VoiceAgent = field(init=False)
    _engine: ConversationEngine = field(init=False)
    _chain: items.ItemChain = field(default_factory=items.ItemChain, init=False)
    _ledger: ItemLedger = field(default_factory=ItemLedger, init=False)
    _client_tools: ClientTools = field(default_factory=ClientTools, init=False)
    _replies: dict[str, WireReply] = field(default_factory=dict, init=False)
    _plain_text_turn: bool = field(default=False, init=False)
    _spoken_items: OrderedDict[str, str] = field(default_factory=OrderedDict, init=False)  # item id -> reply id
    _flood_reported: bool = field(default=False, init=False)
    _starting: _Starting = field(default_factory=_Starting, init=False)  # the in-band response being started
    _out_of_band: dict[str, ConversationEngine] = field(default_factory=dict, init=False)  # reply id -> its own engine

    def __post_init__(self) -> None:
        self._encoder = ServerEventEncoder(self.beta)
        speech = self.services.speech
        self.voice = replace(self.voice, transcription=Transcription(speech.transcriber.name) if speech else Transcription(enabled=False))
        self._voice_agent = self._agent_for(self.instructions, self.model_settings)
        self._engine = ConversationEngine(
            self._voice_agent, self.services.speech, self.voice.options(), self._on_event,
            claim=functools.partial(self.services.responses.acquire, self.conversation),
        )

    async def send(self, event: BaseModel) -> None:
        """Encode and send one server event."""
        frame = self._encoder.encode(event)
        if frame is not None:
            await self.send_frame(frame)

    async def error(self, message: str, code: str, event_id: str | None = None, param: str | None = None) -> None:
        """Send an `error` event."""
        await self.send(error_event(message, code, event_id, param))

    async def _refuse(self, refusals: list[Refusal], event_id: str | None) -> None:
        for refusal in refusals:
            await self.error(refusal.message, refusal.code, event_id, refusal.param)

    def _agent_for(self, instructions: str | None, settings: ModelSettings, tools: ClientTools | None = None) -> VoiceAgent:
        return self.services.voice_agent(self.agent, self.conversation, instructions, client_tools=tools or self._client_tools,
                                         options=settings.options())

    def _session_model(self) -> RealtimeSessionCreateRequest | RealtimeTranscriptionSessionCreateRequest:
        if self.voice.kind == "transcription":
            return RealtimeTranscriptionSessionCreateRequest.model_validate({"type": "transcription", "audio": {"input": self.voice.input_config()}})
        return RealtimeSessionCreateRequest(
            type="realtime", model=self.agent.name, instructions=self.instructions or "",
            output_modalities=[self.voice.modality], audio=self.voice.audio_config(), tools=list(self._client_tools.declared),
            **self.model_settings.wire(),
        )

    async def open(self) -> None:
        """Greet the client with `session.created`, then `conversation.created`."""
        await self.send(SessionCreatedEvent(type="session.created", event_id=new_id("event"), session=self._session_model()))
        await self.send(items.conversation_created())

    async def close(self) -> None:
        """The connection ended: the conversation stops listening and its reply keeps what was heard."""
        await self._engine.close()
        for engine in list(self._out_of_band.values()):
            await engine.close()

    async def handle_frame(self, frame: str | bytes) -> None:
        """Handle one incoming frame; problems become `error` events, never exceptions."""
        event = parse_client_frame(frame, self.beta)
        try:
            await self._handle(event)
        except OUTAGE_ERRORS as exc:  # the session lives on: the client may try again once Redis is back
            log.warning("realtime event %s: %s (%s)", getattr(event, "type", "?"), MEMORY_UNAVAILABLE, exc)
            await self.error(f"{MEMORY_UNAVAILABLE}: this event was not applied; try again", "memory_unavailable",
                             getattr(event, "event_id", None))

    async def _handle(self, event: BaseModel | PlainTextUtterance | ProtocolError) -> None:
        match event:
            case ProtocolError():
                await self.error(event.message, event.code, event.event_id, event.param)
            case ResponseCreateEvent() | ConversationItemCreateEvent() | PlainTextUtterance() if self.voice.kind == "transcription":
                what = "a text turn" if isinstance(event, PlainTextUtterance) else event.type
                await self.error(f"{what} is not available in a transcription session: it transcribes and never answers",
                                 "unsupported_event", getattr(event, "event_id", None), "type")
            case PlainTextUtterance():
                await self._plain_text_turn_of(event.text)
            case InputAudioBufferAppendEvent():
                await self._append_audio(event)
            case InputAudioBufferCommitEvent():
                try:
                    await self._engine.commit_audio()
                except EmptyAudioBuffer as exc:
                    await self.error(str(exc), "input_audio_buffer_commit_empty", event.event_id)
            case InputAudioBufferClearEvent():
                await self._engine.clear_audio()
                await self.send(items.cleared())
            case SessionUpdateEvent():
                await self._update_session(event)
            case ConversationItemCreateEvent():
                await self._create_item(event)
            case ConversationItemTruncateEvent():
                await self._truncate(event)
            case ConversationItemRetrieveEvent():
                await self._retrieve(event)
            case ConversationItemDeleteEvent():
                await self._delete(event)
            case ResponseCreateEvent():
                await self._response_create(event)
            case ResponseCancelEvent():
                engine = self._out_of_band.get(event.response_id or "", self._engine)
                if not await engine.interrupt("client_cancelled"):
                    await self.error("there is no active response to cancel", "response_cancel_not_active", event.event_id)
            case _:
                kind = getattr(event, "type", "?")
                await self.error(f"{kind} is not supported in this session", "unsupported_event", getattr(event, "event_id", None), "type")

    # -- session and items -------------------------------------------------------------------

    async def _update_session(self, event: SessionUpdateEvent) -> None:
        update: Any = event.session
        if update.type != self.voice.kind and self._chain.last is not None:
            await self.error(f"session.type cannot change from {self.voice.kind!r} once the conversation has items",
                             "invalid_value", event.event_id, "session.type")
            return
        speech = self.services.speech
        audio_in = getattr(getattr(update, "audio", None), "input", None)
        transcription, transcription_refused = self.voice.transcription.updated(audio_in, speech.transcriber.languages if speech else None)
        try:
            voice = replace(self.voice.updated(update), kind=update.type, transcription=transcription)
            self._engine.configure(voice.options())
        except (ValueError, FormatLocked) as exc:
            await self.error(str(exc), "invalid_value", event.event_id, "session.audio")
            return
        self.voice = voice
        settings, refused = self.model_settings.updated(update, "session")
        await self._refuse(session_refusals(update, self.agent.name) + transcription_refused + refused, event.event_id)
        instructions = update.instructions if getattr(update, "instructions", None) is not None else self.instructions
        if (instructions, settings) != (self.instructions, self.model_settings):
            self.instructions, self.model_settings = instructions, settings
            self._voice_agent = self._agent_for(instructions, settings)
            self._engine.agent = self._voice_agent
        if getattr(update, "tools", None) is not None:
            for problem in self._client_tools.declare(update.tools):
                await self.error(f"session.tools: {problem}; ignored", "invalid_value", event.event_id, "session.tools")
        await self.send(SessionUpdatedEvent(type="session.updated", event_id=new_id("event"), session=self._session_model()))

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
        message = await self._engine.add_user_text(text)
        await self._announce_item(items.user_text_item(item.id or message.id, text), message.id)

    async def _function_call_output(self, event: ConversationItemCreateEvent, item: RealtimeConversationItemFunctionCallOutput) -> None:
        stored = await accept_output(self._voice_agent, item)
        if stored is None:
            await self.error(f"no function call {item.call_id!r} is waiting for an output", "invalid_value", event.event_id, "item.call_id")
            return
        await self._announce_item(stored)

    async def _announce_item(self, stored: items.ConversationItem, message_id: str | None = None) -> None:
        self._ledger.record(LedgerEntry(stored, message_id))
        previous = self._chain.append(stored.id or "")
        await self.send(items.item_added(stored, previous))
        await self.send(items.item_done(stored, previous))

    async def _entry(self, event: ConversationItemRetrieveEvent | ConversationItemDeleteEvent) -> LedgerEntry | None:
        entry = self._ledger.get(event.item_id)
        if entry is None:
            await self.error(f"no item {event.item_id!r} in this session", "item_not_found", event.event_id, "item_id")
        return entry

    async def _retrieve(self, event: ConversationItemRetrieveEvent) -> None:
        if (entry := await self._entry(event)) is not None:
            await self.send(items.retrieved(entry.item))

    async def _delete(self, event: ConversationItemDeleteEvent) -> None:
        """Take an item out of the model's next context (its history keeps it, for memory)."""
        entry = await self._entry(event)
        if entry is None:
            return
        if not entry.deletable:
            await self.error(f"item {event.item_id!r} ({entry.item.type}) cannot be deleted: only typed user messages and "
                             "assistant answers without client tool calls can", "invalid_value", event.event_id, "item_id")
            return
        await self._voice_agent.forget(entry.message_id, entry.response_id)
        now_last = self._ledger.remove(event.item_id)
        if self._chain.last == event.item_id:
            self._chain.last = now_last
        await self.send(items.deleted(event.item_id))

    async def _truncate(self, event: ConversationItemTruncateEvent) -> None:
        reply_id = self._spoken_items.get(event.item_id)
        if reply_id is None:
            await self.error(f"no audio item {event.item_id!r} to truncate", "item_not_found", event.event_id, "item_id")
            return
        try:
            await self._engine.truncate(reply_id, event.audio_end_ms)
        except ValueError as exc:
            await self.error(str(exc), "invalid_value", event.event_id, "audio_end_ms")
            return
        await self.send(items.truncated(event.item_id, event.audio_end_ms))

    # -- audio in ----------------------------------------------------------------------------

    async def _append_audio(self, event: InputAudioBufferAppendEvent) -> None:
        try:
            data = base64.b64decode(event.audio, validate=True)
        except (binascii.Error, ValueError):
            await self.error("input_audio_buffer.append: audio is not valid base64", "invalid_value", event.event_id, "audio")
            return
        try:
            ahead = await self._engine.append_audio(data)
        except SpeechUnavailable as exc:
            await self.error(str(exc), "audio_unavailable", event.event_id)
            return
        except InputBufferFull as exc:
            await self.error(f"input_audio_buffer.append: {exc}", "input_audio_buffer_full", event.event_id, "audio")
            return
        except ValueError as exc:
            await self.error(f"input_audio_buffer.append: {exc}", "invalid_value", event.event_id, "audio")
            return
        if ahead > _FLOOD_AHEAD_S and not self._flood_reported:
            self._flood_reported = True
            await self.error(
                f"audio is arriving {ahead:.1f} s ahead of real time; it is processed at its own pace (nothing is dropped)",
                "input_audio_faster_than_realtime", event.event_id,
            )

    # -- responses ---------------------------------------------------------------------------

    async def _plain_text_turn_of(self, text: str) -> None:
        if self._engine.generating:
            await self.send_frame("[busy: still answering; wait for the newline]\n")
            return
        await self._engine.add_user_text(text)
        self._plain_text_turn = True
        try:
            await self._engine.respond(spoken=False)
        finally:
            self._plain_text_turn = False

    async def _response_create(self, event: ResponseCreateEvent) -> None:
        """Start a response; its `response` fields apply to it alone, and one refused field means none starts."""
        params = event.response
        if params is None:
            await self._start_response(event.event_id)
            return
        settings, refused = self.model_settings.updated(params, "response")
        refused = response_refusals(params, self.voice.output_format) + refused
        tools = None
        if params.tools is not None:
            tools = ClientTools()
            refused += [Refusal("response.tools", f"response.tools: {problem}", "invalid_value") for problem in tools.declare(params.tools)]
        seed = None
        if params.input is not None:
            seed, bad_items = input_messages(self.conversation.id, params.input, self._announced)
            refused += bad_items
        if refused:
            await self._refuse(refused, event.event_id)
            return
        out_of_band = params.conversation == "none"
        agent = None
        if params.instructions is not None or settings != self.model_settings or tools is not None or seed is not None or out_of_band:
            agent = self._agent_for(params.instructions if params.instructions is not None else self.instructions, settings, tools)
        if agent is not None and (seed is not None or out_of_band):
            agent = await self._own_context(agent, seed, out_of_band)
        spoken = "audio" in params.output_modalities if params.output_modalities else None
        if agent is not None and out_of_band:
            await self._start_out_of_band(event.event_id, spoken, agent, _Starting(params.metadata, in_conversation=False))
            return
        self._starting = _Starting(params.metadata)
        try:
            await self._start_response(event.event_id, spoken, agent)
        finally:
            self._starting = _Starting()

    async def _own_context(self, agent: VoiceAgent, seed: list[MessageRecord] | None, out_of_band: bool) -> VoiceAgent:
        """`agent` answering its own context: `seed` (the response's `input`) or, out of band, a snapshot of the
        conversation's. An out-of-band answer is written nowhere and runs no memory upkeep."""
        if seed is None:
            seed = await agent.messages.buffer(self.conversation.id)
        if out_of_band:
            return replace(agent, messages=ScratchMessages(seed), after_turn=None)
        return replace(agent, messages=ScratchMessages(seed, persist=agent.messages))

    def _announced(self, item_id: str) -> ConversationItem | None:
        entry = self._ledger.get(item_id)
        return entry.item if entry is not None else None

    async def _start_out_of_band(self, event_id: str | None, spoken: bool | None, agent: VoiceAgent, starting: _Starting) -> None:
        """An out-of-band response runs on an engine of its own, next to the conversation's reply (OpenAI lets only
        one response write to the conversation at a time, any number of others run in parallel); speech from the
        caller does not interrupt it."""
        options = replace(self.voice.options(), idle_timeout_ms=None)
        engine = ConversationEngine(agent, self.services.speech, options, functools.partial(self._on_event, starting=starting))
        try:
            reply_id = await engine.respond(spoken)
        except SpeechUnavailable as exc:
            await self.error(str(exc), "audio_unavailable", event_id)
            return
        self._out_of_band[reply_id] = engine

    async def _start_response(self, event_id: str | None, spoken: bool | None = None, agent: VoiceAgent | None = None) -> None:
        try:
            await self._engine.respond(spoken, agent)
        except ReplyInProgress as exc:
            await self.error(f"conversation already has an active response in progress: {exc}",
                             "conversation_already_has_active_response", event_id)
        except SpeechUnavailable as exc:
            await self.error(str(exc), "audio_unavailable", event_id)

    # -- the conversation's events -------------------------------------------------------------

    async def _on_event(self, event: ConversationEvent, starting: _Starting | None = None) -> None:
        """One engine event as server events; `starting` describes the replies of an out-of-band engine."""
        match event:
            case SpeechStarted():
                await self.send(items.speech_started(event.item_id, event.audio_start_ms))
            case SpeechStopped():
                await self.send(items.speech_stopped(event.item_id, event.audio_end_ms))
                previous = self._chain.append(event.item_id)
                await self.send(items.committed(event.item_id, previous))
                await self.send(items.item_added(items.user_audio_item(event.item_id, None), previous))
            case Transcribed():
                if self.voice.transcription.enabled or event.error is not None:
                    for transcript_event in transcript_events(event.item_id, event.text, event.audio_s, event.error):
                        await self.send(transcript_event)
                heard_item = items.user_audio_item(event.item_id, event.text)
                self._ledger.record(LedgerEntry(heard_item))
                await self.send(items.item_done(heard_item, None))
            case ReplyStarted():
                starting = starting or self._starting
                reply: WireReply = (PlainTextReply(self.send_frame) if self._plain_text_turn and starting.in_conversation
                                    else RealtimeReply(self.send, self._chain if starting.in_conversation else None, event.reply_id,
                                                       "audio" if event.spoken else "text", starting.metadata))
                self._replies[event.reply_id] = reply
                await reply.start()
            case ReplyText() if event.reply_id in self._replies:
                await self._replies[event.reply_id].text(event.text)
            case ReplyAudio() if event.reply_id in self._replies:
                await self._replies[event.reply_id].audio(event.audio, event.words)
            case ReplyToolCall() if event.reply_id in self._replies:
                await self._replies[event.reply_id].function_call(event.call)
            case ReplyDone() if event.reply_id in self._replies:
                await self._reply_done(self._replies.pop(event.reply_id), event)
            case IdleTimeout():
                await self._idle_timeout(event)
            case ConversationError():
                await self.error(event.message, event.code)

    async def _idle_timeout(self, event: IdleTimeout) -> None:
        """The caller stayed silent: the empty audio is committed as a user item, and a response follows."""
        await self.send(items.timeout_triggered(event.item_id, event.audio_start_ms, event.audio_end_ms))
        previous = self._chain.append(event.item_id)
        await self.send(items.committed(event.item_id, previous))
        silence = items.user_audio_item(event.item_id, "")
        self._ledger.record(LedgerEntry(silence))
        await self.send(items.item_added(silence, previous))
        await self.send(items.item_done(silence, previous))

    async def _reply_done(self, reply: WireReply, event: ReplyDone) -> None:
        self._out_of_band.pop(event.reply_id, None)
        if isinstance(reply, RealtimeReply) and reply.chain is None:  # out of band: nothing joins the conversation
            await reply.finish(event.status, event.reason, event.failure, event.usage)
            return
        item_id = reply.item_id
        if item_id is not None and isinstance(reply, RealtimeReply) and reply.modality == "audio":
            self._spoken_items[item_id] = event.reply_id
            while len(self._spoken_items) > _SPOKEN_ITEMS_KEPT:
                self._spoken_items.popitem(last=False)
        await reply.finish(event.status, event.reason, event.failure, event.usage)
        if isinstance(reply, RealtimeReply):
            calls = any(item.type == "function_call" for item in reply.output)
            for item in reply.output:
                self._ledger.record(LedgerEntry(item, response_id=None if calls else event.reply_id))
        if self.report_latency and event.timings is not None:
            await self.send_frame(latency_event(event.reply_id, event.timings).model_dump_json())
