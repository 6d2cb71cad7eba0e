"""One JSON shape for every error the API returns: its models, :class:`ApiError` and the helpers
that build it. The handlers that turn exceptions into this shape are in ``error_handlers``.

Every 4xx and 5xx body is ``{"error": {"code": "...", "message": "...", "details": [...]}}``:
clients branch on the stable ``code``, show ``message`` to people, and read ``details`` for
field-level problems (validation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from agent_db.logs import current_fields


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
    request_id: str | None = Field(
        default=None,
        description="The request's `X-Request-ID` (the client's, or one made for it): quote it "
        "when reporting a problem; every log line of the request carries it",
    )


class ErrorResponse(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "not_found",
                        "message": "agent not found",
                        "details": [],
                        "request_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                    }
                },
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


def error_json(
    status_code: int,
    code: str,
    message: str,
    details: Sequence[ErrorDetail] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "details": [detail.model_dump() for detail in details],
    }
    request = current_fields()
    if request is not None:
        # The access line of this request names the code; the body names the request.
        request["error_code"] = code
        if "request_id" in request:
            error["request_id"] = request["request_id"]
    body = {"error": error}
    return JSONResponse(body, status_code=status_code, headers=dict(headers or {}))


def status_message(status_code: int) -> str:
    """The standard reason phrase, lower case (``not found``)."""
    try:
        return HTTPStatus(status_code).phrase.lower()
    except ValueError:
        return "error"


# The documented error responses, for ``responses=`` on routers and routes.
def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": ErrorResponse, "description": status_message(status).capitalize()}
        for status in statuses
    }
