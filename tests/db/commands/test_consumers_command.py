"""``db.consumers --env E [--json]``: the live consumers, grouped by build; gone ones left out."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

from sqlalchemy.engine import URL

from agent_db.database import consumers
from agent_db.database.consumers import ConsumerIdentity
from agent_db.database.engines import create_sync_engine
from tests.support.cli import run_cli
from tests.support.databases import url_text
from tests.support.inspection import query


def register(url: URL, **changes: object) -> ConsumerIdentity:
    base = ConsumerIdentity.of_this_process(
        "staging", revisions=("3f1a2b9c4d5e",), heads=("3f1a2b9c4d5e",), heartbeat_seconds=10
    )
    consumer = replace(base, id=uuid.uuid4(), **changes)  # type: ignore[arg-type]
    engine = create_sync_engine(url)
    with engine.connect() as connection:
        consumers.register(connection, consumer)
    engine.dispose()
    return consumer


def test_lists_live_consumers_as_json_grouped_by_build(empty_url: URL) -> None:
    env = {"STAGING_DATABASE_URL": url_text(empty_url)}
    assert json.loads(run_cli("db.consumers", "--env", "staging", "--json", env=env).stdout)["count"] == 0
    old = register(empty_url, build_commit="a" * 40, host="web-1", pid=11)
    register(empty_url, build_commit="a" * 40, host="web-2", pid=12)
    register(empty_url, build_commit="b" * 40, build_revisions=("x", "y"), build_heads=("y",), pid=13)
    gone = register(empty_url, build_commit="c" * 40, pid=14)
    query(
        empty_url,
        f"UPDATE schema_consumers SET last_seen = now() - interval '1 minute' WHERE id = '{gone.id}'",
    )
    query(
        empty_url,
        f"UPDATE schema_consumers SET last_seen = now() - interval '5 seconds' WHERE id = '{old.id}'",
    )

    outcome = run_cli("db.consumers", "--env", "staging", "--json", env=env)
    assert outcome.code == 0, outcome.stderr
    report = json.loads(outcome.stdout)
    assert report["environment"] == "staging"
    assert report["count"] == 3
    assert report["consumers"][0]["pid"] == 11  # oldest heartbeat first
    assert 14 not in {c["pid"] for c in report["consumers"]}
    first, second = report["builds"]
    assert (first["build_commit"], first["count"]) == ("a" * 40, 2)
    assert first["oldest_heartbeat_seconds"] >= 5
    assert (second["build_heads"], second["count"]) == (["y"], 1)


def test_people_get_a_table_and_one_line_per_build(empty_url: URL) -> None:
    env = {"STAGING_DATABASE_URL": url_text(empty_url)}
    none = run_cli("db.consumers", "--env", "staging", env=env)
    assert none.code == 0
    assert "no live consumer" in none.stderr
    register(empty_url, build_commit="d" * 40, host="web-[bold]9", pid=4242)
    outcome = run_cli("db.consumers", "--env", "staging", env=env)
    assert outcome.code == 0, outcome.stderr
    assert "web-[bold]9" in outcome.stdout  # never read as markup
    assert "4242" in outcome.stdout
    assert "build dddddddddddd (head 3f1a2b9c4d5e): 1 process(es)" in outcome.stderr


def test_an_unknown_environment_is_a_usage_error() -> None:
    outcome = run_cli("db.consumers", "--env", "nowhere")
    assert outcome.code == 2
    assert "nowhere" in outcome.stderr
