"""/ready answers from the schema window: an old build stays ready after a newer release's
expand revision, not after a contract revision it predates; a rollback image after an expand
comes up ready; a new build is ready before and after its own contract revision."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_api.main import create_app
from agent_api.settings import load_api_settings
from agent_db.commands import migrate
from agent_db.commands.phase_gate import ConsumerOverride
from agent_db.revisions.graph import RevisionGraph
from tests.support.api import SIGNING_KEY, unique
from tests.support.databases import conninfo, target_for, url_text
from tests.support.revisions import copy_history, package_head, write_revision

pytestmark = pytest.mark.anyio

EXPAND, CONTRACT = "a1b2c3d4e501", "a1b2c3d4e502"


@pytest.fixture
def builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Release N (the project's history) and N+1 (N plus an expand and a contract revision)."""
    old = copy_history(tmp_path / "old")
    new = copy_history(tmp_path / "new")
    write_revision(
        new,
        EXPAND,
        package_head(),
        "op.add_column('agents', sa.Column('nickname', sa.Text(), nullable=True))",
        "op.drop_column('agents', 'nickname')",
        message="add agents nickname",
    )
    write_revision(
        new,
        CONTRACT,
        EXPAND,
        "op.drop_column('agents', 'system_prompt')",
        "op.add_column('agents', sa.Column('system_prompt', sa.Text(), server_default='', nullable=False))",
        message="drop agents system_prompt",
        header='phase = "contract"',
    )
    monkeypatch.setenv("AGENT_DB_CACHE_DIR", str(tmp_path / "cache"))
    return old, new


def upgrade(url: URL, versions: Path, to: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``db.upgrade`` with the newer build's history. The old API under test is registered in the
    census, so a contract revision needs the override (tests/db/commands/test_contract_gate.py
    covers the gate; here the point is what /ready says once the contract ran anyway)."""
    with monkeypatch.context() as patch:
        patch.setenv("AGENT_DB_VERSIONS_DIR", str(versions))
        override = ConsumerOverride("the test checks /ready of an old build after the contract")
        migrate.upgrade(target_for("dev", url), to, graph=RevisionGraph.load(versions), override=override)


@asynccontextmanager
async def serving(
    url: URL, versions: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    """The API of the build whose history is ``versions``, in-process, lifespan and all."""
    with monkeypatch.context() as patch:
        patch.setenv("AGENT_DB_VERSIONS_DIR", str(versions))
        patch.setenv("DEV_DATABASE_URL", url_text(url))
        patch.setenv("DEV_JWT_SECRET", SIGNING_KEY)
        app = create_app(load_api_settings("dev", pool_size=2))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield client


async def register(client: httpx.AsyncClient) -> int:
    name = unique("w")
    body = {"email": f"{name}@example.com", "username": name, "password": "correct horse 42"}
    return (await client.post("/api/v1/auth/register", json=body)).status_code


async def test_an_old_build_stays_ready_after_expand_and_not_after_contract(
    empty_url: URL, builds: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = builds
    upgrade(empty_url, new, package_head(), monkeypatch)
    async with serving(empty_url, old, monkeypatch) as old_api:
        assert (await old_api.get("/ready")).status_code == 200

        upgrade(empty_url, new, EXPAND, monkeypatch)
        after_expand = await old_api.get("/ready")
        assert after_expand.status_code == 200, after_expand.json()
        body = after_expand.json()
        assert body["schema_revision"] == [EXPAND]
        assert body["expected_revision"] == [package_head()]
        assert body["window"]["newer_expand"] == [EXPAND]
        assert body["window"]["newest"] == [package_head()]
        assert await register(old_api) == 201

        # An image rolled back after the expand revision comes up ready.
        async with serving(empty_url, old, monkeypatch) as rollback:
            assert (await rollback.get("/ready")).status_code == 200

        upgrade(empty_url, new, CONTRACT, monkeypatch)
        after_contract = await old_api.get("/ready")
        assert after_contract.status_code == 503
        assert after_contract.json()["reason"].startswith(
            f"contract revision {CONTRACT} from a newer release is applied"
        )
        assert after_contract.json()["window"]["newer_contract"] == [CONTRACT]
        async with serving(empty_url, old, monkeypatch) as rollback:
            assert (await rollback.get("/ready")).status_code == 503


async def test_a_new_build_needs_its_expand_and_accepts_its_contract_either_way(
    empty_url: URL, builds: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, new = builds
    upgrade(empty_url, new, package_head(), monkeypatch)
    async with serving(empty_url, new, monkeypatch) as new_api:
        before = await new_api.get("/ready")
        assert before.status_code == 503
        assert before.json()["reason"].startswith(f"missing expand revision {EXPAND}")
        assert before.json()["window"]["missing_expand"] == [EXPAND]

        upgrade(empty_url, new, EXPAND, monkeypatch)
        at_expand = await new_api.get("/ready")
        assert at_expand.status_code == 200
        assert at_expand.json()["window"]["pending_contract"] == [CONTRACT]

        upgrade(empty_url, new, CONTRACT, monkeypatch)
        at_contract = await new_api.get("/ready")
        assert at_contract.status_code == 200
        assert at_contract.json()["window"]["pending_contract"] == []


async def test_a_reverted_contract_and_an_unrecorded_phase(
    empty_url: URL, builds: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = builds
    upgrade(empty_url, new, CONTRACT, monkeypatch)
    async with serving(empty_url, old, monkeypatch) as old_api:
        assert (await old_api.get("/ready")).status_code == 503
        with monkeypatch.context() as patch:
            patch.setenv("AGENT_DB_VERSIONS_DIR", str(new))
            migrate.downgrade(
                target_for("dev", empty_url), EXPAND, accept_data_loss=True, graph=RevisionGraph.load(new)
            )
        assert (await old_api.get("/ready")).status_code == 200  # the ledger says it was reverted

        with psycopg.connect(conninfo(empty_url), autocommit=True) as connection:
            # What a ledger written before phases says of the newer expand revision: nothing.
            connection.execute("ALTER TABLE schema_ledger DISABLE TRIGGER USER")
            connection.execute("UPDATE schema_ledger SET phase = NULL WHERE revision = %s", (EXPAND,))
            connection.execute("ALTER TABLE schema_ledger ENABLE TRIGGER USER")
        unrecorded = await old_api.get("/ready")
        assert unrecorded.status_code == 503
        assert (
            f"revision {EXPAND} from a newer release is applied and the ledger records no phase"
            in (unrecorded.json()["reason"])
        )


async def test_a_role_that_may_not_read_the_ledger_is_told_what_to_grant(
    empty_url: URL, builds: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = builds
    upgrade(empty_url, new, EXPAND, monkeypatch)
    role = f"api_{empty_url.database}"
    with psycopg.connect(conninfo(empty_url), autocommit=True) as connection:
        connection.execute(f'CREATE ROLE "{role}" LOGIN')
        connection.execute(f'GRANT SELECT ON alembic_version TO "{role}"')
    try:
        async with serving(empty_url.set(username=role), old, monkeypatch) as old_api:
            refused = await old_api.get("/ready")
            assert refused.status_code == 503
            assert refused.json()["reason"].endswith("GRANT SELECT ON schema_ledger to it")
            with psycopg.connect(conninfo(empty_url), autocommit=True) as connection:
                connection.execute(f'GRANT SELECT ON schema_ledger TO "{role}"')
            assert (await old_api.get("/ready")).status_code == 200
    finally:
        with psycopg.connect(conninfo(empty_url), autocommit=True) as connection:
            connection.execute(f'DROP OWNED BY "{role}"')
            connection.execute(f'DROP ROLE "{role}"')
