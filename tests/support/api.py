"""What the API tests share: the signing key and password of the users the fixtures create,
the users themselves, unique names, and the shape of an error body."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx
from pwdlib import PasswordHash

# Random-looking (the staging checks refuse a repeated or guessable key), fixed for the suite.
SIGNING_KEY = "test-signing-key-Vq3xN8c2pL7wZ4kR9tY6mB1sD5fH0jQe"
PASSWORD = "correct horse battery"


@cache
def password_hash() -> str:
    """One Argon2 hash of PASSWORD for every user the fixtures create (~0.1 s, once)."""
    return PasswordHash.recommended().hash(PASSWORD)


@dataclass(frozen=True)
class ApiUser:
    id: int
    username: str
    email: str
    headers: dict[str, str]


MakeUser = Callable[..., Coroutine[Any, Any, ApiUser]]
"""The ``make_user`` fixture: ``await make_user(superuser=..., active=...)``."""


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(5)}"


def error_code(response: httpx.Response) -> str:
    """The ``code`` of an error response, checking the shape on the way."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    assert isinstance(body["error"]["details"], list)
    return str(body["error"]["code"])


def error_without_request_id(response: httpx.Response) -> dict[str, Any]:
    """An error body without its ``request_id`` (which differs on every request): what two
    answers must share to be indistinguishable."""
    body: dict[str, Any] = response.json()
    body["error"].pop("request_id", None)
    return body
