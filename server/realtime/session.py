"""One `/v1/realtime` connection: session state, conversation items and the running response."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from openai.types.realtime import (
    ConversationItemCreateEvent,
    RealtimeConversationItemUserMessage,
    RealtimeSessionCreateRequest,
    ResponseCancelEvent,
    ResponseCreateEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
    SessionUpdateEvent,
)
from pydantic import BaseModel

from agent.events import TextDelta, TurnDone, TurnFailed
from agent.voice_agent import VoiceAgent
from memory.records import AgentRecord
from server.realtime import items
from server.realtime.outputs import EventTextOutput, PlainTextOutput, ResponseOutput
from server.realtime.protocol import (
    PlainTextUtterance,
    ProtocolError,
    ServerEventEncoder,
    error_event,
    new_event_id,
    parse_client_frame,
)
from server.runtime import Runtime

log = logging.getLogger(__name__)

SendFrame = Callable[[str], Awaitable[None]]


@dataclass
class ActiveResponse:
    """The response being generated, at most one per session."""

    response_id: str
    output: ResponseOutput
    task: asyncio.Task[None] | None = None
    cancel_reason: Literal["turn_detected", "client_cancelled"] | None = None
    finished: bool = False


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
    instructions: str | None = None
    output_modalities: list[Literal["text", "audio"]] = field(default_factory=lambda: ["text"])
    _encoder: ServerEventEncoder = field(init=False)
    _voice_agent: VoiceAgent = field(init=False)
    _response: ActiveResponse | None = field(default=None, init=False)
    _last_item_id: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._encoder = ServerEventEncoder(self.beta)
        self._voice_agent = self.runtime.voice_agent(self.agent)

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
            output_modalities=self.output_modalities,
        )

    async def open(self) -> None:
        """Greet the client with `session.created`."""
        await self.send(SessionCreatedEvent(type="session.created", event_id=new_event_id(), session=self._session_model()))

    async def close(self) -> None:
        """The connection ended: stop the running response (persisting what was said)."""
        await self.cancel_response("client_cancelled")

    async def handle_frame(self, frame: str | bytes) -> None:
        """Handle one incoming frame; problems become `error` events, never exceptions."""
        event = parse_client_frame(frame, self.beta)
        match event:
            case ProtocolError():
                await self.error(event.message, event.code, event.event_id, event.param)
            case PlainTextUtterance():
                await self._plain_text_turn(event.text)
            case SessionUpdateEvent():
                await self._update_session(event)
            case ConversationItemCreateEvent():
                await self._create_item(event)
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

    async def _update_session(self, event: SessionUpdateEvent) -> None:
        update: Any = event.session
        if getattr(update, "instructions", None) is not None:
            self.instructions = update.instructions
            self._voice_agent = self.runtime.voice_agent(self.agent, self.instructions)
        if getattr(update, "output_modalities", None):
            self.output_modalities = list(update.output_modalities)
        await self.send(SessionUpdatedEvent(type="session.updated", event_id=new_event_id(), session=self._session_model()))

    async def _create_item(self, event: ConversationItemCreateEvent) -> None:
        item = event.item
        if not isinstance(item, RealtimeConversationItemUserMessage):
            await self.error(f"conversation items of type {item.type}/{getattr(item, 'role', '')} are not supported", "unsupported_item", event.event_id, "item")
            return
        text = " ".join(part.text or part.transcript or "" for part in item.content if part.type == "input_text").strip()
        if not text:
            await self.error("a user message needs an input_text part with text", "invalid_value", event.event_id, "item.content")
            return
        message = await self._voice_agent.add_user_message(text)
        await self._announce_user_item(item.id or message.id, text)

    async def _announce_user_item(self, item_id: str, text: str) -> None:
        stored = items.user_text_item(item_id, text)
        previous, self._last_item_id = self._last_item_id, item_id
        await self.send(items.item_added(stored, previous))
        await self.send(items.item_done(stored, previous))

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
        await self._launch(EventTextOutput(self.send, lambda: self._last_item_id))

    async def _launch(self, output: ResponseOutput) -> None:
        response_id = items.new_response_id()
        await output.start(response_id)
        response = ActiveResponse(response_id, output)
        self._response = response
        response.task = asyncio.create_task(self._run_response(response), name=f"response {response_id}")

    async def cancel_response(self, reason: Literal["turn_detected", "client_cancelled"]) -> None:
        """Stop the running response, if any, and wait until its `response.done` has gone out."""
        response = self._response
        if response is None or response.task is None:
            return
        response.cancel_reason = reason
        response.task.cancel()
        await asyncio.gather(response.task, return_exceptions=True)
        await self._finish(response, "cancelled")

    async def _run_response(self, response: ActiveResponse) -> None:
        status: items.ResponseStatus = "completed"
        failure: tuple[str, str] | None = None
        try:
            async for event in self._voice_agent.step_stream(response.response_id):
                match event:
                    case TextDelta():
                        await response.output.text(event.text)
                    case TurnFailed():
                        status, failure = "failed", (event.code, "server_error")
                        await response.output.text(event.apology)
                        await self.error(event.message, event.code)
                    case TurnDone() if event.stop_reason == "max_steps":
                        status = "incomplete"
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
        await response.output.finish(status, response.cancel_reason, failure)
