"""``GET /metrics``: the Prometheus scrape (see :mod:`agent_api.metrics`).

The schema window and the census heartbeat are read at scrape time: one query for the window
(what ``/ready`` answers), the heartbeat's age from memory."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from agent_api.app_state import app_state
from agent_api.schema_state import read_schema_state

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests by route and status, latency, in-flight, the pool, "
    "the schema window, the census heartbeat",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "the text exposition format"}},
)
async def metrics(request: Request) -> Response:
    state = app_state(request.app)
    measured = state.metrics
    database = state.database
    schema = await read_schema_state(database.engine, database.build)
    measured.schema_window.set(1 if schema.ready else 0)
    census = state.census
    if census is not None:
        last = census.last_success
        measured.census_heartbeat_age.set(-1 if last is None else time.monotonic() - last)
        measured.census_heartbeat_failing.set(1 if census.failing else 0)
    body, content_type = measured.render()
    return Response(body, media_type=content_type)
