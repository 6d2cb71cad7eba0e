"""A database password never leaves the variable it came in: not in command output (success or
failure), not in the ledger, not in a manifest, not in the API's logs or responses.

The server is the test's own, with password authentication on TCP, so a wrong password really
fails and the right one really matters. The password has characters that URLs escape, and the
checks look for it raw and escaped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import psycopg
import pytest

from tests.support.cli import run_cli, run_invoke
from tests.support.databases import conninfo, url_text
from tests.support.own_server import OwnServer
from tests.support.paths import ROOT
from tests.support.ports import free_port
from tests.support.revisions import configured_head, copy_history, write_revision

PASSWORD = "Pw:s3cr@t/9%Zq"
# The password as written, as URLs escape it, and every 5-character piece of either (a parser
# that splits a password at a raw '@' would print the piece after it as a host or database).
_WHOLE = {PASSWORD, quote(PASSWORD, safe=""), quote_plus(PASSWORD)}
FORMS = _WHOLE | {form[i : i + 5] for form in _WHOLE for i in range(len(form) - 4)}


def leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


@pytest.fixture(scope="module")
def server() -> Iterator[OwnServer]:
    own = OwnServer.create(password=PASSWORD)
    own.start()
    for name in ("dev", "staging", "reference"):
        own.create_database(name)
    try:
        yield own
    finally:
        own.destroy()


@pytest.fixture
def env(server: OwnServer, tmp_path: Path) -> dict[str, str]:
    versions = copy_history(tmp_path)
    return {
        "DEV_DATABASE_URL": url_text(server.tcp_url("dev")),
        "STAGING_DATABASE_URL": url_text(server.tcp_url("staging")),
        "AGENT_DB_REFERENCE_URL": url_text(server.tcp_url("reference")),
        "AGENT_DB_VERSIONS_DIR": str(versions),
        "AGENT_DB_CACHE_DIR": str(tmp_path / "cache"),
    }


def test_the_password_is_in_the_urls_and_works(server: OwnServer) -> None:
    """The control: the URLs do carry the password, and the server does require it."""
    assert leaks(url_text(server.tcp_url("dev")))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(conninfo(server.tcp_url("dev", password="wrong"))).close()
    psycopg.connect(conninfo(server.tcp_url("dev"))).close()


def test_commands_never_print_the_password(server: OwnServer, env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "manifests" / "staging.json"
    versions = Path(env["AGENT_DB_VERSIONS_DIR"])
    succeeding = [
        ["db.upgrade", "--env", "dev"],
        ["db.current", "--env", "dev"],
        ["db.history", "--verbose"],
        ["db.plan", "--env", "staging", "--json"],
        ["db.promote", "--to", "staging", "--manifest-out", str(manifest)],
        ["db.status", "--json"],
        ["db.status", "--markdown"],
        ["db.verify", "--env", "staging", "--json"],
        ["db.downgrade", "--env", "staging", "--to=-1", "--json"],
    ]
    outputs = []
    for args in succeeding:
        result = run_cli(*args, env=env)
        assert result.code == 0, (args, result.stderr)
        outputs.append(result.output)

    write_revision(versions, "5ec0001", configured_head(), "op.execute('SELECT 1/0')")
    wrong = env | {"STAGING_DATABASE_URL": url_text(server.tcp_url("staging", password=PASSWORD + "x"))}
    failing = [
        (["db.upgrade", "--env", "dev"], env, 1, "division by zero"),  # a revision fails
        (["db.upgrade", "--env", "staging"], wrong, 1, "password authentication failed"),
        (["db.current", "--env", "staging"], wrong, 1, "password authentication failed"),
        (["db.status"], wrong, 0, "unreachable"),
        (
            ["db.current", "--env", "staging"],
            env | {"STAGING_DATABASE_URL": url_text(server.tcp_url("nosuchdb"))},
            1,
            "does not exist",
        ),
        (
            ["db.current", "--env", "staging"],
            env | {"STAGING_DATABASE_URL": url_text(server.tcp_url("staging").set(port=1))},
            1,
            "127.0.0.1:1",
        ),
        (
            ["db.current", "--env", "staging"],
            env | {"STAGING_DATABASE_URL": f"mysql://root:{quote(PASSWORD, safe='')}@db/app"},
            2,
            "PostgreSQL only",
        ),
        (
            ["db.current", "--env", "staging"],
            env | {"STAGING_DATABASE_URL": f"postgresql://u:{PASSWORD}@127.0.0.1:{server.port}/staging"},
            2,
            "percent-encode",
        ),
        (
            ["db.current", "--env", "staging"],
            env | {"STAGING_DATABASE_URL": f"postgresql://u:{quote(PASSWORD, safe='')}@h:port/db"},
            2,
            "not a valid database URL",
        ),
    ]
    for args, variables, code, words in failing:
        result = run_cli(*args, env=variables)
        assert result.code == code, (args, result.stderr)
        assert words in result.output, (args, result.output)
        assert "Traceback" not in result.output
        outputs.append(result.output)
    # The real command line too, for what only a process shows (logging set up at import...).
    for args, variables, code in [(["db.upgrade", "--env", "dev"], env, 1), (["db.status"], wrong, 0)]:
        process = run_invoke(*args, env=variables)
        assert process.code == code, process.stderr
        outputs.append(process.stdout + process.stderr)

    plain_alembic = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", "packages/db/alembic.ini", "-x", "env=dev", "current"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert plain_alembic.returncode == 0, plain_alembic.stderr
    outputs.append(plain_alembic.stdout + plain_alembic.stderr)

    assert [leaks(text) for text in outputs] == [[] for _ in outputs]
    # The ledger (every column of every row) and the manifest.
    for database in ("dev", "staging"):
        rows = server.execute("SELECT row_to_json(l)::text FROM schema_ledger l", database)
        assert rows
        assert not leaks(" ".join(str(row[0]) for row in rows))
    assert not leaks(manifest.read_text())
    assert json.loads(manifest.read_text())["target"] == "staging"


def test_the_api_never_logs_or_returns_the_password(
    server: OwnServer, env: dict[str, str], tmp_path: Path
) -> None:
    """``api.serve`` against a password-bearing URL, through three phases: healthy; the role's
    password changed under it (its sessions ended: new ones are refused); the server stopped.
    Every response and every log line is checked, and none is a 500."""
    assert run_invoke("db.upgrade", "--env", "dev", env=env).code == 0
    port = free_port()
    log = tmp_path / "api.log"
    variables = {**os.environ, **env, "DEV_JWT_SECRET": "k" * 48}
    with log.open("w") as sink:
        api = subprocess.Popen(
            [sys.executable, "-m", "invoke", "api.serve", "--env", "dev", "--port", str(port)],
            cwd=ROOT,
            env=variables,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            responses = _exercise_api(f"http://127.0.0.1:{port}", server)
        finally:
            api.terminate()
            api.wait(timeout=20)
    transcripts = [responses, log.read_text()]
    assert "refused the API's connection (28P01" in transcripts[1]
    # Not a terminal: every line is one JSON object (uvicorn's own too), and each request has
    # its line with the id it answered with; the login's password is in none of them.
    lines = [json.loads(line) for line in transcripts[1].splitlines() if line.strip()]
    assert {"uvicorn.error", "agent_api.access"} <= {line["logger"] for line in lines}
    answered = {line["request_id"]: line for line in lines if line["logger"] == "agent_api.access"}
    assert {(line["route"], line["status"]) for line in answered.values()} >= {
        ("/api/v1/auth/login", 503),
        ("/api/v1/users/me", 401),
        ("<unmatched>", 404),
    }
    assert "long enough 1" not in "".join(transcripts)
    assert not [line for text in transcripts for line in text.splitlines() if line.startswith("500")]
    assert "Traceback" not in "".join(transcripts)
    assert [leaks(text) for text in transcripts] == [[] for _ in transcripts]


def _exercise_api(base: str, server: OwnServer) -> str:
    """Requests that succeed, fail validation, fail auth, and meet refused credentials and a
    stopped server; returns every status, header and body."""
    seen: list[str] = []
    register = {"email": "x@example.com", "username": "secrets1", "password": "long enough 1"}
    login = {"username": "secrets1", "password": "long enough 1"}
    with httpx.Client(base_url=base, timeout=10) as http:

        def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
            response = http.request(method, path, **kwargs)
            seen.append(f"{response.status_code} {response.headers} {response.text}")
            assert response.headers["x-request-id"]
            return response

        deadline = time.monotonic() + 30
        while True:
            try:
                http.get("/health")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.1)
        assert call("GET", "/ready").status_code == 200
        assert call("POST", "/api/v1/auth/register", json=register).status_code == 201
        call("POST", "/api/v1/auth/register", json={"email": "bad", "username": "?", "password": "1"})
        call("GET", "/api/v1/users/me")
        call("GET", "/api/v1/nowhere")

        server.execute("ALTER ROLE postgres PASSWORD 'rotated-elsewhere'")
        server.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'agent-api'"
        )
        try:
            statuses = {call("POST", "/api/v1/auth/login", data=login).status_code for _ in range(25)}
            assert statuses == {503}, statuses
            assert call("GET", "/ready").status_code == 503
        finally:
            server.execute(f"ALTER ROLE postgres PASSWORD '{PASSWORD}'")
        assert call("POST", "/api/v1/auth/login", data=login).status_code == 200

        server.stop()
        try:
            assert call("POST", "/api/v1/auth/login", data=login).status_code == 503
            assert call("GET", "/ready").status_code == 503
        finally:
            server.start()
    return "\n".join(seen)
