"""Answers given before a route runs have the API's error shape too: a refused CORS preflight
(Starlette answered "Disallowed CORS origin" in plain text) and a request uvicorn cannot parse,
such as a negative Content-Length (uvicorn answered "Invalid HTTP request received.")."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from agent_api.boundary_errors import HTTP_PROTOCOL
from tests.support.ports import free_port

pytestmark = pytest.mark.anyio


async def test_a_refused_preflight_has_the_error_shape(client: httpx.AsyncClient) -> None:
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    refused = await client.options("/api/v1/agents", headers=headers)
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["error"]["code"] == "cors_refused"
    assert "disallowed cors origin" in refused.json()["error"]["message"]
    assert "Origin" in refused.headers["vary"]  # Starlette's headers are kept
    allowed = await client.options("/api/v1/agents", headers={**headers, "Origin": "http://localhost:3000"})
    assert allowed.status_code == 200


async def _hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def shaped_server() -> Iterator[int]:
    """uvicorn with the protocol the serve task and the image use."""
    port = free_port()
    config = uvicorn.Config(_hello, host="127.0.0.1", port=port, http=HTTP_PROTOCOL, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
        b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["negative-content-length", "nul-in-path"],
)
def test_an_unparseable_request_has_the_error_shape(shaped_server: int, request_bytes: bytes) -> None:
    head, _, body = _raw(shaped_server, request_bytes).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/json" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "bad_request"
    assert error["message"].startswith("the request is not valid HTTP")


# The image's command (python -m agent_api) serves with this protocol too: tests/api/test_serve_command.py
# sends it an unparsable request.
