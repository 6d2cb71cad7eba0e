"""The API's Prometheus metrics (prometheus-client), served on ``GET /metrics``.

Requests are counted by method, route *template* (``/api/v1/agents/{agent_id}``, never the raw
path: one series per route, not one per id) and status; latency is a histogram per method and
route; in-flight requests and the connection pool are gauges.

Each app has its own registry, so several apps in one process (the tests) do not collide. With
several workers (``api.serve --workers N``) every worker is a process of its own and a scrape
reaches one of them: ``PROMETHEUS_MULTIPROC_DIR`` (set by ``api.serve`` when N > 1) makes the
client library keep the values in files that any worker sums up for the scrape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "<unmatched>"  # 404s for paths no route knows: one series, not one per path
# Seconds: from a cached read (~1 ms) to a login (Argon2, ~100 ms) to a timeout (5 s+).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class ApiMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    in_flight: Gauge
    pool_size: Gauge
    pool_checked_out: Gauge
    schema_window: Gauge
    census_heartbeat_age: Gauge
    census_heartbeat_failing: Gauge
    # (method, route, status) -> the counter's and the histogram's children: ``labels()``
    # validates and locks on every call; the series are the same ones it would return.
    _children: dict[tuple[str, str, int], tuple[Any, Any]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The scrape: the text exposition format and its content type."""
        if multiprocess_dir():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_ENV) or None


def build_metrics() -> ApiMetrics:
    registry = CollectorRegistry(auto_describe=True)
    return ApiMetrics(
        registry=registry,
        requests=Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            ("method", "route", "status"),
            registry=registry,
        ),
        latency=Histogram(
            "http_request_duration_seconds",
            "Time from the request's arrival to the end of its response, by method and route template",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        in_flight=Gauge(
            "http_requests_in_flight",
            "Requests being handled now",
            registry=registry,
            multiprocess_mode="livesum",
        ),
        pool_size=Gauge(
            "db_pool_size",
            "Connections the database pool may hold (fixed size, no overflow)",
            registry=registry,
            multiprocess_mode="livesum",
        ),
        pool_checked_out=Gauge(
            "db_pool_checked_out",
            "Pool connections in use by a request now",
            registry=registry,
            multiprocess_mode="livesum",
        ),
        # Read at scrape time (one query): 1 when the live schema is inside this build's window
        # (what /ready answers 200 for), 0 outside it or when the database cannot be read.
        schema_window=Gauge(
            "schema_window_compatible",
            "1 when the database's schema is inside this build's schema window, else 0",
            registry=registry,
            multiprocess_mode="liveall",
        ),
        census_heartbeat_age=Gauge(
            "census_heartbeat_age_seconds",
            "Seconds since the census last recorded this process's heartbeat (-1: never yet)",
            registry=registry,
            multiprocess_mode="liveall",
        ),
        census_heartbeat_failing=Gauge(
            "census_heartbeat_failing",
            "1 while this process's census heartbeats fail (the contract gate may count it gone)",
            registry=registry,
            multiprocess_mode="liveall",
        ),
    )


def watch_pool(metrics: ApiMetrics, engine: AsyncEngine, size: int) -> None:
    """Keep the pool gauges current from the pool's own checkout and checkin events."""
    metrics.pool_size.set(size)
    checked_out = metrics.pool_checked_out

    def on_checkout(*_: object) -> None:
        checked_out.inc()

    def on_checkin(*_: object) -> None:
        checked_out.dec()

    event.listen(engine.sync_engine.pool, "checkout", on_checkout)
    event.listen(engine.sync_engine.pool, "checkin", on_checkin)
