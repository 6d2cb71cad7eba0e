"""Property-based testing of the whole OpenAPI schema with schemathesis, against the real app
served by uvicorn on a free port (real HTTP, real PostgreSQL): whatever it generates, valid or
not, the API must answer without a server error, with a documented status code, a documented
content type, and a body matching the documented schema.

It runs as a superuser, so the admin endpoints are reached too. The database is its own, and
the user id sequence starts high: Hypothesis favours small ids, and must not stumble on (and
deactivate or rename) the account it authenticates with.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import psycopg
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import URL

from agent_api import security
from agent_api.main import create_app
from agent_api.security import create_access_token
from agent_api.settings import load_api_settings
from agent_db.commands import migrate
from tests.support.api import SIGNING_KEY
from tests.support.databases import DatabaseFactory, conninfo, target_for, url_text
from tests.support.ports import free_port

# The default run (schema examples, then 10 positive and 10 negative generated cases per
# operation) takes ~10 s. AGENT_API_FUZZ=deep adds schemathesis' coverage phase (boundary values
# of every constraint, unexpected methods...) and 100 cases per operation: minutes, not seconds.
DEEP = os.environ.get("AGENT_API_FUZZ", "") == "deep"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class LiveApi:
    base_url: str
    headers: dict[str, str]
    openapi: dict[str, object]


@cache
def _cheap_hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))


@cache
def _cheap_dummy_hash() -> str:
    return _cheap_hasher().hash("dummy")


def connection_hash(url: URL, user_id: int) -> str:
    with psycopg.connect(conninfo(url)) as connection:
        row = connection.execute("SELECT hashed_password FROM users WHERE id = %s", (user_id,))
        return str(row.fetchone()[0])  # type: ignore[index]


@pytest.fixture(scope="module")
def live_api(databases: DatabaseFactory) -> Iterator[LiveApi]:
    url = databases.create("fuzz")
    migrate.upgrade(target_for("dev", url))
    with psycopg.connect(conninfo(url)) as connection:
        connection.execute("SELECT setval('users_id_seq', 1000000)")
        user_id = connection.execute(
            "INSERT INTO users (email, username, hashed_password, is_superuser) "
            "VALUES ('fuzz@example.com', 'fuzz_admin', %s, true) RETURNING id",
            (_cheap_hasher().hash("fuzz password"),),
        ).fetchone()[0]  # type: ignore[index]
    with pytest.MonkeyPatch.context() as patch:
        # Argon2 at full cost (~0.1 s) on every generated register/login/password request
        # would make this run slow and tells nothing about the HTTP layer under test.
        patch.setattr(security, "_hasher", _cheap_hasher)
        patch.setattr(security, "_dummy_hash", _cheap_dummy_hash)
        patch.setenv("DEV_DATABASE_URL", url_text(url))
        patch.setenv("DEV_JWT_SECRET", SIGNING_KEY)
        app = create_app(load_api_settings("dev", pool_size=5))
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1)
        )
        thread = threading.Thread(target=server.run, name="uvicorn-fuzz", daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start within 15 s"
            time.sleep(0.02)
        hashed = connection_hash(url, user_id)
        token = create_access_token(user_id, hashed, key=SIGNING_KEY, minutes=30).token
        try:
            yield LiveApi(f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}, app.openapi())
        finally:
            server.should_exit = True
            thread.join(timeout=15)


@pytest.fixture(scope="module")
def api_schema(live_api: LiveApi) -> schemathesis.BaseSchema:
    phases = {
        "examples": {"enabled": True},
        "fuzzing": {"enabled": True},
        "coverage": {"enabled": DEEP},
        "stateful": {"enabled": False},
    }
    config = schemathesis.Config.from_dict({"phases": phases})
    return schemathesis.openapi.from_dict(live_api.openapi, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=100 if DEEP else 10,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_no_request_makes_the_api_fail(case: schemathesis.Case[Any], live_api: LiveApi) -> None:
    case.call_and_validate(base_url=live_api.base_url, headers=live_api.headers, checks=CHECKS, timeout=30)
