"""Streaming chat completions from any OpenAI-compatible endpoint, with retries inside a latency budget."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import openai
from openai.types.chat import ChatCompletionChunk

log = logging.getLogger(__name__)

_RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError, openai.APIConnectionError)


class ModelError(Exception):
    """The model could not give an answer; `code` is a stable machine-readable reason."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ModelEndpoint:
    """Where a model lives and how to call it."""

    base_url: str | None
    api_key: str | None
    model: str
    timeout_s: float = 30.0
    max_retries: int = 3
    retry_budget_s: float = 8.0

    @property
    def configured(self) -> bool:
        """Whether any endpoint was configured at all."""
        return bool(self.base_url or self.api_key)


@dataclass
class ChatModel:
    """One OpenAI-compatible endpoint; `stream()` yields chunks, retrying failures before the first one."""

    endpoint: ModelEndpoint
    _client: openai.AsyncOpenAI | None = field(default=None, init=False, repr=False)

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The shared `AsyncOpenAI` client (retries are ours, so its own are off)."""
        if self._client is None:
            self._client = openai.AsyncOpenAI(
                base_url=self.endpoint.base_url,
                api_key=self.endpoint.api_key or "not-needed",
                timeout=self.endpoint.timeout_s,
                max_retries=0,
            )
        return self._client

    async def stream(self, **request: Any) -> AsyncIterator[ChatCompletionChunk]:
        """Stream one chat completion for `request` (messages, tools, ...).

        429, 5xx, timeouts and connection failures before the first chunk are retried
        with jittered exponential backoff (honouring Retry-After) while the retry budget
        lasts; after that, or when the stream breaks midway, `ModelError` is raised.
        """
        if not self.endpoint.configured:
            raise ModelError("no language model is configured (set CONFAB_LLM_BASE_URL or OPENAI_API_KEY)", "llm_not_configured")
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                stream = await self.client.chat.completions.create(
                    model=self.endpoint.model, stream=True, stream_options={"include_usage": True}, **request
                )
                break
            except _RETRYABLE as exc:
                delay = _backoff(attempt, exc)
                attempt += 1
                spent = time.monotonic() - started
                if attempt > self.endpoint.max_retries or spent + delay > self.endpoint.retry_budget_s:
                    raise ModelError(f"the language model failed after {attempt} attempts: {_describe(exc)}", _code(exc)) from exc
                log.warning("model call failed (%s); retry %d in %.2f s", _describe(exc), attempt, delay)
                await asyncio.sleep(delay)
            except openai.APIStatusError as exc:
                raise ModelError(f"the language model refused the request: {_describe(exc)}", _code(exc)) from exc
        try:
            async for chunk in stream:
                yield chunk
        except (openai.APIError, openai.OpenAIError) as exc:
            raise ModelError(f"the language model's stream broke off: {_describe(exc)}", "llm_stream_broken") from exc
        finally:
            await stream.close()

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._client is not None:
            await self._client.close()


def _backoff(attempt: int, exc: Exception) -> float:
    if isinstance(exc, openai.APIStatusError):
        retry_after = exc.response.headers.get("retry-after")
        if retry_after:
            try:
                return float(retry_after)
            except ValueError:
                pass
    return min(4.0, 0.25 * 2**attempt) * (0.75 + random.random() / 2)


def _code(exc: Exception) -> str:
    if isinstance(exc, openai.RateLimitError):
        return "llm_rate_limited"
    if isinstance(exc, openai.APITimeoutError):
        return "llm_timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "llm_unreachable"
    return "llm_error"


def _describe(exc: Exception) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"
