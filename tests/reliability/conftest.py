"""The reliability tests' world: dev, staging and prod databases in known positions, a copy of
the revision history to write into, and a way to prove that a command changed nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent_db.commands import migrate
from agent_db.revisions.graph import default_graph
from tests.conftest import target_for
from tests.reliability.helpers import versions
from tests.reliability.world import World
from tests.revisions import copy_history
from tests.support import DatabaseFactory, url_text


@pytest.fixture(scope="session")
def world(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """dev at head, staging and prod one revision behind: a promotion or a downgrade that got
    through would change something. Built once per session (tests that move it put it back);
    the variables pointing at it are set per test by ``environment``."""
    folder = tmp_path_factory.mktemp("hostile")
    versions = copy_history(folder)
    manifests = folder / "manifests"
    manifests.mkdir()
    result = World(
        databases.create("hdev"), databases.create("hstg"), databases.create("hprod"), versions, manifests
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGENT_DB_VERSIONS_DIR", str(versions))
        patch.setenv("AGENT_DB_CACHE_DIR", str(folder / "cache"))
        graph = default_graph()
        previous = graph.linear_order()[-2]
        migrate.upgrade(target_for("dev", result.dev))
        migrate.upgrade(target_for("staging", result.staging), previous)
        migrate.upgrade(target_for("prod", result.prod), previous)
    yield result
    for connection in result.watchers:
        connection.close()


@pytest.fixture
def environment(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(world.versions))
    monkeypatch.setenv("AGENT_DB_CACHE_DIR", str(world.versions.parent / "cache"))
    monkeypatch.setenv("DEV_DATABASE_URL", url_text(world.dev))
    monkeypatch.setenv("STAGING_DATABASE_URL", url_text(world.staging))
    monkeypatch.setenv("PROD_DATABASE_URL", url_text(world.prod))
    monkeypatch.chdir(world.versions.parent)  # default outputs (manifests/<env>.json) land here
    return world


__all__ = ["versions"]
