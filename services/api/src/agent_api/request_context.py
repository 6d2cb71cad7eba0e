"""Every request's id, log line and metrics: the outermost layer of the app (a pure ASGI
middleware, outside even Starlette's 500 handler, so a crash is logged, counted and carries its
id too).

``X-Request-ID``: a client's (or proxy's) id is kept when it is 1-128 characters of letters,
digits and ``-_.:/+=@``; anything else is replaced by a fresh one, never echoed (it would let a
client write arbitrary bytes into the logs and headers). The id is returned on every response,
bound to every log line written while the request runs, and put in every error body.

One access line per request (logger ``agent_api.access``): method, route template, status,
duration, the user id once the token is checked, the error code of an error answer. The path's
query string is never logged (it can hold a token).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_api.metrics import UNMATCHED_ROUTE, ApiMetrics
from agent_db.logs import bound

REQUEST_ID_HEADER = b"x-request-id"
_VALID_ID = re.compile(rb"[A-Za-z0-9\-_.:/+=@]{1,128}")

access_logger = logging.getLogger("agent_api.access")


def log_access(level: int, method: str, route: str, status: int) -> None:
    """The request's access line. ``Logger.log`` would also walk the stack for the caller's
    file and line, which no line shows: the record is made and handled directly."""
    arguments = (method, route, status)
    access_logger.handle(
        access_logger.makeRecord(access_logger.name, level, __file__, 0, "%s %s %s", arguments, None)
    )


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            if _VALID_ID.fullmatch(value):
                return bytes(value).decode("ascii")
            break
    return secrets.token_hex(16)  # 32 hex digits, like uuid4().hex at a seventh of the cost


def route_of(scope: Scope, templates: Mapping[int, str]) -> str:
    """The template of the route that answered (``/api/v1/agents/{agent_id}``).

    FastAPI puts the route object of the included router in the scope, whose own path lacks
    the prefix it was included under; ``templates`` maps those objects to their full template."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    template = templates.get(id(route))
    if template is not None:
        return template
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics, templates: Mapping[int, str]) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        method = scope["method"]
        status = 500
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        in_flight = self.metrics.in_flight
        in_flight.inc()
        with bound(request_id=request_id, method=method) as fields:
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                in_flight.dec()
                seconds = time.perf_counter() - started
                route = route_of(scope, self.templates)
                self.metrics.observe(method, route, status, seconds)
                fields.update(route=route, status=status, duration_ms=round(seconds * 1000, 2))
                level = logging.ERROR if status >= 500 else logging.INFO
                if access_logger.isEnabledFor(level):
                    log_access(level, method, route, status)
