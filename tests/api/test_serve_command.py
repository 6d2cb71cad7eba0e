"""``python -m agent_api``, the image's command, serves the API as ``invoke api.serve`` does:
every line it writes is one JSON object (uvicorn's own too), one access line per request from
the app and none from uvicorn, the shaped error for a request uvicorn cannot parse; a bad
setting stops it before it serves, with a message that names the problem."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy.engine import URL

from tests.support.api import SIGNING_KEY
from tests.support.databases import url_text
from tests.support.paths import ROOT
from tests.support.ports import free_port


def staging_env(url: URL) -> dict[str, str]:
    return {
        **os.environ,
        "AGENT_ENV": "staging",
        "STAGING_DATABASE_URL": url_text(url),
        "STAGING_JWT_SECRET": SIGNING_KEY,
    }


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "python -m agent_api exited while starting"
        try:
            httpx.get(f"{base}/health", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("python -m agent_api did not answer /health within 30 s")


def unparsable_request(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n")
        answer = b""
        while chunk := connection.recv(4096):  # uvicorn closes the connection after a 400
            answer += chunk
        return answer


def test_the_image_command_writes_only_json_lines_and_one_access_line_per_request(
    api_database: URL, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "api.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "agent_api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,  # not the checkout: the image runs it from its own folder
            env=staging_env(api_database),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(base, process)
            with httpx.Client(base_url=base, timeout=10) as http:
                ready = http.get("/ready")
                missing = http.get("/api/v1/nowhere", headers={"X-Request-ID": "probe-404"})
                me = http.get("/api/v1/users/me")
            garbled = unparsable_request(port)
        finally:
            process.terminate()
            assert process.wait(timeout=20) == 0, "SIGTERM ends it cleanly"
    assert (ready.status_code, missing.status_code, me.status_code) == (200, 404, 401)
    head, _, body = garbled.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert json.loads(body)["error"]["code"] == "bad_request", "uvicorn's parse error has the API's shape"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    loggers = {line["logger"] for line in lines}
    assert "uvicorn.error" in loggers, "uvicorn's own lines are structured too"
    assert "uvicorn.access" not in loggers
    access = [line for line in lines if line["logger"] == "agent_api.access"]
    assert [(line["route"], line["status"]) for line in access if line["route"] != "/health"] == [
        ("/ready", 200),
        ("<unmatched>", 404),
        ("/api/v1/users/me", 401),
    ]
    assert [line["request_id"] for line in access if line["status"] == 404] == ["probe-404"]


def test_the_image_command_refuses_a_bad_setting_before_serving(tmp_path: Path) -> None:
    env = {**os.environ, "AGENT_ENV": "staging", "STAGING_JWT_SECRET": SIGNING_KEY}
    env.pop("STAGING_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "agent_api", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "STAGING_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr
