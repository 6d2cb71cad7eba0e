"""The caller's own account, and account management for superusers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy import select

from agent_api.app_state import app_state
from agent_api.database import SessionDep
from agent_api.deps import CurrentUser, Superuser
from agent_api.errors import ApiError, conflict, error_responses, not_found
from agent_api.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, fetch_page
from agent_api.patching import apply_patch
from agent_api.schemas.common import MAX_INT
from agent_api.schemas.users import (
    PasswordChange,
    Token,
    UserAdminUpdate,
    UserPage,
    UserRead,
    UserUpdate,
)
from agent_api.security import create_access_token, hash_password, verify_password
from agent_db.models import User

router = APIRouter(prefix="/users", tags=["users"], responses=error_responses(401, 403))

UserId = Annotated[int, Path(ge=1, le=MAX_INT, description="The user's id")]


@router.get("/me", response_model=UserRead, summary="Your account")
async def read_me(user: CurrentUser) -> User:
    return user


@router.patch(
    "/me",
    response_model=UserRead,
    summary="Change your email or username",
    responses=error_responses(409),
)
async def update_me(body: UserUpdate, user: CurrentUser, session: SessionDep) -> User:
    return await apply_patch(session, user, body)


@router.post(
    "/me/password",
    response_model=Token,
    summary="Change your password",
    responses=error_responses(400),
)
async def change_password(
    body: PasswordChange, user: CurrentUser, session: SessionDep, request: Request
) -> Token:
    """Needs the current password. Every token issued before stops working; use the one
    returned here."""
    valid, _ = await verify_password(body.current_password, user.hashed_password)
    if not valid:
        raise ApiError(400, "incorrect_password", "the current password is not correct")
    user.hashed_password = await hash_password(body.new_password)
    await session.flush()
    state = app_state(request.app)
    token = create_access_token(
        user.id,
        user.hashed_password,
        key=state.signing_key,
        minutes=state.settings.access_token_minutes,
    )
    return Token(access_token=token.token, expires_in=token.expires_in)


@router.get("", response_model=UserPage, summary="List users (superusers)")
async def list_users(
    _: Superuser,
    session: SessionDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> UserPage:
    users, next_cursor = await fetch_page(
        session, select(User), User.id, kind="u", cursor=cursor, limit=limit
    )
    return UserPage(items=[UserRead.model_validate(user) for user in users], next_cursor=next_cursor)


async def _user_or_404(session: SessionDep, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise not_found("user")
    return user


@router.get(
    "/{user_id}",
    response_model=UserRead,
    summary="Read a user (superusers)",
    responses=error_responses(404),
)
async def read_user(user_id: UserId, _: Superuser, session: SessionDep) -> User:
    return await _user_or_404(session, user_id)


@router.patch(
    "/{user_id}",
    response_model=UserRead,
    summary="Update a user (superusers)",
    responses=error_responses(404, 409),
)
async def update_user(user_id: UserId, body: UserAdminUpdate, admin: Superuser, session: SessionDep) -> User:
    """A superuser cannot deactivate or demote themselves (409): someone must stay able to
    manage accounts."""
    user = await _user_or_404(session, user_id)
    if user.id == admin.id and (body.is_active is False or body.is_superuser is False):
        raise conflict("you cannot deactivate or demote yourself", "self_lockout")
    return await apply_patch(session, user, body)


@router.post(
    "/{user_id}/deactivate",
    response_model=UserRead,
    summary="Deactivate a user (superusers)",
    responses=error_responses(404, 409),
)
async def deactivate_user(user_id: UserId, admin: Superuser, session: SessionDep) -> User:
    """The account stays, with its data; it can no longer log in and its tokens stop working.
    Reactivate with ``PATCH /users/{user_id}`` and ``{"is_active": true}``."""
    user = await _user_or_404(session, user_id)
    if user.id == admin.id:
        raise conflict("you cannot deactivate yourself", "self_lockout")
    user.is_active = False
    await session.flush()
    return user
