"""The API's error shape for the answers given before a route runs: a CORS preflight the API
refuses (Starlette answers it in plain text) and a request uvicorn cannot parse (a negative
``Content-Length``, a broken request line: uvicorn answers in plain text and closes).

Clients and log pipelines get one shape for every 4xx, whoever produced it."""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from agent_api.errors import error_json

# What uvicorn's --http takes to serve with ShapedHttpToolsProtocol (the serve task, the image).
HTTP_PROTOCOL = "agent_api.boundary_errors:ShapedHttpToolsProtocol"


class ShapedCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with refused preflights in the API's error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = bytes(response.body).decode("utf-8", "replace")
        shaped = error_json(
            response.status_code,
            "cors_refused",
            f"the CORS preflight was refused: {reason.lower()}; the allowed origins are set in "
            "[api] cors_origins",
        )
        for name, value in response.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                shaped.headers[name] = value
        return shaped


def _bad_request_body(reason: str) -> bytes:
    return json.dumps(
        {
            "error": {
                "code": "bad_request",
                "message": f"the request is not valid HTTP ({reason.rstrip('.').lower()})",
                "details": [],
            }
        }
    ).encode("utf-8")


class ShapedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with its 400 for unparseable requests in the error shape.
    Serve with ``uvicorn --http agent_api.boundary_errors:ShapedHttpToolsProtocol``."""

    def send_400_response(self, msg: str) -> None:
        body = _bad_request_body(msg)
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
