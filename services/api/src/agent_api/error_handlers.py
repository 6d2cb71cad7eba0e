"""The exception handlers that turn every failure into the API's one error shape (``errors``).

Database errors that bad input can still provoke (a unique violation in a race, a value
PostgreSQL refuses) become 409 or 422 here, never a 500; a database that is busy, half-migrated
or gone becomes a 503 with ``Retry-After``. What a database error means comes from the
toolkit's one SQLSTATE classification (``agent_db.database.pg_errors``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent_api.app_state import app_state
from agent_api.errors import ApiError, ErrorDetail, error_json, status_message
from agent_db.database.pg_errors import Failure, classify, constraint_name, is_unavailable, sqlstate

logger = logging.getLogger("agent_api")

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


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_json(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else status_message(exc.status_code)
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


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    failure = classify(exc)
    if failure is Failure.UNIQUE_VIOLATION:
        code, message = _UNIQUE_MESSAGES.get(
            constraint_name(exc) or "", ("conflict", "this conflicts with an existing resource")
        )
        return error_json(409, code, message)
    if failure is Failure.FOREIGN_KEY_VIOLATION:
        return error_json(409, "conflict", "a resource this refers to no longer exists")
    if failure is Failure.INVALID_VALUE:
        # Check violations and data exceptions (out of range, bad encoding): invalid input that
        # slipped past validation. 422 rather than a 500 that blames the server.
        logger.warning("database refused a value (%s, %s)", sqlstate(exc), constraint_name(exc))
        return error_json(422, "invalid_value", "a value was refused by the database")
    if failure is Failure.CONTENTION:
        busy = "the database is busy; retry the request"
        return error_json(503, "unavailable", busy, headers={"Retry-After": "1"})
    if failure is Failure.SCHEMA_MISSING:
        # A table or column this code needs is not there (yet): the migrations have not run,
        # or are running. Not the client's fault and not a bug: retry once /ready says 200.
        logger.warning("schema not ready on %s %s (%s)", request.method, request.url.path, sqlstate(exc))
        message = "the database schema is not ready for this version of the API; retry shortly"
        return error_json(503, "schema_not_ready", message, headers={"Retry-After": "5"})
    if failure is Failure.ACCESS_REFUSED:
        # Bad credentials or no such database: a deployment's configuration, not the request.
        logger.error(
            "the database refused the API's connection (%s: %s); check the environment's "
            "database URL variable",
            sqlstate(exc),
            type(exc.orig).__name__,
        )
        return await _database_unreachable(request, exc)
    if failure in (Failure.CONNECTION_LOST, Failure.OUT_OF_RESOURCES) or is_unavailable(exc):
        return await _database_unreachable(request, exc)
    return await _internal_error(request, exc)


async def _lost_transaction(request: Request, exc: Exception) -> JSONResponse:
    """A connection lost inside a transaction surfaces as ``PendingRollbackError`` on its next
    use: the database went away, not a bug."""
    if is_unavailable(exc):
        return await _database_unreachable(request, exc)
    return await _internal_error(request, exc)


async def _database_unreachable(request: Request, exc: Exception) -> JSONResponse:
    """The database refused or dropped the connection (restart, failover, starting up,
    connection limit, out of a resource), or no pooled connection became free in time: 503 with
    Retry-After, and one log line without a traceback wall."""
    state = sqlstate(exc)
    kind = f"{type(exc).__name__}{f' (SQLSTATE {state})' if state else ''}"
    logger.warning("database unreachable on %s %s: %s", request.method, request.url.path, kind)
    message = "the database is unavailable; retry the request"
    return error_json(503, "database_unavailable", message, headers={"Retry-After": "2"})


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """500; with ``[api] debug`` (dev only: it can reveal internals) the body carries the
    exception's type and text."""
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    details: list[ErrorDetail] = []
    if app_state(request.app).settings.debug:
        details.append(ErrorDetail(msg=str(exc)[:500], type=type(exc).__name__))
    return error_json(500, "internal_error", "internal server error", details)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PendingRollbackError, _lost_transaction)
    app.add_exception_handler(PoolTimeout, _database_unreachable)
    # asyncpg raises plain OSErrors (refused, reset, timed out) when it cannot connect.
    app.add_exception_handler(OSError, _database_unreachable)
    app.add_exception_handler(Exception, _internal_error)
