"""Process-wide resources shared by every session: stores, model clients, tools."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from dataclasses import dataclass, field

from redis.asyncio import Redis

from audio.stt import TranscriberSettings
from audio.tts import SynthesizerSettings
from agent.llm import ChatModel, ModelEndpoint
from agent.tools.base import ToolSource
from agent.tools.hub import ToolHub
from agent.tools.toolset import ToolSet
from agent.voice_agent import VoiceAgent
from memory.agents import AgentStore
from memory.messages import MessageStore
from memory.records import AgentRecord
from memory.redis_server import EmbeddedRedis
from server.auth import KeyRing
from server.config import Settings
from server.memory_services import MemoryServices
from server.metrics import count_speculation
from server.voice.models import SpeechModels
from server.voice.remote_speech import RemoteSpeechSettings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything one `confab` process opens once: Redis (embedded or external), stores and model clients."""

    settings: Settings
    embedded_redis: EmbeddedRedis | None = None
    serving: bool = field(default=True, kw_only=True)
    """A server process: open archival memory, run the sleeptime worker and load the speech models
    (one-shot CLI commands: False)."""
    redis: Redis = field(init=False)
    agents: AgentStore = field(init=False)
    messages: MessageStore = field(init=False)
    keys: KeyRing = field(init=False)
    tool_hub: ToolHub = field(init=False)
    memory: MemoryServices = field(init=False)
    speech: SpeechModels | None = field(default=None, init=False)
    _models: dict[ModelEndpoint, ChatModel] = field(default_factory=dict, init=False)

    async def start(self) -> None:
        """Connect to Redis (starting the embedded one when no REDIS_URL is set)."""
        url = self.settings.redis_url
        if url is None:
            self.embedded_redis = EmbeddedRedis(self.settings.data_dir)
            url = await asyncio.to_thread(self.embedded_redis.start)
        self.redis = Redis.from_url(url)
        await self.redis.ping()
        self.agents = AgentStore(self.redis)
        self.messages = MessageStore(self.redis)
        self.keys = KeyRing.parse(self.settings.api_keys)
        self.tool_hub = ToolHub(self.settings.tool_timeout_s, self.settings.mcp_connect_timeout_s)
        self.memory = MemoryServices(self.settings, self.redis, self.agents, self.messages, self.model_for)
        if self.serving:
            await self.memory.open_archive()
            self.memory.start_worker()
            if self.settings.speech:
                self.speech = await SpeechModels.load(self._stt_settings(), self._tts_settings())
                count_speculation(self.speech.transcriber.speculation)

    def _stt_settings(self) -> TranscriberSettings | RemoteSpeechSettings:
        s = self.settings
        if s.stt_url:
            return RemoteSpeechSettings(s.stt_url, s.stt_api_key, s.stt_model or "whisper-1", s.stt_timeout_s)
        local = TranscriberSettings(cpu_threads=s.stt_threads)
        return dataclasses.replace(local, model=s.stt_model) if s.stt_model else local

    def _tts_settings(self) -> SynthesizerSettings | RemoteSpeechSettings:
        s = self.settings
        if s.tts_url:
            return RemoteSpeechSettings(s.tts_url, s.tts_api_key, s.tts_model, s.tts_timeout_s, s.tts_voice or "alloy",
                                        s.tts_sample_rate)
        return SynthesizerSettings(voice=s.tts_voice) if s.tts_voice else SynthesizerSettings()

    def require_speech(self) -> SpeechModels:
        """The speech models, or RuntimeError when this server runs text-only."""
        if self.speech is None:
            raise RuntimeError("this server runs without speech models (CONFAB_SPEECH=false): use text")
        return self.speech

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
        s = self.settings
        return ModelEndpoint(s.llm_base_url, s.llm_api_key, s.llm_model, s.llm_timeout_s, s.llm_max_retries, s.llm_retry_budget_s)

    def model_for(self, agent: AgentRecord) -> ChatModel:
        """The shared client for the agent's endpoint (its own settings over the server's)."""
        base = self.default_endpoint()
        endpoint = ModelEndpoint(
            base_url=agent.llm.base_url or base.base_url,
            api_key=agent.llm.api_key or base.api_key,
            model=agent.llm.model or base.model,
            timeout_s=base.timeout_s,
            max_retries=base.max_retries,
            retry_budget_s=base.retry_budget_s,
        )
        if endpoint not in self._models:
            self._models[endpoint] = ChatModel(endpoint)
        return self._models[endpoint]

    def tools_for(self, agent: AgentRecord) -> ToolSet:
        """The tools the agent's model may call."""
        tools = [*self.memory.builtin_tools(agent), *self.tool_hub.tools(agent)]
        return ToolSet(tools, timeout_s=self.settings.tool_timeout_s, sources=self.tool_hub.sources(agent))

    def voice_agent(self, agent: AgentRecord, instructions: str | None = None, client_tools: ToolSource | None = None) -> VoiceAgent:
        """A `VoiceAgent` for one session; `instructions` (from session.update) extend the persona,
        `client_tools` (declared by a Realtime client) join the agent's own."""
        tools = self.tools_for(agent)
        return VoiceAgent(
            agent, self.model_for(agent), tools.with_source(client_tools) if client_tools else tools, self.messages,
            system_prompt=functools.partial(self.memory.system_prompt, agent, instructions),
            after_turn=functools.partial(self.memory.after_turn, agent),
        )
