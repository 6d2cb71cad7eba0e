"""API settings: the ``[api]`` table of ``environments/<AGENT_ENV>.toml``, secrets from env."""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from agent_db.errors import ConfigError
from agent_db.settings import read_table

ENVIRONMENT_VARIABLE = "AGENT_ENV"


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: str = "dev"
    debug: bool = False
    log_level: str = "info"
    cors_origins: list[str] = Field(default_factory=list)
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    jwt_secret_env: str = "DEV_JWT_SECRET"  # noqa: S105 (the variable's name, not a secret)
    pool_size: int = Field(default=20, ge=1, le=200)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Login throttling (agent_api.login_throttle): failures per name and client address.
    login_free_failures: int = Field(default=5, ge=1, le=100)
    login_base_delay_seconds: float = Field(default=1.0, gt=0, le=60)
    login_max_delay_seconds: float = Field(default=900.0, gt=0, le=86_400)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def load_api_settings(environment: str | None = None, **overrides: Any) -> ApiSettings:
    """The API settings of ``environment`` (default: ``AGENT_ENV``, else dev)."""
    name = environment or os.environ.get(ENVIRONMENT_VARIABLE) or "dev"
    try:
        return ApiSettings(environment=name, **{**read_table(name, "api"), **overrides})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"environments/{name}.toml [api] has invalid settings: {problems}") from None
