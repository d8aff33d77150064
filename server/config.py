"""Server settings: environment variables, an optional TOML file and CLI flags (pydantic-settings)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    NoDecode,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from memory.archive import EmbedderKind
from memory.buffer import BufferLimits
from server.auth import KeyRing


class Settings(BaseSettings):
    """Everything `confab` can be configured with.

    Precedence, highest first: values passed in code (the CLI flags), `CONFAB_*`
    environment variables (and the usual `OPENAI_*`, `REDIS_URL`, `QDRANT_URL`),
    the TOML file named by `CONFAB_CONFIG`, then the defaults below.
    """

    model_config = SettingsConfigDict(env_prefix="CONFAB_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = 8765
    data_dir: Path = Path("./data")

    llm_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CONFAB_LLM_BASE_URL", "OPENAI_BASE_URL", "llm_base_url")
    )
    llm_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("CONFAB_LLM_API_KEY", "OPENAI_API_KEY", "llm_api_key")
    )
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = 30.0
    llm_max_retries: int = 3
    llm_retry_budget_s: float = 8.0
    sleeptime_model: str | None = Field(default=None, description="model for background memory work (default: the voice model)")
    sleeptime_base_url: str | None = Field(default=None, description="its endpoint (default: the voice model's)")
    sleeptime_api_key: str | None = Field(default=None, description="its key (default: the voice key, unless the base URL differs)")

    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "redis_url"))
    redis_retry_budget_s: float = Field(
        default=2.0, ge=0, description="how long a Redis command is retried through an outage before the turn fails"
    )
    qdrant_url: str | None = Field(default=None, validation_alias=AliasChoices("QDRANT_URL", "qdrant_url"))
    qdrant_api_key: str | None = Field(default=None, validation_alias=AliasChoices("QDRANT_API_KEY", "qdrant_api_key"))

    embedder: EmbedderKind = "sentence-transformers"
    embedding_model: str | None = Field(default=None, description="sentence-transformers path, or the endpoint's model name")
    embedding_dim: int = 384
    embedding_base_url: str | None = None
    embedding_api_key: str | None = None
    archival_min_score: float = Field(default=0.25, ge=-1.0, le=1.0, description="archival hits below this similarity are dropped")
    max_message_buffer_length: int = 30
    min_message_buffer_length: int = 15
    block_char_limit: int = Field(default=5000, gt=0)
    jobs_concurrency: int = 2
    jobs_max_attempts: int = 5
    jobs_retry_base_s: float = 2.0
    jobs_claim_idle_s: float = 30.0
    jobs_poll_s: float = 1.0

    speech: bool = Field(default=True, description="load STT/TTS/VAD models (off: text-only server)")
    stt_model: str | None = Field(default=None, description="faster-whisper model name or path (default: bundled tiny.en); "
                                  "the remote model name with CONFAB_STT_URL (default whisper-1)")
    stt_threads: int = 0
    tts_voice: str | None = Field(default=None, description="Piper .onnx voice path (default: bundled en_US-joe-medium); the voice name with CONFAB_TTS_URL")
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0, description="largest POST body (speech API uploads)")
    max_transcription_s: float = Field(default=300.0, gt=0, description="longest audio /v1/audio/transcriptions accepts")
    stt_url: str | None = Field(default=None, description="remote STT: base URL of an OpenAI speech API, e.g. http://gpu:8765/v1")
    stt_api_key: str | None = None
    stt_timeout_s: float = Field(default=10.0, gt=0, description="a remote transcription slower than this fails")
    tts_url: str | None = Field(default=None, description="remote TTS: base URL of an OpenAI speech API")
    tts_api_key: str | None = None
    tts_model: str = Field(default="tts-1", description="remote TTS model name")
    tts_sample_rate: int = Field(default=24000, description="rate of the remote TTS's `pcm` audio")
    tts_timeout_s: float = Field(default=10.0, gt=0, description="a remote synthesis slower than this fails")

    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    twilio_auth_token: str | None = Field(default=None, description="validate X-Twilio-Signature on /v1/twilio with it")
    public_url: str | None = Field(default=None, description="base URL callers see, e.g. wss://voice.example.com (signed URLs)")
    max_sessions: int = 100
    max_frame_bytes: int = 1 << 20
    idle_timeout_s: float = 300.0
    tool_timeout_s: float = 20.0
    mcp_connect_timeout_s: float = 10.0
    default_agent: str = Field(default="default", description="the agent OpenAI model names and a missing `model` pick, per owner")
    max_sessions_per_owner: int = Field(default=50, gt=0)
    max_unauthenticated: int = Field(default=200, gt=0, description="sockets waiting to authenticate, in total")
    max_unauthenticated_per_address: int = Field(default=20, gt=0, description="sockets waiting to authenticate, per address")
    auth_timeout_s: float = Field(default=10.0, gt=0, description="time a Twilio stream has to send its `start`")
    inbound_bytes_per_s: int = Field(default=256_000, gt=0, description="sustained inbound rate per socket (back-pressure beyond)")
    inbound_burst_bytes: int = Field(default=4_000_000, gt=0, description="inbound bytes a socket may send at once")
    inbound_frames_per_s: int = Field(default=200, gt=0, description="sustained inbound frames per socket")
    inbound_burst_frames: int = Field(default=1000, gt=0, description="frames a socket may send at once")
    cli_server_timeout_s: float = Field(default=30.0, gt=0, description="how long CLI commands wait for a running server to answer")
    caller_token_secret: str | None = Field(
        default=None, description="signs Twilio caller tokens (default: a random secret kept in Redis, shared by all processes)"
    )

    @model_validator(mode="after")
    def _check_buffer(self) -> Settings:
        """Refuse buffer lengths the trimmer cannot work with (both > 4, max > min)."""
        BufferLimits(self.min_message_buffer_length, self.max_message_buffer_length)
        return self

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """Accept `CONFAB_API_KEYS=key1,key2`."""
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_keys(cls, value: list[str]) -> list[str]:
        """Refuse entries with an empty owner or key (`:`, `alice:`) or characters a header cannot carry."""
        KeyRing.parse(value)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Add the optional TOML file (`CONFAB_CONFIG=path.toml`) below the environment."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("CONFAB_CONFIG")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def is_loopback(self) -> bool:
        """Whether the listening address only accepts local connections."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a host name: it may resolve anywhere
            return False
