"""API settings: the ``[api]`` table of ``environments/<AGENT_ENV>.toml``, secrets from env.

Strict: a key this class does not know is an error naming the key, the file and the valid keys
(exit 2), never a setting silently dropped (a misspelt ``log_level`` would leave prod logging at
the default).
"""

from __future__ import annotations

import difflib
import os
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from agent_api.client_address import parse_networks
from agent_db.errors import ConfigError
from agent_db.logs import LogFormat
from agent_db.settings import FileSettings, read_table

ENVIRONMENT_VARIABLE = "AGENT_ENV"

# uvicorn's --log-level names; the same level is applied to the app's own loggers.
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]


class ApiSettings(FileSettings):
    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    environment: str = "dev"  # the file's name, not a key inside it
    debug: bool = False
    log_level: LogLevel = "info"
    # auto: JSON lines when stderr is not a terminal, readable lines on one; AGENT_LOG_FORMAT
    # (json, human) overrides it for one run.
    log_format: LogFormat = "auto"
    cors_origins: list[str] = Field(default_factory=list)
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    jwt_secret_env: str = "DEV_JWT_SECRET"  # noqa: S105 (the variable's name, not a secret)
    pool_size: int = Field(default=20, ge=1, le=200)
    # Connections opened before the first request (agent_api.warm_up); at most pool_size.
    warm_connections: int = Field(default=4, ge=0, le=200)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # The census (agent_api.census): how often this process refreshes its row; three missed
    # heartbeats and the contract gate counts it as gone.
    consumer_heartbeat_seconds: float = Field(default=10.0, gt=0, le=3600)
    # Login throttling (agent_api.login_throttle): failures per name and client address.
    login_free_failures: int = Field(default=5, ge=1, le=100)
    login_base_delay_seconds: float = Field(default=1.0, gt=0, le=60)
    login_max_delay_seconds: float = Field(default=900.0, gt=0, le=86_400)
    # Proxies (addresses or networks) whose X-Forwarded-For names the caller; none by default,
    # so the header is ignored (agent_api.client_address).
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value


def file_keys() -> list[str]:
    """The keys an ``[api]`` table may hold."""
    return sorted(name for name in ApiSettings.model_fields if name != "environment")


def environment_name(environment: str | None = None) -> str:
    """``environment`` when given, else ``AGENT_ENV``, else dev."""
    return environment or os.environ.get(ENVIRONMENT_VARIABLE, "").strip() or "dev"


def load_api_settings(environment: str | None = None, **overrides: Any) -> ApiSettings:
    """The API settings of ``environment`` (default: ``AGENT_ENV``, else dev)."""
    name = environment_name(environment)
    table = read_table(name, "api")
    where = f"environments/{name}.toml [api]"
    _refuse_unknown_keys(table, where)
    try:
        return ApiSettings(environment=name, **{**table, **overrides})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"{where} has invalid settings: {problems}") from None


def _refuse_unknown_keys(table: dict[str, Any], where: str) -> None:
    valid = file_keys()
    unknown = sorted(key for key in table if key not in valid)
    if not unknown:
        return
    named = ", ".join(repr(key[:60]) for key in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
    guesses = [m for key in unknown for m in difflib.get_close_matches(key, valid, n=1)]
    hint = f" (did you mean {', '.join(guesses)}?)" if guesses else ""
    raise ConfigError(
        f"{where} has unknown {'key' if len(unknown) == 1 else 'keys'} {named}{hint}; "
        f"valid keys: {', '.join(valid)}; fix or remove {'it' if len(unknown) == 1 else 'them'}"
    )
