"""The JWT signing key: from the variable the environment file names (``[api] jwt_secret_env``).

Outside dev the variable is required, and a short or placeholder key is refused at startup with
a message naming the variable, so a misconfigured deploy fails before it serves a request. In
dev, when the variable is unset, a random key is generated once and kept in a git-ignored file,
so every uvicorn worker (and every restart) signs and verifies with the same key, and no key
ever lives in the repository.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
from collections import Counter
from pathlib import Path

from agent_api.settings import ApiSettings
from agent_db.errors import ConfigError
from agent_db.paths import dotenv_file, project_root
from agent_db.variables import value_of

MIN_KEY_LENGTH = 32
MIN_ENTROPY_BITS = 128
DEV_ENVIRONMENT = "dev"
DEV_KEY_FILE = "dev-jwt-secret"
_PLACEHOLDERS = ("changethis", "changeme", "change-me", "secret", "example", "xxxxxxxx")


def resolve_signing_key(settings: ApiSettings, *, dev_key_dir: Path | None = None) -> str:
    """The key the API signs tokens with; :class:`ConfigError` when it is missing or weak."""
    variable = settings.jwt_secret_env
    key = value_of(variable, dotenv_file())  # the environment, then .env
    if key.strip():
        _check_strength(key, variable, settings.environment)
        return key
    if settings.environment != DEV_ENVIRONMENT:
        raise ConfigError(
            f"{variable} is not set: the {settings.environment} API needs a JWT signing key of at "
            f"least {MIN_KEY_LENGTH} characters; generate one with "
            "'python -c \"import secrets; print(secrets.token_urlsafe(48))\"' and export "
            f"{variable} from your secret store"
        )
    return dev_signing_key(dev_key_dir or project_root() / ".cache")


def _check_strength(key: str, variable: str, environment: str) -> None:
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"{variable} is too short ({len(key)} characters): the {environment} API needs a "
            f"JWT signing key of at least {MIN_KEY_LENGTH} characters"
        )
    if environment == DEV_ENVIRONMENT:
        return
    lowered = key.lower()
    if any(word in lowered for word in _PLACEHOLDERS):
        raise ConfigError(
            f"{variable} looks like a placeholder; set a random key of at least {MIN_KEY_LENGTH} characters"
        )
    if estimated_entropy_bits(key) < MIN_ENTROPY_BITS:
        raise ConfigError(
            f"{variable} is not random enough (about {estimated_entropy_bits(key):.0f} bits; the "
            f"{environment} API needs {MIN_ENTROPY_BITS}): a repeated or guessable key signs tokens "
            "anyone can forge; generate one with "
            "'python -c \"import secrets; print(secrets.token_urlsafe(48))\"'"
        )


def estimated_entropy_bits(key: str) -> float:
    """A conservative estimate of a key's randomness: its length times the Shannon entropy of
    its characters, and nothing for a key that is a short pattern repeated ('ab' * 20). A key
    from ``secrets.token_urlsafe(48)`` scores about 350; 32 times 'a' scores 0."""
    for period in range(1, 17):
        if len(key) > period and key == (key[:period] * (len(key) // period + 1))[: len(key)]:
            return 0.0
    counts = Counter(key)
    per_character = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    return per_character * len(key)


def dev_signing_key(folder: Path) -> str:
    """The dev key stored in ``folder``; created on first use, atomically, so workers that
    start together all end up reading the same key."""
    path = folder / DEV_KEY_FILE
    existing = _read_key(path)
    if existing:
        return existing
    folder.mkdir(parents=True, exist_ok=True)
    candidate = folder / f".{DEV_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    try:
        # link() fails if the file exists: the first worker's key wins, complete or not at all.
        with contextlib.suppress(FileExistsError):
            os.link(candidate, path)
    finally:
        candidate.unlink(missing_ok=True)
    key = _read_key(path)
    if not key:
        raise ConfigError(f"{path} holds no usable key; delete it and start again")
    return key


def _read_key(path: Path) -> str | None:
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read the dev JWT key {path}: {error}") from None
    return key if len(key) >= MIN_KEY_LENGTH else None
