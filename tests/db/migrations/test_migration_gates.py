"""Migration gates. From pytest-alembic: single head, upgrade from empty, up/down consistency,
models match the migrations. Ours: the stairway (each revision up, down, up again, one at a
time), every downgrade leaves the schema exactly as it was before its upgrade, and every revision
passes db.lint or carries an accepted reason. Each walks whatever revisions exist, on a fresh
empty database."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from pytest_alembic.tests import (  # noqa: F401  (collected as tests here)
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

from agent_db.database.engines import create_sync_engine
from agent_db.database.snapshot import Difference, compare, schema_snapshot
from agent_db.lint import lint_revisions
from agent_db.revisions.alembic_config import alembic_config as build_alembic_config
from agent_db.revisions.graph import RevisionGraph, default_graph
from tests.support.databases import DatabaseFactory
from tests.support.revisions import copy_history, package_head, write_revision


@pytest.fixture
def alembic_config() -> Config:
    return build_alembic_config("dev")


@pytest.fixture
def alembic_engine(empty_url: URL) -> Iterator[Engine]:
    engine = create_sync_engine(empty_url)
    yield engine
    engine.dispose()


@pytest.fixture
def migration_connection(empty_url: URL) -> Iterator[Connection]:
    engine = create_sync_engine(empty_url)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def _steps(graph: RevisionGraph) -> list[tuple[str, str]]:
    """Each revision, parents first, with what its downgrade goes back to (a merge: its first
    parent, which leaves the other branch applied)."""
    return [
        (rev, graph[rev].down_revisions[0] if graph[rev].down_revisions else "base")
        for rev in graph.linear_order()
    ]


def _migrate(connection: Connection, direction: str, revision: str, name: str) -> None:
    config = build_alembic_config("dev", connection=connection, stdout=io.StringIO())
    try:
        if direction == "upgrade":
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)
    except Exception as error:
        first_line = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        pytest.fail(f"{name}: {direction} to {revision} failed: {first_line}")
    connection.commit()


def _snapshot(connection: Connection) -> dict[str, dict[str, str]]:
    """The schema now, for comparing a downgrade with what preceded its upgrade.

    A constraint's validation state is left out: ``VALIDATE CONSTRAINT`` cannot be undone (the
    downgrade of the NOT VALID-then-VALIDATE pattern leaves it validated), and re-adding a
    dropped constraint ``NOT VALID`` is the safe downgrade. Neither changes what the code sees;
    everything else, including an INVALID index left behind, must match exactly. The read
    transaction is closed so the next migration owns its own (an autocommit block needs that).
    """
    snapshot = schema_snapshot(connection)
    connection.rollback()
    snapshot["constraint"] = {
        name: definition.replace(" [NOT VALID]", "").removesuffix(" NOT VALID")
        for name, definition in snapshot.get("constraint", {}).items()
    }
    return snapshot


def _explain(differences: list[Difference], first: str, second: str) -> str:
    return "; ".join(f"{d.kind} {d.name}: {first} {d.expected!r}, {second} {d.live!r}" for d in differences)


def _stairway(connection: Connection) -> None:
    graph = default_graph()
    for revision, parent in _steps(graph):
        name = graph[revision].path.name
        _migrate(connection, "upgrade", revision, name)
        upgraded = _snapshot(connection)
        _migrate(connection, "downgrade", parent, name)
        _migrate(connection, "upgrade", revision, name)
        again = compare(_snapshot(connection), upgraded)
        assert not again, f"{name}: up, down, up gives another schema: " + _explain(
            again, "first upgrade", "second upgrade"
        )


def _downgrades_restore(connection: Connection) -> None:
    graph = default_graph()
    before = _snapshot(connection)
    for revision, parent in _steps(graph):
        name = graph[revision].path.name
        _migrate(connection, "upgrade", revision, name)
        after = _snapshot(connection)
        _migrate(connection, "downgrade", parent, name)
        left = compare(_snapshot(connection), before)
        assert not left, f"{name}: its downgrade does not undo its upgrade: " + _explain(
            left, "before upgrade", "after downgrade"
        )
        _migrate(connection, "upgrade", revision, name)
        before = after


def test_stairway_each_revision_up_down_up(migration_connection: Connection) -> None:
    _stairway(migration_connection)


def test_downgrade_leaves_the_schema_as_before_its_upgrade(
    migration_connection: Connection,
) -> None:
    _downgrades_restore(migration_connection)


def test_the_gates_walk_autocommit_blocks_and_not_valid_constraints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, databases: DatabaseFactory
) -> None:
    """The history will hold concurrent indexes and NOT VALID-then-VALIDATE pairs; the gates
    must walk them (a read left open before an autocommit block broke Alembic once)."""
    versions = copy_history(tmp_path)
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(versions))
    head = package_head()
    write_revision(
        versions,
        "ffff00000001",
        head,
        'safe.create_index_concurrently("ix_users_username_email", "users", ["username", "email"])',
        downgrade='safe.drop_index_concurrently("ix_users_username_email", "users")',
        message="index",
    )
    write_revision(
        versions,
        "ffff00000002",
        "ffff00000001",
        'safe.add_check_not_valid("users_id_positive_check", "users", "id > 0")',
        downgrade='op.drop_constraint("users_id_positive_check", "users")',
        message="check",
    )
    write_revision(
        versions,
        "ffff00000003",
        "ffff00000002",
        'safe.validate_constraint("users", "users_id_positive_check")',
        message="validate",
    )
    for walk in (_stairway, _downgrades_restore):
        engine = create_sync_engine(databases.create("gates"))
        with engine.connect() as connection:
            walk(connection)
        engine.dispose()


def test_every_revision_passes_lint_or_carries_an_accepted_reason() -> None:
    report = lint_revisions(all_revisions=True)
    assert len(report.revisions) == len(default_graph())
    assert report.ok, "db.lint --all: " + "; ".join(
        f"{f.where}: {f.rule}: {f.message}" for f in report.unaccepted
    )
