"""What an operator reads: ``/metrics`` (route templates, statuses, latency histograms,
in-flight, the pool), ``X-Request-ID`` on every response and error body, and one structured
log line per request with its id, route, status, duration, user and error code, and no secret.

The app is the real one with its lifespan, on the API tests' migrated database; its logs are
captured by a JSON handler on the app's logger, the same formatter ``api.serve`` uses.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from agent_api.main import create_app
from agent_api.settings import load_api_settings
from agent_db.logs import make_handler
from tests.support.api import SIGNING_KEY, MakeUser
from tests.support.databases import url_text

pytestmark = pytest.mark.anyio

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
async def own_app(api_database: URL) -> AsyncIterator[FastAPI]:
    """An app of this module's own, with one extra route that crashes (a 500 to look at)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEV_DATABASE_URL", url_text(api_database))
        patch.setenv("DEV_JWT_SECRET", SIGNING_KEY)
        application = create_app(load_api_settings("dev", pool_size=3))

        async def crash() -> None:
            raise RuntimeError("the handler broke with password=hunter2 in its message")

        application.add_api_route("/crash/{thing_id}", crash, include_in_schema=False)
        async with application.router.lifespan_context(application):
            yield application


@pytest.fixture
async def http(own_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=own_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def read_log() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Reads every line the app's loggers wrote so far in the test, parsed (each must be JSON)."""
    sink = io.StringIO()
    handler = make_handler("json", sink)
    logger = logging.getLogger("agent_api")
    logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in sink.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)


def _sample(scrape: str, name: str, **labels: str) -> float | None:
    """The value of one sample in the text exposition format."""
    for line in scrape.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, rest = head.partition("{")
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))
        if metric == name and found == labels:
            return float(value)
    return None


async def test_metrics_count_requests_by_route_template_and_status(
    http: httpx.AsyncClient, own_app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user()
    for agent_id in (2_000_001, 2_000_002, 2_000_003):
        assert (await http.get(f"/api/v1/agents/{agent_id}", headers=user.headers)).status_code == 404
    assert (await http.get("/api/v1/users/me", headers=user.headers)).status_code == 200
    assert (await http.get("/no/such/path/7")).status_code == 404

    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    scrape = response.text
    route = "/api/v1/agents/{agent_id}"
    assert _sample(scrape, "http_requests_total", method="GET", route=route, status="404") == 3
    assert _sample(scrape, "http_requests_total", method="GET", route="/api/v1/users/me", status="200") == 1
    assert _sample(scrape, "http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    # Raw paths never become series: one per template, whatever the ids.
    assert "2000001" not in scrape
    assert "/no/such/path" not in scrape
    assert _sample(scrape, "http_request_duration_seconds_count", method="GET", route=route) == 3
    assert _sample(scrape, "http_request_duration_seconds_bucket", method="GET", route=route, le="+Inf") == 3
    # The scrape itself is in flight while it renders; the pool is the app's (3, none in use).
    assert _sample(scrape, "http_requests_in_flight") == 1
    assert _sample(scrape, "db_pool_size") == 3
    assert _sample(scrape, "db_pool_checked_out") == 0
    # The API tests' database is at head: inside the window; the census has heard this process.
    assert _sample(scrape, "schema_window_compatible") == 1
    assert _sample(scrape, "census_heartbeat_failing") == 0
    age = _sample(scrape, "census_heartbeat_age_seconds")
    assert age is not None
    assert 0 <= age < 3600


async def test_request_ids_are_kept_when_valid_made_otherwise_and_returned_everywhere(
    http: httpx.AsyncClient,
) -> None:
    made = await http.get("/health")
    assert HEX_ID.fullmatch(made.headers["x-request-id"])
    assert made.headers["x-request-id"] != (await http.get("/health")).headers["x-request-id"]

    kept = await http.get("/api/v1/agents", headers={"X-Request-ID": "deploy-1402.req:7"})
    assert kept.status_code == 401
    assert kept.headers["x-request-id"] == "deploy-1402.req:7"
    assert kept.json()["error"]["request_id"] == "deploy-1402.req:7"

    for hostile in (b"a" * 129, b"two words", b"<script>", "id\u00e9".encode()):
        replaced = await http.get("/api/v1/agents", headers=[(b"X-Request-ID", hostile)])
        assert HEX_ID.fullmatch(replaced.headers["x-request-id"]), hostile
        assert replaced.json()["error"]["request_id"] == replaced.headers["x-request-id"]

    # Errors from every layer carry it: routing (404), validation (422), body limit (413), a crash.
    answers = [
        await http.get("/nowhere"),
        await http.post("/api/v1/auth/register", json={"email": "x"}),
        await http.post("/api/v1/auth/register", content=b"{" * 2_000_000),
        await http.get("/crash/1"),
    ]
    assert [a.status_code for a in answers] == [404, 422, 413, 500]
    for answer in answers:
        assert answer.json()["error"]["request_id"] == answer.headers["x-request-id"]


async def test_the_log_of_a_failed_request_names_it_and_holds_no_secret(
    http: httpx.AsyncClient, make_user: MakeUser, read_log: Callable[[], list[dict[str, Any]]]
) -> None:
    user = await make_user()
    token = user.headers["Authorization"].removeprefix("Bearer ")
    password = "my-Secret-pass-42"
    failed_login = await http.post(
        "/api/v1/auth/login",
        data={"username": user.username, "password": password},
        headers={"X-Request-ID": "failed-login-1"},
    )
    assert failed_login.status_code == 401
    missing = await http.get(
        f"/api/v1/agents/999999?access_token={token}", headers={**user.headers, "X-Request-ID": "missing-1"}
    )
    assert missing.status_code == 404
    crashed = await http.get("/crash/5", headers={"X-Request-ID": "crash-1"})
    assert crashed.status_code == 500

    log_lines = read_log()
    by_id = {line.get("request_id"): line for line in log_lines if line["logger"] == "agent_api.access"}
    login_line = by_id["failed-login-1"]
    assert login_line["method"] == "POST"
    assert login_line["route"] == "/api/v1/auth/login"
    assert login_line["status"] == 401
    assert login_line["error_code"] == "invalid_credentials"
    assert login_line["duration_ms"] > 0
    assert {"time", "level", "message"} <= set(login_line)

    missing_line = by_id["missing-1"]
    assert (missing_line["route"], missing_line["status"]) == ("/api/v1/agents/{agent_id}", 404)
    assert missing_line["user_id"] == user.id
    assert missing_line["error_code"] == "not_found"

    # The crash: its traceback line and its access line both carry the id.
    crash_lines = [line for line in log_lines if line.get("request_id") == "crash-1"]
    assert {line["level"] for line in crash_lines} == {"ERROR"}
    assert any("RuntimeError" in line.get("exc_info", "") for line in crash_lines)
    assert by_id["crash-1"]["status"] == 500

    everything = json.dumps(log_lines)
    for secret in (password, token, "hunter2"):
        assert secret not in everything
