"""Every PATCH goes through one helper with one rule: omitted or null leaves a field, except
where the body's schema says null clears it."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from agent_api.schemas.common import PatchModel
from tests.support.api import MakeUser, unique

pytestmark = pytest.mark.anyio


def _patch_models(base: type[PatchModel] = PatchModel) -> set[str]:
    return {base.__name__} | {name for sub in base.__subclasses__() for name in _patch_models(sub)}


async def test_every_patch_body_is_a_patch_model(app: FastAPI) -> None:
    """Driven by the OpenAPI document: a new PATCH route fails here until its body is one."""
    bodies = {
        path: operations["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        for path, operations in app.openapi()["paths"].items()
        if "patch" in operations
    }
    assert len(bodies) >= 5
    for path, reference in bodies.items():
        assert reference.rsplit("/", 1)[-1] in _patch_models(), path


async def test_null_leaves_a_field_and_an_omitted_one_stays(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, user = await make_user(superuser=True), await make_user()
    agent = (
        await client.post("/api/v1/agents", headers=user.headers, json={"name": unique("a"), "model": "m"})
    ).json()
    patched = await client.patch(
        f"/api/v1/agents/{agent['id']}", headers=user.headers, json={"name": None, "model": "m2"}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["model"]) == (agent["name"], "m2")
    assert patched.json()["system_prompt"] == agent["system_prompt"]

    tool = (await client.post("/api/v1/tools", headers=admin.headers, json={"name": unique("t")})).json()
    kept = await client.patch(f"/api/v1/tools/{tool['id']}", headers=admin.headers, json={"name": None})
    assert kept.status_code == 200, kept.text
    assert kept.json()["name"] == tool["name"]
