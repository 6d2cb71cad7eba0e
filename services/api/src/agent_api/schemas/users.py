"""Users: registration, the caller's own profile, and what superusers manage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, EmailStr, Field, StringConstraints

from agent_api.schemas.common import InputModel, NoNul, OutputModel, Page, PatchModel

Email = Annotated[
    EmailStr,
    AfterValidator(str.lower),
    Field(max_length=255, description="Stored lower-cased; unique"),
]
Username = Annotated[
    str,
    StringConstraints(min_length=3, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$"),
    Field(description="3-50 letters, digits, `_`, `.` or `-`; unique"),
]
Password = Annotated[
    str,
    StringConstraints(min_length=8, max_length=128),
    NoNul,
    Field(description="8-128 characters"),
]
AnyPassword = Annotated[str, StringConstraints(min_length=1, max_length=128), NoNul]


class UserCreate(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "ada@example.com", "username": "ada", "password": "correct horse 42"}]
        }
    )

    email: Email
    username: Username
    password: Password


class UserRead(OutputModel):
    """A user as the API shows it: never the password hash."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "email": "ada@example.com",
                    "username": "ada",
                    "is_active": True,
                    "is_superuser": False,
                    "created_at": "2026-11-25T04:00:00Z",
                    "updated_at": "2026-11-25T04:00:00Z",
                }
            ]
        }
    )

    id: int
    email: str
    username: str
    is_active: bool
    is_superuser: bool
    created_at: datetime
    updated_at: datetime


class UserPage(Page[UserRead]):
    pass


class UserUpdate(PatchModel):
    """Changes to your own profile. Omitted (or null) fields stay as they are."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"username": "ada_lovelace"}]})

    email: Email | None = None
    username: Username | None = None


class UserAdminUpdate(UserUpdate):
    """What a superuser may change on any account. Omitted (or null) fields stay as they are."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"is_active": False}]})

    is_active: bool | None = None
    is_superuser: bool | None = None


class PasswordChange(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"current_password": "correct horse 42", "new_password": "battery 4 staple"}]
        }
    )

    current_password: AnyPassword
    new_password: Password


class Token(OutputModel):
    """An OAuth2 bearer token: send it as ``Authorization: Bearer <access_token>``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"access_token": "eyJhbGciOi...", "token_type": "bearer", "expires_in": 3600}]
        }
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth2 token type)
    expires_in: int = Field(description="Seconds until the token expires")
