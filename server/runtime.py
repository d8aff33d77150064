"""Process-wide resources shared by every session: stores, model clients, tools.

`Runtime.open()` builds it whole (there is no half-started runtime); a voice front end
takes only `Runtime.voice()`: who may call, their agents, the speech models and a
`VoiceAgent` per conversation.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass, field, replace
from typing import Protocol

from redis.asyncio import Redis

from audio.stt import TranscriberSettings
from audio.tts import SynthesizerSettings
from agent.llm import ChatModel, ModelEndpoint
from agent.tools.base import ToolSource
from agent.tools.hub import ToolHub
from agent.tools.toolset import ToolSet
from agent.voice_agent import ModelOptions, VoiceAgent
from memory.agents import AgentStore
from memory.conversations import Conversation, ConversationStore
from memory.messages import MessageStore
from memory.records import AgentRecord
from memory.redis_client import connect as connect_redis
from memory.redis_server import EmbeddedRedis
from memory.response_lock import ResponseLocks, release_dead_leases
from server.auth import KeyRing
from server.config import Settings
from server.memory_services import MemoryServices
from server.metrics import count_speculation
from server.voice.models import SpeechModels
from server.voice.remote_speech import RemoteSpeechSettings

log = logging.getLogger(__name__)


class VoiceAgentFactory(Protocol):
    """Makes the `VoiceAgent` of one conversation (see `Runtime.voice_agent`)."""

    def __call__(
        self, agent: AgentRecord, conversation: Conversation,
        instructions: str | None = None, client_tools: ToolSource | None = None, options: ModelOptions = ModelOptions(),
    ) -> VoiceAgent:
        """A `VoiceAgent` for one session of `conversation` with `agent`."""


@dataclass(frozen=True)
class VoiceServices:
    """What a voice front end (Realtime, Twilio) needs of the process, and nothing more."""

    keys: KeyRing
    agents: AgentStore
    speech: SpeechModels | None  # None: a text-only server
    voice_agent: VoiceAgentFactory
    conversations: ConversationStore
    responses: ResponseLocks


@dataclass(frozen=True)
class Runtime:
    """Everything one `confab` process opens once: Redis (embedded or external), stores and model clients."""

    settings: Settings
    redis: Redis
    embedded_redis: EmbeddedRedis | None
    agents: AgentStore
    messages: MessageStore
    keys: KeyRing
    tool_hub: ToolHub
    memory: MemoryServices
    speech: SpeechModels | None
    _models: dict[ModelEndpoint, ChatModel] = field(default_factory=dict)

    @classmethod
    async def open(cls, settings: Settings, *, serving: bool = True) -> Runtime:
        """Connect to Redis (starting the embedded one when no REDIS_URL is set) and build the stores.

        A server process (`serving`) also opens archival memory, runs the sleeptime worker and
        loads the speech models; one-shot CLI commands do not.
        """
        embedded = None
        url = settings.redis_url
        if url is None:
            embedded = EmbeddedRedis(settings.data_dir)
            url = await asyncio.to_thread(embedded.start)
        redis = connect_redis(url, settings.redis_retry_budget_s)
        await redis.ping()
        agents, messages = AgentStore(redis), MessageStore(redis)
        models: dict[ModelEndpoint, ChatModel] = {}
        memory = MemoryServices(settings, redis, agents, messages, functools.partial(_sleeptime_model_for, settings, models))
        tool_hub = ToolHub(settings.tool_timeout_s, settings.mcp_connect_timeout_s)
        runtime = cls(settings, redis, embedded, agents, messages, KeyRing.parse(settings.api_keys), tool_hub, memory, None, models)
        if not serving:
            return runtime
        if embedded is not None and embedded.owned and (released := await release_dead_leases(redis)):
            log.warning("released %d conversation lease(s) left by a server that died mid-response", released)
        try:
            await memory.open_archive()
            memory.start_worker()
            if settings.speech:
                speech = await SpeechModels.load(_stt_settings(settings), _tts_settings(settings))
                count_speculation(speech.transcriber.speculation)
                runtime = replace(runtime, speech=speech)
        except BaseException:
            await runtime.stop()
            raise
        return runtime

    def voice(self) -> VoiceServices:
        """The pieces a voice front end uses."""
        return VoiceServices(self.keys, self.agents, self.speech, self.voice_agent, self.memory.conversations, self.memory.responses)

    async def stop(self) -> None:
        """Close clients and stop the embedded Redis if this process started it."""
        await self.tool_hub.close()
        await self.memory.close()
        for model in self._models.values():
            await model.close()
        if self.speech is not None:
            await self.speech.close()
        await self.redis.aclose()
        if self.embedded_redis is not None:
            await asyncio.to_thread(self.embedded_redis.stop)

    @property
    def redis_description(self) -> str:
        """Where conversation state lives, for start-up banners."""
        if self.embedded_redis is not None:
            ownership = "started" if self.embedded_redis.owned else "attached"
            return f"embedded redis-server ({ownership}) at {self.embedded_redis.socket_path}"
        return f"Redis at {self.settings.redis_url}"

    def default_endpoint(self) -> ModelEndpoint:
        """The server-wide model endpoint from the settings."""
        return _default_endpoint(self.settings)

    def model_for(self, agent: AgentRecord) -> ChatModel:
        """The shared client for the agent's endpoint (its own settings over the server's)."""
        return _model_for(self.settings, self._models, agent)

    def sleeptime_model_for(self, agent: AgentRecord) -> ChatModel:
        """The shared client for the agent's background memory work."""
        return _sleeptime_model_for(self.settings, self._models, agent)

    def tools_for(self, agent: AgentRecord, conversation: Conversation) -> ToolSet:
        """The tools the agent's model may call in one conversation."""
        tools = [*self.memory.builtin_tools(agent, conversation), *self.tool_hub.tools(agent)]
        return ToolSet(tools, timeout_s=self.settings.tool_timeout_s, sources=self.tool_hub.sources(agent))

    def voice_agent(
        self, agent: AgentRecord, conversation: Conversation,
        instructions: str | None = None, client_tools: ToolSource | None = None, options: ModelOptions = ModelOptions(),
    ) -> VoiceAgent:
        """A `VoiceAgent` for one session of `conversation`; `instructions` (from session.update) extend
        the persona, `client_tools` (declared by a Realtime client) join the agent's own, `options`
        shape its model calls."""
        tools = self.tools_for(agent, conversation)
        return VoiceAgent(
            agent, conversation, self.model_for(agent), tools.with_source(client_tools) if client_tools else tools, self.messages,
            system_prompt=functools.partial(self.memory.system_prompt, agent, conversation, instructions),
            after_turn=functools.partial(self.memory.after_turn, conversation), options=options,
        )


def _stt_settings(settings: Settings) -> TranscriberSettings | RemoteSpeechSettings:
    if settings.stt_url:
        return RemoteSpeechSettings(settings.stt_url, settings.stt_api_key, settings.stt_model or "whisper-1", settings.stt_timeout_s)
    stt = TranscriberSettings(cpu_threads=settings.stt_threads)
    return replace(stt, model=settings.stt_model) if settings.stt_model else stt


def _tts_settings(settings: Settings) -> SynthesizerSettings | RemoteSpeechSettings:
    if settings.tts_url:
        return RemoteSpeechSettings(
            settings.tts_url, settings.tts_api_key, settings.tts_model, settings.tts_timeout_s, settings.tts_voice or "alloy",
            settings.tts_sample_rate,
        )
    return SynthesizerSettings(settings.tts_voice) if settings.tts_voice else SynthesizerSettings()


def _default_endpoint(settings: Settings) -> ModelEndpoint:
    s = settings
    return ModelEndpoint(s.llm_base_url, s.llm_api_key, s.llm_model, s.llm_timeout_s, s.llm_max_retries, s.llm_retry_budget_s)


def _model_for(settings: Settings, models: dict[ModelEndpoint, ChatModel], agent: AgentRecord) -> ChatModel:
    """One shared client per endpoint: the agent's own settings over the server's."""
    base = _default_endpoint(settings)
    endpoint = ModelEndpoint(
        base_url=agent.llm.base_url or base.base_url,
        api_key=agent.llm.api_key or base.api_key,
        model=agent.llm.model or base.model,
        timeout_s=base.timeout_s,
        max_retries=base.max_retries,
        retry_budget_s=base.retry_budget_s,
    )
    return _shared(models, endpoint)


def _sleeptime_model_for(settings: Settings, models: dict[ModelEndpoint, ChatModel], agent: AgentRecord) -> ChatModel:
    """The client for the agent's background memory work: `CONFAB_SLEEPTIME_*`, else its voice model.

    The voice key only goes along when the endpoint is the voice one: a key is never sent
    to a different base URL.
    """
    voice = _model_for(settings, models, agent).endpoint
    elsewhere = settings.sleeptime_base_url is not None and settings.sleeptime_base_url != voice.base_url
    return _shared(models, replace(
        voice,
        base_url=settings.sleeptime_base_url or voice.base_url,
        api_key=settings.sleeptime_api_key or (None if elsewhere else voice.api_key),
        model=settings.sleeptime_model or voice.model,
    ))


def _shared(models: dict[ModelEndpoint, ChatModel], endpoint: ModelEndpoint) -> ChatModel:
    """The one client of `endpoint` in this process."""
    if endpoint not in models:
        models[endpoint] = ChatModel(endpoint)
    return models[endpoint]
