"""Migration gates. From pytest-alembic: single head, upgrade from empty, up/down consistency,
models match the migrations. Ours: the stairway (each revision up, down, up again, one at a
time), every downgrade leaves the schema exactly as it was before its upgrade, and every revision
passes db.lint or carries an accepted reason. Each walks whatever revisions exist, on a fresh
empty database."""

from __future__ import annotations

import io
from collections.abc import Iterator

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

from agent_db.alembic_config import alembic_config as build_alembic_config
from agent_db.pipeline.graph import RevisionGraph, default_graph
from agent_db.pipeline.lint import lint_revisions
from agent_db.pipeline.snapshot import Difference, compare, schema_snapshot
from agent_db.session import create_sync_engine


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


def _explain(differences: list[Difference], first: str, second: str) -> str:
    return "; ".join(f"{d.kind} {d.name}: {first} {d.expected!r}, {second} {d.live!r}" for d in differences)


def test_stairway_each_revision_up_down_up(migration_connection: Connection) -> None:
    graph = default_graph()
    for revision, parent in _steps(graph):
        name = graph[revision].path.name
        _migrate(migration_connection, "upgrade", revision, name)
        upgraded = schema_snapshot(migration_connection)
        _migrate(migration_connection, "downgrade", parent, name)
        _migrate(migration_connection, "upgrade", revision, name)
        again = compare(schema_snapshot(migration_connection), upgraded)
        assert not again, f"{name}: up, down, up gives another schema: " + _explain(
            again, "first upgrade", "second upgrade"
        )


def test_downgrade_leaves_the_schema_as_before_its_upgrade(
    migration_connection: Connection,
) -> None:
    graph = default_graph()
    before = schema_snapshot(migration_connection)
    for revision, parent in _steps(graph):
        name = graph[revision].path.name
        _migrate(migration_connection, "upgrade", revision, name)
        after = schema_snapshot(migration_connection)
        _migrate(migration_connection, "downgrade", parent, name)
        left = compare(schema_snapshot(migration_connection), before)
        assert not left, f"{name}: its downgrade does not undo its upgrade: " + _explain(
            left, "before upgrade", "after downgrade"
        )
        _migrate(migration_connection, "upgrade", revision, name)
        before = after


def test_every_revision_passes_lint_or_carries_an_accepted_reason() -> None:
    report = lint_revisions(all_revisions=True)
    assert len(report.revisions) == len(default_graph())
    assert report.ok, "db.lint --all: " + "; ".join(
        f"{f.where}: {f.rule}: {f.message}" for f in report.unaccepted
    )
