"""The OpenAPI document states every constraint the API enforces on what it is sent: a guard
driven by the document (as the ownership walk is), so a new field cannot forget to say it.

It once omitted the NUL refusal of every text field and the depth/finiteness checks of JSON
objects, which the API answers with 422."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.api import MakeUser

pytestmark = pytest.mark.anyio


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def _request_properties(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                body = _resolve(document, content["schema"])
                for name, prop in body.get("properties", {}).items():
                    options = [prop, *prop.get("anyOf", [])]
                    for option in options:
                        found.append((f"{method.upper()} {path}", name, _resolve(document, option)))
    return found


async def test_every_text_and_object_field_documents_what_is_refused(app: FastAPI) -> None:
    document = app.openapi()
    problems = []
    for operation, name, schema in _request_properties(document):
        kind = schema.get("type")
        if kind == "string" and "enum" not in schema and "pattern" not in schema:
            if "maxLength" not in schema:
                problems.append(f"{operation} {name}: no maxLength")
            if schema.get("format") != "email" and "x-forbidden-characters" not in schema:
                problems.append(f"{operation} {name}: NUL refusal not documented")
        if kind == "object" and "x-max-depth" not in schema:
            problems.append(f"{operation} {name}: JSON depth limit not documented")
        if kind == "integer" and not ("minimum" in schema and "maximum" in schema):
            problems.append(f"{operation} {name}: integer without bounds")
    assert not problems, problems


async def test_every_operation_with_a_body_documents_413_and_422(app: FastAPI) -> None:
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                assert {"413", "422"} <= set(operation["responses"]), f"{method} {path}"


async def test_what_the_document_says_is_what_the_api_does(
    client: httpx.AsyncClient, make_user: MakeUser, app: FastAPI
) -> None:
    """The documented limits are the enforced ones, for one field of each kind."""
    user = await make_user()
    agent = app.openapi()["components"]["schemas"]["AgentCreate"]["properties"]
    too_deep: dict[str, Any] = {}
    nested = too_deep
    for _ in range(agent["settings"]["x-max-depth"] + 1):
        nested["k"] = {}
        nested = nested["k"]
    for body in (
        {"name": "nul\x00", "model": "m"},
        {"name": "x" * (agent["name"]["maxLength"] + 1), "model": "m"},
        {"name": "deep", "model": "m", "settings": too_deep},
    ):
        response = await client.post("/api/v1/agents", json=body, headers=user.headers)
        assert response.status_code == 422, body
