"""Request dependencies: who is calling. All async: a sync dependency costs a thread hop.

The current user costs one HMAC check and one primary-key read; nothing on this path hashes a
password. Tokens of deactivated users, of deleted users and from before a password change stop
working at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam, select

from agent_api.app_state import app_state
from agent_api.database import SessionDep
from agent_api.errors import ApiError, unauthorized
from agent_api.security import InvalidToken, decode_access_token, password_fingerprint
from agent_db.logs import add_fields
from agent_db.models import User

TOKEN_URL = "/api/v1/auth/login"  # noqa: S105 (a URL, not a secret)

# auto_error=False: a missing header is reported by current_user, in the API's error shape.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)

# Built once: ``session.get`` builds its statement on every call, which cost ~150 us of CPU per
# authenticated request more than running this one (bench/RESULTS.md, section 1). In a fresh
# request session the two are the same read (nothing is in the identity map yet).
_USER_BY_ID = select(User).where(User.id == bindparam("user_id"))


async def current_user(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> User:
    if not token:
        raise unauthorized("not authenticated: send 'Authorization: Bearer <token>'")
    try:
        claims = decode_access_token(token, key=app_state(request.app).signing_key)
    except InvalidToken:
        raise unauthorized("the token is invalid or has expired", "invalid_token") from None
    user = (await session.execute(_USER_BY_ID, {"user_id": claims.user_id})).scalar_one_or_none()
    add_fields(user_id=claims.user_id)  # on the request's log lines from here on
    if user is None or password_fingerprint(user.hashed_password) != claims.password_fingerprint:
        raise unauthorized("the token is invalid or has expired", "invalid_token")
    if not user.is_active:
        raise ApiError(403, "inactive_user", "this account is deactivated")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def current_superuser(user: CurrentUser) -> User:
    if not user.is_superuser:
        raise ApiError(403, "forbidden", "only superusers may do this")
    return user


Superuser = Annotated[User, Depends(current_superuser)]
