"""Server settings: environment variables, an optional TOML file and CLI flags (pydantic-settings)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    NoDecode,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


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

    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "redis_url"))
    qdrant_url: str | None = Field(default=None, validation_alias=AliasChoices("QDRANT_URL", "qdrant_url"))

    speech: bool = Field(default=True, description="load STT/TTS/VAD models (off: text-only server)")
    stt_model: str | None = Field(default=None, description="faster-whisper model name or path (default: bundled tiny.en)")
    stt_threads: int = 0
    tts_voice: str | None = Field(default=None, description="Piper .onnx voice path (default: bundled en_US-joe-medium)")

    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_sessions: int = 100
    max_frame_bytes: int = 1 << 20
    idle_timeout_s: float = 300.0
    tool_timeout_s: float = 20.0

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """Accept `CONFAB_API_KEYS=key1,key2`."""
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
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
        return self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")
