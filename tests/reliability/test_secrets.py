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
from urllib.parse import quote, quote_plus

import httpx
import psycopg
import pytest

from tests.reliability.cli import run_cli
from tests.reliability.own_server import OwnServer
from tests.revisions import add_revision, copy_history, project_head
from tests.support import ROOT, conninfo, run_invoke, url_text

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

    add_revision(versions, "5ec0001", project_head(), "op.execute('SELECT 1/0')")
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
        assert process.returncode == code, process.stderr
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


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_api_never_logs_or_returns_the_password(
    server: OwnServer, env: dict[str, str], tmp_path: Path
) -> None:
    """``api.serve`` against a password-bearing URL: healthy, then the password is wrong (a
    restart of the API with a bad variable), then the database goes away mid-traffic."""
    assert run_invoke("db.upgrade", "--env", "dev", env=env).returncode == 0
    transcripts: list[str] = []
    for url, stop_database in (
        (server.tcp_url("dev"), True),
        (server.tcp_url("dev", password="nope"), False),
    ):
        port = _free_port()
        log = tmp_path / f"api-{port}.log"
        variables = {**os.environ, **env, "DEV_DATABASE_URL": url_text(url), "DEV_JWT_SECRET": "k" * 48}
        with log.open("w") as sink:
            api = subprocess.Popen(
                [sys.executable, "-m", "invoke", "api.serve", "--env", "dev", "--port", str(port)],
                cwd=ROOT,
                env=variables,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
            try:
                transcripts.append(_exercise_api(f"http://127.0.0.1:{port}", server, stop_database))
            finally:
                api.terminate()
                api.wait(timeout=20)
        transcripts.append(log.read_text())
    assert "database unavailable" in transcripts[0] or "503" in transcripts[0]
    assert not [line for text in transcripts for line in text.splitlines() if line.startswith("500")]
    assert "Traceback" not in "".join(transcripts)
    assert [leaks(text) for text in transcripts] == [[] for _ in transcripts]


def _exercise_api(base: str, server: OwnServer, stop_database: bool) -> str:
    """Requests that succeed, fail validation, fail auth, and meet a dead database; returns
    every response body and header."""
    seen: list[str] = []
    with httpx.Client(base_url=base, timeout=10) as http:
        deadline = time.monotonic() + 30
        while True:
            try:
                http.get("/health")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.1)
        requests = [
            ("GET", "/ready", None),
            (
                "POST",
                "/api/v1/auth/register",
                {"email": "x@example.com", "username": "secrets1", "password": "long enough 1"},
            ),
            ("POST", "/api/v1/auth/register", {"email": "bad", "username": "?", "password": "1"}),
            ("GET", "/api/v1/users/me", None),
            ("GET", "/api/v1/nowhere", None),
        ]
        for method, path, body in requests:
            response = http.request(method, path, json=body)
            seen.append(f"{response.status_code} {response.headers} {response.text}")
        if stop_database:
            server.stop()
            try:
                for path in ("/ready", "/api/v1/users/me"):
                    response = http.get(path, headers={"Authorization": "Bearer x.y.z"})
                    seen.append(f"{response.status_code} {response.text}")
                login = http.post(
                    "/api/v1/auth/login", data={"username": "secrets1", "password": "long enough 1"}
                )
                seen.append(f"{login.status_code} {login.text}")
                assert login.status_code == 503, login.text
            finally:
                server.start()
    return "\n".join(seen)
