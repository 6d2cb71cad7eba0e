"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from agent_api.app_state import app_state
from agent_api.schema_state import read_schema_state

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    schema_revision: list[str]
    expected_revision: list[str]
    reason: str | None = None


@router.get("/health", response_model=Health, summary="Liveness: the process is up")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness: the database is reachable and at the revision this code expects",
    responses={503: {"model": Readiness, "description": "not ready, with the reason"}},
)
async def ready(request: Request) -> JSONResponse:
    database = app_state(request.app).database
    state = await read_schema_state(database.engine, database.expected_heads)
    body = Readiness(
        status="ready" if state.ready else "not ready",
        schema_revision=list(state.current),
        expected_revision=list(state.expected),
        reason=state.reason,
    )
    return JSONResponse(body.model_dump(), status_code=200 if state.ready else 503)
