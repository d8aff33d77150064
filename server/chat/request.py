"""A chat-completions request body, read leniently, and the one turn it asks for.

Voice platforms resend the whole conversation with every request and add fields of their
own (Vapi: `call`, `metadata`, `phoneNumber`, ...). Unknown fields are ignored; what Confab
uses is validated. The conversation itself comes from Confab's memory: of the resent
messages only the new input (what follows the last assistant message) and the assistant
text the caller heard last are taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memory.conversations import CallerIdError, check_caller_id

CALLER_HEADER = "X-Confab-Caller"


class InvalidRequest(ValueError):
    """The body is not a chat request Confab can answer; `param` names the offending field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ChatMessage(_Lenient):
    """One resent message; `content` is a string or a list of content parts."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The message's text (text parts joined)."""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(part.get("text", "")) for part in self.content or [] if part.get("type") == "text")


class FunctionSpec(_Lenient):
    """A platform tool's function: name, description, JSON schema of arguments."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ChatTool(_Lenient):
    """A tool the platform declares and runs itself."""

    type: Literal["function"] = "function"
    function: FunctionSpec


class StreamOptions(_Lenient):
    """`stream_options`: only `include_usage` matters."""

    include_usage: bool = False


class Customer(_Lenient):
    """Vapi's customer: the phone number calling."""

    number: str | None = None


class VapiCall(_Lenient):
    """Vapi's `call` object: only the customer matters."""

    customer: Customer | None = None


class ChatRequest(_Lenient):
    """The fields of a chat-completions body that Confab reads."""

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ChatTool] = Field(default_factory=list)
    user: str | None = None
    call: VapiCall | None = None
    customer: Customer | None = None

    @property
    def include_usage(self) -> bool:
        """Whether a streamed answer ends with a usage chunk."""
        return self.stream_options is not None and self.stream_options.include_usage


def parse_request(body: bytes) -> ChatRequest:
    """Read a body; InvalidRequest (naming the field) when it is not a chat request."""
    try:
        return ChatRequest.model_validate_json(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or None
        if error["type"] == "json_invalid":
            raise InvalidRequest("the body is not valid JSON") from None
        raise InvalidRequest(f"{where or 'body'}: {error['msg']}", where) from None


def caller_of(request: ChatRequest, header: str | None) -> str | None:
    """The caller this turn belongs to: body `user`, the `X-Confab-Caller` header, then Vapi's
    customer number; None for an anonymous caller. InvalidRequest when the id is malformed."""
    customer = request.call.customer if request.call is not None and request.call.customer is not None else request.customer
    sources = [("user", request.user), (CALLER_HEADER, header), ("call.customer.number", customer.number if customer else None)]
    for param, value in sources:
        if value:
            try:
                return check_caller_id(value)
            except CallerIdError as exc:
                raise InvalidRequest(f"{param}: {exc}", param) from None
    return None


@dataclass(frozen=True)
class ToolOutput:
    """The platform's result for one of its tool calls."""

    call_id: str
    output: str


@dataclass(frozen=True)
class TurnInput:
    """What one request adds to the conversation.

    `user_text` is the newest user message after the last assistant message (None: the
    request only continues the turn with tool results, or asks the agent to speak first);
    `heard` is that last assistant message's text, which shows how much of Confab's last
    answer the caller heard; `instructions` joins the platform's system messages; `earlier`
    is the resent conversation before the new input (system messages aside), which only an
    anonymous caller's turn uses, having no memory of its own.
    """

    user_text: str | None
    tool_outputs: tuple[ToolOutput, ...]
    heard: str | None
    instructions: str | None
    earlier: tuple[ChatMessage, ...] = ()


def turn_input(request: ChatRequest) -> TurnInput:
    """The new input of a request; InvalidRequest when there is nothing to answer."""
    messages = request.messages
    last_assistant = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    new = list(enumerate(messages))[last_assistant + 1:]
    outputs = tuple(
        ToolOutput(m.tool_call_id or "", m.text()) for _, m in new if m.role in ("tool", "function")
    )
    for index, message in new:
        if message.role in ("tool", "function") and not message.tool_call_id:
            raise InvalidRequest("a tool message needs its tool_call_id", f"messages.{index}.tool_call_id")
    users = [m.text().strip() for _, m in new if m.role == "user" and m.text().strip()]
    if last_assistant >= 0 and not users and not outputs:
        raise InvalidRequest("nothing to answer: the last message is the assistant's", f"messages.{last_assistant}")
    previous = messages[last_assistant] if last_assistant >= 0 else None
    heard = previous.text() if previous is not None and not previous.tool_calls else None
    system = "\n\n".join(m.text() for m in messages if m.role in ("system", "developer") and m.text().strip())
    earlier = tuple(m for m in messages[: last_assistant + 1] if m.role not in ("system", "developer"))
    return TurnInput(users[-1] if users else None, outputs, heard, system or None, earlier)
