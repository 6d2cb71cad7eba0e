"""``api.smoke`` waits for the census too: the release is rolled out when a live API process of
it (its heads, and its commit when known) is registered in the environment's census, not only
when some replica answers /ready."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import URL

from agent_api.main import create_app
from agent_api.settings import load_api_settings
from agent_db.commands import migrate
from agent_db.commands.smoke import SmokeCheckFailed, expectation_for, smoke_check
from agent_db.commands.smoke_census import ReleaseBuild, census_check, census_problem
from agent_db.database.consumers import LiveConsumer, build_commit
from agent_db.database.target import Target
from agent_db.revisions.graph import default_graph
from tests.support.api_server import serving
from tests.support.databases import DatabaseFactory, url_text

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def consumer(heads: tuple[str, ...], commit: str | None, environment: str = "staging") -> LiveConsumer:
    return LiveConsumer(
        id="x", environment=environment, build_commit=commit, build_revisions=heads, build_heads=heads,
        host="api-1", pid=7, heartbeat_seconds=10.0, started_at=NOW, last_seen=NOW, seconds_since_seen=1.5,
    )  # fmt: skip


def test_the_release_is_found_by_heads_and_commit() -> None:
    release = ReleaseBuild(("b",), "c0mm1t")
    assert census_problem([consumer(("b",), "c0mm1t")], release, "staging") is None
    assert census_problem([consumer(("b",), "c0mm1t-dirty")], release, "staging") is None
    assert census_problem([consumer(("b",), None)], release, "staging") is None  # commit unknown there
    assert census_problem([consumer(("b",), "x")], ReleaseBuild(("b",), None), "staging") is None


def test_the_previous_release_or_another_environment_is_not_the_release() -> None:
    release = ReleaseBuild(("b",), "c0mm1t")
    problem = census_problem(
        [consumer(("a",), "0ld"), consumer(("b",), "c0mm1t", "prod")], release, "staging"
    )
    assert problem is not None
    assert "shows no live process of this release (commit c0mm1t, head b) yet" in problem
    assert "live: api-1 pid 7, build 0ld (head a)" in problem
    same_heads_older_commit = census_problem([consumer(("b",), "0ld")], release, "staging")
    assert same_heads_older_commit is not None  # a release that changed no revision: the commit tells
    nobody = census_problem([], release, "staging")
    assert nobody is not None
    assert "shows no live API process" in nobody


@pytest.fixture
def staging_api(databases: DatabaseFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, URL]]:
    url = databases.create("smoke_census")
    monkeypatch.setenv("STAGING_DATABASE_URL", url_text(url))
    monkeypatch.setenv("STAGING_JWT_SECRET", "stg-signing-key-for-the-census-tests-0123456789")
    migrate.upgrade(Target.resolve("staging"))
    with serving(create_app(load_api_settings("staging"))) as base_url:
        yield base_url, url


def test_smoke_passes_once_the_release_is_in_the_census(staging_api: tuple[str, URL]) -> None:
    base_url, _ = staging_api
    target = Target.resolve("staging")
    release = ReleaseBuild(tuple(sorted(default_graph().heads)), build_commit())
    expected = expectation_for("staging")
    ready = smoke_check(
        base_url,
        expected,
        environment="staging",
        timeout=30,
        interval=0.5,
        census=census_check(target, release),
    )
    assert ready.http_status == 200


def test_smoke_fails_while_the_census_shows_only_another_build(staging_api: tuple[str, URL]) -> None:
    base_url, _ = staging_api
    target = Target.resolve("staging")
    newer = ReleaseBuild(tuple(sorted(default_graph().heads)), "feedfacefeedfacefeedface")
    waits: list[str] = []
    with pytest.raises(SmokeCheckFailed, match="shows no live process of this release"):
        smoke_check(
            base_url, expectation_for("staging"), environment="staging", timeout=1, interval=0.2,
            census=census_check(target, newer), on_wait=waits.append,
        )  # fmt: skip
    assert len(waits) == 1
