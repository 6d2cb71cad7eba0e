"""``GET /metrics``: the Prometheus scrape (see :mod:`agent_api.metrics`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from agent_api.app_state import app_state

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests by route and status, latency, in-flight, the pool",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "the text exposition format"}},
)
async def metrics(request: Request) -> Response:
    body, content_type = app_state(request.app).metrics.render()
    return Response(body, media_type=content_type)
