"""Registration and login (OAuth2 password flow issuing expiring JWTs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Select, select

from agent_api.app_state import app_state
from agent_api.client_address import client_address
from agent_api.database import SessionDep
from agent_api.errors import ApiError, error_responses, unauthorized
from agent_api.login_throttle import account_key, address_key
from agent_api.schemas.common import NoNul
from agent_api.schemas.users import Token, UserCreate, UserRead
from agent_api.security import (
    create_access_token,
    hash_password,
    verify_password,
    waste_a_verification,
)
from agent_db.models import User

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginForm(BaseModel):
    """OAuth2 password grant, form-encoded (what Swagger UI's "Authorize" sends)."""

    model_config = ConfigDict(extra="ignore")

    username: Annotated[
        str,
        StringConstraints(min_length=1, max_length=255),
        NoNul,
        Field(description="Username or email"),
    ]
    password: Annotated[str, StringConstraints(min_length=1, max_length=128), NoNul]
    grant_type: Annotated[str | None, Field(pattern=r"^password$")] = None


@router.post(
    "/register",
    status_code=201,
    response_model=UserRead,
    summary="Create an account",
    responses=error_responses(409),
)
async def register(body: UserCreate, session: SessionDep) -> User:
    """Anyone may register; the account is active and not a superuser. A taken email or
    username is a 409."""
    user = User(
        email=body.email,
        username=body.username,
        hashed_password=await hash_password(body.password),
    )
    session.add(user)
    await session.flush()
    return user


@router.post(
    "/login",
    response_model=Token,
    summary="Exchange username (or email) and password for an access token",
    responses=error_responses(401, 403, 429),
)
async def login(request: Request, session: SessionDep, form: Annotated[LoginForm, Form()]) -> Token:
    """Costs one Argon2 verification (~0.1 s) by design, whether or not the account exists.
    A deactivated account gets 403 once its password is proven.

    After 5 failed attempts for one account (by username or email alike) from one address, or
    for unknown names from one address, each further attempt must wait 1 s, 2 s, 4 s... (at
    most 15 min) after the last failure; earlier ones get 429 with ``Retry-After``. The count
    is shared by every API process. A successful login clears it; the account from other
    addresses and other accounts are never slowed."""
    state = app_state(request.app)
    throttle, engine = state.login_throttle, state.database.engine
    address = client_address(request, state.trusted_proxies)
    user = await session.scalar(_lookup(form.username))
    key = account_key(user.id, address) if user is not None else address_key(address)
    wait = await throttle.begin(engine, key)
    if wait is not None:
        raise ApiError(
            429,
            "too_many_attempts",
            f"too many failed logins for this account from your address; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    try:
        token = await _authenticate(request, user, form)
    except ApiError as error:
        if error.status_code != 401:
            await throttle.refund(engine, key)  # proven password (inactive account): not a guess
        raise
    except Exception:
        await throttle.refund(engine, key)  # the database failed, not the caller: no penalty
        raise
    await throttle.succeeded(engine, key)
    return token


def _lookup(name: str) -> Select[User]:
    identifier = name.strip()
    if "@" in identifier:
        return select(User).where(User.email == identifier.lower())
    return select(User).where(User.username == identifier)


async def _authenticate(request: Request, user: User | None, form: LoginForm) -> Token:
    if user is None:
        await waste_a_verification(form.password)
        raise unauthorized("incorrect username or password", "invalid_credentials")
    valid, new_hash = await verify_password(form.password, user.hashed_password)
    if not valid:
        raise unauthorized("incorrect username or password", "invalid_credentials")
    if not user.is_active:
        raise ApiError(403, "inactive_user", "this account is deactivated")
    if new_hash:
        user.hashed_password = new_hash  # Argon2 parameters moved on: store the stronger hash
    state = app_state(request.app)
    token = create_access_token(
        user.id,
        user.hashed_password,
        key=state.signing_key,
        minutes=state.settings.access_token_minutes,
    )
    return Token(access_token=token.token, expires_in=token.expires_in)
