"""Per-environment database settings, read from ``environments/<name>.toml``.

The TOML files hold everything about an environment except secrets; the database URL comes from
the environment variable the file names (``database_url_env``). Only an environment with
``embedded_fallback = true`` (dev) may fall back to the embedded PostgreSQL when it is unset.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import URL

from agent_db.errors import ConfigError
from agent_db.paths import dotenv_file, find_environments_dir, project_root
from agent_db.urls import parse_url
from agent_db.variables import (
    EXAMPLE_URL,
    GENERIC_URL_VARIABLE,
    Variable,
    environment_url,
    generic_url_refusal,
    lookup,
)

_ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_DURATION = re.compile(r"^(0|\d+(ms|s|min|h))$")


def environment_names(directory: Path | None = None) -> list[str]:
    """Names of the environments defined in ``environments/``, in promotion order."""
    folder = directory or find_environments_dir()
    names = sorted(p.stem for p in folder.glob("*.toml") if _ENVIRONMENT_NAME.match(p.stem))
    return order_by_promotion({name: _promote_from_of(folder / f"{name}.toml") for name in names})


def _promote_from_of(path: Path) -> str | None:
    value = _top_level_value(path, "promote_from")
    return value if isinstance(value, str) and value else None


def _top_level_value(path: Path, key: str) -> object:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")).get(key)
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError, RecursionError):
        return None  # the file's own error is reported when that environment is loaded


def order_by_promotion(promote_from: dict[str, str | None]) -> list[str]:
    """Environments sorted so that each comes after the one it is promoted from."""
    ordered: list[str] = []

    def depth(name: str, seen: frozenset[str] = frozenset()) -> int:
        source = promote_from.get(name)
        if source is None or source not in promote_from or name in seen:
            return 0
        return 1 + depth(source, seen | {name})

    for name in sorted(promote_from, key=lambda n: (depth(n), n)):
        ordered.append(name)
    return ordered


def read_environment_file(name: str) -> tuple[Path, dict[str, Any]]:
    """The parsed TOML of environment ``name``; a clear error for a bad name or a bad file."""
    folder = find_environments_dir()
    valid = environment_names(folder)
    if not isinstance(name, str) or not _ENVIRONMENT_NAME.match(name) or name not in valid:
        shown = name if isinstance(name, str) and len(name) <= 40 else f"{str(name)[:40]}..."
        raise ConfigError(
            f"unknown environment {shown!r}; valid environments: {', '.join(valid)} (defined in {folder})"
        )
    path = folder / f"{name}.toml"
    try:
        return path, tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; save it as UTF-8 TOML") from None
    except RecursionError:
        raise ConfigError(f"{path} is not valid TOML: it nests deeper than the parser goes") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None


class FileSettings(BaseSettings):
    """Settings read from an environment file and nothing else."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment files are the only source besides explicit arguments: a stray variable in
        # a shell must not silently change how prod is migrated.
        return (init_settings,)


class DatabaseSettings(FileSettings):
    """What the toolkit needs to know about one environment's database."""

    # Unknown keys are refused (see _refuse_unknown_keys): a misspelt `protectd = true` must not
    # leave prod unprotected without a word.
    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    name: str
    database_url_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    # The variable of a second URL, straight to PostgreSQL, for the toolkit (migrations and
    # their session-level lock) when database_url_env's goes through a pooler; the API keeps
    # database_url_env's. Unset variable: the toolkit uses database_url_env's too.
    direct_url_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$")
    # What sits on database_url_env's URL: PostgreSQL itself, or a pooler in PgBouncer's
    # session or transaction pool_mode (the API then keeps no prepared statements).
    pooler_mode: Literal["none", "session", "transaction"] = "none"
    promote_from: str | None = None
    protected: bool = False
    embedded_fallback: bool = False
    lock_timeout: str = "5s"
    statement_timeout: str = "0"
    lock_wait_seconds: float = Field(default=120.0, ge=0)
    lock_retries: int = Field(default=3, ge=0, le=20)
    retry_backoff_seconds: float = Field(default=2.0, ge=0)
    # Roles whose privileges this environment's own setup grants (an API role, a reporting role):
    # drift detection leaves their grants out instead of calling them hand-made changes.
    drift_ignore_roles: tuple[str, ...] = ()

    @field_validator("promote_from", "direct_url_env", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return value or None

    @field_validator("lock_timeout", "statement_timeout")
    @classmethod
    def _postgres_duration(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError("use a PostgreSQL duration such as '0', '500ms', '5s', '2min' or '1h'")
        return value

    @property
    def url_is_set(self) -> bool:
        return self.url_variable() is not None

    def url_variable(self) -> Variable | None:
        """Where this environment's URL comes from (see :func:`environment_url`); None: unset."""
        return environment_url(
            self.name, self.database_url_env, reads_generic=self.reads_generic_url, dotenv=dotenv_file()
        )

    @property
    def reads_generic_url(self) -> bool:
        """Only the developer's environment (the one with the embedded fallback) reads the
        generic ``DATABASE_URL``, and only when its own variable is unset."""
        return self.embedded_fallback and self.database_url_env != GENERIC_URL_VARIABLE

    def configured_url(self) -> URL | None:
        """The URL from the environment variable (or ``.env``), or None when it is unset."""
        found = self.url_variable()
        return parse_url(found.value, source=found.describe()) if found else None

    def configured_direct_url(self) -> URL | None:
        """The direct URL (``direct_url_env``) when that variable is set, else None."""
        found = lookup(self.direct_url_env, dotenv_file()) if self.direct_url_env else None
        return parse_url(found.value, source=found.describe()) if found else None

    @property
    def url_source(self) -> str:
        """Where this environment's URL comes from, for messages: ``STAGING_DATABASE_URL``,
        ``DATABASE_URL (from .env)``; the environment's own variable when it is unset."""
        found = self.url_variable()
        return found.describe() if found else self.database_url_env

    @property
    def toolkit_url_variable(self) -> str:
        """The variable the toolkit's URL comes from, for messages: the direct one when it is
        set, else :attr:`url_source`."""
        if self.direct_url_env and lookup(self.direct_url_env, dotenv_file()) is not None:
            return self.direct_url_env
        return self.url_source

    def missing_url_error(self) -> ConfigError:
        return ConfigError(
            generic_url_refusal(self.name, self.database_url_env, dotenv_file())
            or f"{self.database_url_env} is not set, and the {self.name} environment has no "
            f"embedded fallback; export {self.database_url_env}={EXAMPLE_URL}"
        )


# Tables an environment file may hold besides its top-level database settings; each is read
# and checked by its owner (``[api]``: agent_api.settings).
KNOWN_TABLES = frozenset({"api"})


def _refuse_unknown_keys(path: Path, data: dict[str, Any]) -> None:
    valid = sorted(set(DatabaseSettings.model_fields) - {"name"})
    for key, value in data.items():
        if isinstance(value, dict):
            if key not in KNOWN_TABLES:
                raise ConfigError(
                    f"{path} has an unknown table [{key}]; valid tables: "
                    + ", ".join(f"[{table}]" for table in sorted(KNOWN_TABLES))
                )
        elif key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{path} has an unknown setting {key!r}{hint}; valid settings: {', '.join(valid)}. "
                "Nothing was run: fix the file and run the command again"
            )


@cache
def _load_cached(name: str, folder: str) -> DatabaseSettings:
    path, data = read_environment_file(name)
    _refuse_unknown_keys(path, data)
    top_level = {k: v for k, v in data.items() if not isinstance(v, dict)}
    try:
        settings = DatabaseSettings(name=name, **top_level)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"{path} has invalid settings: {problems}") from None
    _refuse_shared_variable(settings, path)
    return settings


def _refuse_shared_variable(settings: DatabaseSettings, path: Path) -> None:
    """Two environments reading one URL variable would let a command for one (staging, not
    protected, no promotion gate) run against the other's database (prod)."""
    if settings.direct_url_env == settings.database_url_env:
        raise ConfigError(
            f"{path} names {settings.database_url_env} as both database_url_env and direct_url_env; "
            "direct_url_env is a second variable (the URL straight to PostgreSQL, for migrations): "
            "name another one, or remove it"
        )
    if settings.protected and settings.embedded_fallback:
        raise ConfigError(
            f"{path} says protected = true and embedded_fallback = true: a protected environment "
            "never falls back to the embedded PostgreSQL (or to DATABASE_URL); remove embedded_fallback"
        )
    mine = {settings.database_url_env, settings.direct_url_env} - {None}
    if settings.reads_generic_url:
        mine.add(GENERIC_URL_VARIABLE)  # dev's fallback: nobody else may read it
    for other in sorted(path.parent.glob("*.toml")):
        if other.stem == settings.name or not _ENVIRONMENT_NAME.match(other.stem):
            continue
        theirs = {_top_level_value(other, "database_url_env"), _top_level_value(other, "direct_url_env")}
        if _top_level_value(other, "embedded_fallback") is True:
            theirs.add(GENERIC_URL_VARIABLE)
        for variable in sorted(str(v) for v in mine & theirs):
            raise ConfigError(
                f"{path.name} and {other.name} both read {variable}: each "
                "environment needs its own URL variable, or a command for one would run against "
                f"the other's database; fix database_url_env (or direct_url_env) in {path}"
            )


def load_settings(name: str) -> DatabaseSettings:
    """The settings of environment ``name`` (``dev``, ``staging``, ``prod``...); every command
    on that environment refuses a file with an unknown key (exit 2). Another environment's
    broken file does not stop this one (commands that read every environment, such as
    db.status, refuse it too)."""
    return _load_cached(name, str(find_environments_dir().resolve()))


def load_all_settings() -> list[DatabaseSettings]:
    """Every environment's settings, in promotion order."""
    return [load_settings(name) for name in environment_names()]


def read_table(name: str, table: str) -> dict[str, Any]:
    """One table of an environment file (``[api]`` for the API's settings)."""
    _, data = read_environment_file(name)
    value = data.get(table, {})
    if not isinstance(value, dict):
        raise ConfigError(f"environments/{name}.toml: [{table}] must be a table")
    return value


__all__ = [
    "DatabaseSettings",
    "environment_names",
    "find_environments_dir",
    "load_all_settings",
    "load_settings",
    "project_root",
    "read_table",
]
