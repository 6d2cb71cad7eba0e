"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from agent_api.app_state import app_state
from agent_api.schema_state import read_schema_state

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Window(BaseModel):
    """The schema positions this build serves on (see docs/deployment.md, "The schema window")."""

    compatible: bool = Field(description="whether the database is inside this build's window")
    oldest: list[str] = Field(
        description="this build's newest expand revisions: they (and what they revise) must be applied"
    )
    newest: list[str] = Field(
        description="this build's heads; beyond them only newer releases' expand revisions are accepted"
    )
    missing_expand: list[str] = Field(description="expand revisions of this build not applied (keep it out)")
    newer_contract: list[str] = Field(
        description="applied revisions this build does not know, not recorded as expand (keep it out)"
    )
    newer_expand: list[str] = Field(description="applied expand revisions of newer releases (accepted)")
    pending_contract: list[str] = Field(description="its own contract revisions not applied yet (accepted)")


class Readiness(BaseModel):
    status: str
    schema_revision: list[str]
    expected_revision: list[str]
    reason: str | None = None
    window: Window | None = None


@router.get("/health", response_model=Health, summary="Liveness: the process is up")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness: the database is reachable and its schema inside this build's window",
    responses={503: {"model": Readiness, "description": "not ready, with the reason"}},
)
async def ready(request: Request) -> JSONResponse:
    database = app_state(request.app).database
    state = await read_schema_state(database.engine, database.build)
    body = Readiness(
        status="ready" if state.ready else "not ready",
        schema_revision=list(state.current),
        expected_revision=list(state.expected),
        reason=state.reason,
        window=Window(**state.window.as_json()) if state.window else None,
    )
    return JSONResponse(body.model_dump(), status_code=200 if state.ready else 503)
