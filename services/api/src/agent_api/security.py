"""Passwords (Argon2 through pwdlib) and access tokens (JWT, HS256).

Argon2 is deliberately slow (~0.1 s per hash on this machine), so hashing and verification run
in a worker thread (argon2-cffi releases the GIL) and only on register, login and password
changes: never on the path of an authenticated request. Tokens are cheap to check: an HMAC and
a few claims, then one primary-key read of the user.

A token carries a short fingerprint of the user's password hash, so changing the password
revokes every token issued before, at no extra query: the user row is loaded anyway.

A client sends the same token on every request until it expires, so a verified token is
remembered (by its exact text and the key) and only its expiry is checked again: PyJWT's
decoding and claim checks cost ~35 us, a tenth of an authenticated read (bench/RESULTS.md).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from functools import cache, lru_cache

import jwt
from anyio import to_thread
from pwdlib import PasswordHash

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "pwd"]


@cache
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


async def hash_password(password: str) -> str:
    return await to_thread.run_sync(_hasher().hash, password)


async def verify_password(password: str, hashed: str) -> tuple[bool, str | None]:
    """Whether ``password`` matches, and a new hash when the stored one uses old parameters."""
    return await to_thread.run_sync(_hasher().verify_and_update, password, hashed)


@cache
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


async def waste_a_verification(password: str) -> None:
    """Spend what a real verification costs, so a login for an unknown user takes as long as
    one with a wrong password and response times do not reveal which accounts exist."""
    dummy = await to_thread.run_sync(_dummy_hash)
    await to_thread.run_sync(_hasher().verify, password, dummy)


def password_fingerprint(hashed_password: str) -> str:
    """12 hex characters derived from the password hash: identifies the password generation,
    reveals nothing usable (the hash itself is salted Argon2)."""
    return hashlib.sha256(hashed_password.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int


def create_access_token(
    user_id: int, hashed_password: str, *, key: str, minutes: int, now: float | None = None
) -> AccessToken:
    issued = int(now if now is not None else time.time())
    lifetime = minutes * 60
    claims = {
        "sub": str(user_id),
        "iat": issued,
        "exp": issued + lifetime,
        "pwd": password_fingerprint(hashed_password),
    }
    return AccessToken(jwt.encode(claims, key, algorithm=ALGORITHM), lifetime)


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    password_fingerprint: str
    expires_at: float = 0.0


class InvalidToken(Exception):
    """The token is malformed, badly signed, expired or missing a claim."""


VERIFIED_TOKENS_REMEMBERED = 4096


def decode_access_token(token: str, *, key: str, now: float | None = None) -> TokenClaims:
    """The claims of a valid token; :class:`InvalidToken` otherwise.

    Only successful verifications are remembered (an invalid token is checked in full every
    time), and a remembered token is refused once it expires, exactly as PyJWT would."""
    claims = _verify(token, key)
    if claims.expires_at <= (now if now is not None else time.time()):
        raise InvalidToken("Signature has expired")
    return claims


@lru_cache(maxsize=VERIFIED_TOKENS_REMEMBERED)
def _verify(token: str, key: str) -> TokenClaims:
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": _REQUIRED_CLAIMS})
        user_id = int(claims["sub"])
        fingerprint = str(claims["pwd"])
        expires_at = float(claims["exp"])
    except (jwt.PyJWTError, ValueError, TypeError) as error:
        raise InvalidToken(str(error)) from None
    if not 0 < user_id < 2**31:
        raise InvalidToken("subject out of range")
    return TokenClaims(user_id, fingerprint, expires_at)
