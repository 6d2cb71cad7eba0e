"""One JSON shape for every error the API returns, and the handlers that produce it.

Every 4xx and 5xx body is ``{"error": {"code": "...", "message": "...", "details": [...]}}``:
clients branch on the stable ``code``, show ``message`` to people, and read ``details`` for
field-level problems (validation). Database errors that bad input can still provoke (a unique
violation in a race, a value PostgreSQL refuses) become 409 or 422 here, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent_db.database.pg_errors import is_connection_lost

logger = logging.getLogger("agent_api")


class ErrorDetail(BaseModel):
    """One problem with one part of the request (validation errors have one per field)."""

    loc: list[str | int] = Field(
        default_factory=list, description="Where: body, query, path or header, then the field"
    )
    msg: str = Field(description="What is wrong, for people")
    type: str = Field(description="A stable machine-readable kind, e.g. `string_too_long`")


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code, e.g. `not_found`")
    message: str = Field(description="What went wrong, for people")
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"error": {"code": "not_found", "message": "agent not found", "details": []}},
                {
                    "error": {
                        "code": "validation_error",
                        "message": "the request is not valid",
                        "details": [
                            {
                                "loc": ["body", "name"],
                                "msg": "String should have at least 1 character",
                                "type": "string_too_short",
                            }
                        ],
                    }
                },
            ]
        }
    )

    error: ErrorBody


class ApiError(Exception):
    """An error the API reports on purpose; raise it from handlers and dependencies."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        details: Sequence[ErrorDetail] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})


def not_found(what: str) -> ApiError:
    """404 for anything missing *or owned by someone else*: never confirm another user's data."""
    return ApiError(404, "not_found", f"{what} not found")


def conflict(message: str, code: str = "conflict") -> ApiError:
    return ApiError(409, code, message)


BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def unauthorized(message: str, code: str = "not_authenticated") -> ApiError:
    return ApiError(401, code, message, headers=BEARER_CHALLENGE)


# Codes for errors raised by Starlette/FastAPI themselves (routing, body parsing, auth schemes).
_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_attempts",
    500: "internal_error",
    503: "unavailable",
}

# Friendly messages for the unique constraints a request can run into.
_UNIQUE_MESSAGES = {
    "ix_users_email": ("email_taken", "a user with this email already exists"),
    "ix_users_username": ("username_taken", "a user with this username already exists"),
    "agents_owner_id_name_key": ("agent_name_taken", "you already have an agent with this name"),
    "tools_name_key": ("tool_name_taken", "a tool with this name already exists"),
}


def error_json(
    status_code: int,
    code: str,
    message: str,
    details: Sequence[ErrorDetail] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {
        "error": {
            "code": code,
            "message": message,
            "details": [detail.model_dump() for detail in details],
        }
    }
    return JSONResponse(body, status_code=status_code, headers=dict(headers or {}))


def _status_message(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase.lower()
    except ValueError:
        return "error"


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_json(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _status_message(exc.status_code)
    message = detail[:1].lower() + detail[1:]
    if exc.status_code == 404 and detail == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return error_json(exc.status_code, code, message, headers=exc.headers)


def _location(loc: Sequence[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only loc/msg/type: ``input`` and ``ctx`` can hold anything the client sent (bytes, huge
    # strings) and exceptions that are not JSON.
    details = [
        ErrorDetail(
            loc=_location(error.get("loc", ())),
            msg=str(error.get("msg", "")),
            type=str(error.get("type", "value_error")),
        )
        for error in exc.errors()
    ]
    return error_json(422, "validation_error", "the request is not valid", details)


def _constraint_name(error: DBAPIError) -> str | None:
    """The constraint a PostgreSQL error names (asyncpg keeps it on the original exception)."""
    current: BaseException | None = error.orig
    while current is not None:
        name = getattr(current, "constraint_name", None)
        if name:
            return str(name)
        current = current.__cause__
    return None


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    constraint = _constraint_name(exc)
    if sqlstate == "23505":
        code, message = _UNIQUE_MESSAGES.get(
            constraint or "", ("conflict", "this conflicts with an existing resource")
        )
        return error_json(409, code, message)
    if sqlstate == "23503":
        return error_json(409, "conflict", "a resource this refers to no longer exists")
    if sqlstate.startswith("23") or sqlstate.startswith("22"):
        # Check violations and data exceptions (out of range, bad encoding): invalid input that
        # slipped past validation. 422 rather than a 500 that blames the server.
        logger.warning("database refused a value (%s, %s)", sqlstate, constraint)
        return error_json(422, "invalid_value", "a value was refused by the database")
    if sqlstate in ("40001", "40P01", "55P03", "57014"):
        busy = "the database is busy; retry the request"
        return error_json(503, "unavailable", busy, headers={"Retry-After": "1"})
    if sqlstate in _SCHEMA_NOT_READY:
        # A table or column this code needs is not there (yet): the migrations have not run,
        # or are running. Not the client's fault and not a bug: retry once /ready says 200.
        logger.warning("schema not ready on %s %s (%s)", request.method, request.url.path, sqlstate)
        message = "the database schema is not ready for this version of the API; retry shortly"
        return error_json(503, "schema_not_ready", message, headers={"Retry-After": "5"})
    if sqlstate.startswith("28") or sqlstate == "3D000":
        # Bad credentials or no such database: a deployment's configuration, not the request.
        logger.error(
            "the database refused the API's connection (%s: %s); check the environment's "
            "database URL variable",
            sqlstate,
            type(exc.orig).__name__,
        )
        return await _database_unreachable(request, exc)
    if is_connection_lost(exc):
        return await _database_unreachable(request, exc)
    return await _internal_error(request, exc)


# undefined table, column, function, object: what a request meets on a half-migrated schema.
_SCHEMA_NOT_READY = frozenset({"42P01", "42703", "42883", "42704"})


async def _database_unreachable(request: Request, exc: Exception) -> JSONResponse:
    """The database refused or dropped the connection (restart, failover, connection limit):
    503 with Retry-After, and one log line without a traceback wall."""
    logger.warning("database unreachable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    message = "the database is unavailable; retry the request"
    return error_json(503, "database_unavailable", message, headers={"Retry-After": "2"})


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    details: list[ErrorDetail] = []
    if getattr(request.app.state, "debug_errors", False):
        details.append(ErrorDetail(msg=str(exc)[:500], type=type(exc).__name__))
    return error_json(500, "internal_error", "internal server error", details)


def install_error_handlers(app: FastAPI, *, debug: bool = False) -> None:
    """Register the handlers; ``debug`` adds the exception's type and text to 500 bodies (dev
    only: they can reveal internals)."""
    app.state.debug_errors = debug
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    # asyncpg raises plain OSErrors (refused, reset, timed out) when it cannot connect.
    app.add_exception_handler(OSError, _database_unreachable)
    app.add_exception_handler(Exception, _internal_error)


# The documented error responses, for ``responses=`` on routers and routes.
def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": ErrorResponse, "description": _status_message(status).capitalize()}
        for status in statuses
    }
