"""Migration runs in OpenTelemetry: with an OTLP endpoint set (a collector in this process), a
run yields one span for the run and one per revision step carrying the ledger's outcome, lock
timeouts and retries as events naming the blocker, metrics for steps and the lock; the CI run
reaches the spans and the ledger. With no endpoint, nothing is sent and the SDK is not even
imported."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.database.target import Target
from agent_db.errors import ConfigError, MigrationFailed
from agent_db.settings import load_settings
from tests.support.databases import conninfo, target_for, url_text
from tests.support.inspection import query
from tests.support.otlp import Collector, attributes, otlp_collector
from tests.support.paths import ROOT
from tests.support.ports import free_port
from tests.support.revisions import configured_head, write_revision

GITHUB = {
    "GITHUB_RUN_ID": "8123456789",
    "GITHUB_RUN_ATTEMPT": "2",
    "GITHUB_WORKFLOW": "deploy",
    "GITHUB_REPOSITORY": "acme/agent-platform",
    "GITHUB_SERVER_URL": "https://github.com",
}
RUN_URL = "https://github.com/acme/agent-platform/actions/runs/8123456789/attempts/2"


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    with otlp_collector() as running:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", running.endpoint)
        monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
        yield running


def test_a_run_yields_one_span_per_step_with_the_ledgers_outcome(
    empty_url: URL, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in GITHUB.items():
        monkeypatch.setenv(name, value)
    result = migrate.upgrade(target_for("staging", empty_url))
    assert len(result.applied) > 3

    spans = collector.spans()
    runs = [span for span in spans if not span.parent_span_id]
    assert len(runs) == 1
    run = runs[0]
    run_attributes = attributes(run.attributes)
    assert run.name == "db.upgrade staging"
    assert run_attributes["agent_db.run_id"] == result.run_id
    assert run_attributes["agent_db.outcome"] == "success"
    assert run_attributes["agent_db.revisions.pending"] == result.applied
    assert run_attributes["agent_db.revisions.after"] == list(result.after)
    assert run_attributes["cicd.pipeline.run.id"] == "8123456789"
    assert run_attributes["cicd.pipeline.run.url.full"] == RUN_URL
    assert "migration_lock.acquired" in [event.name for event in run.events]

    steps = [span for span in spans if span.parent_span_id == run.span_id]
    assert [attributes(step.attributes)["agent_db.revision"] for step in steps] == result.applied
    rows = query(empty_url, f"SELECT revision, outcome FROM schema_ledger WHERE run_id = '{result.run_id}'")
    ledger = {str(revision): str(outcome) for revision, outcome in rows}
    for step in steps:
        found = attributes(step.attributes)
        assert found["agent_db.ledger.outcome"] == ledger[found["agent_db.revision"]] == "success"
        assert found["agent_db.revision.phase"] in ("expand", "contract")
        assert step.trace_id == run.trace_id
        assert step.end_time_unix_nano >= step.start_time_unix_nano
    assert collector.resource_attributes()["deployment.environment.name"] == "staging"

    # The ledger names the CI run too, on every row of this run.
    assert {row[0] for row in query(empty_url, "SELECT DISTINCT ci_run FROM schema_ledger")} == {RUN_URL}

    metrics = collector.metrics()
    step_points = metrics["agent_db.migration.step.duration"]
    assert sum(point.count for point in step_points) == len(result.applied)
    assert {attributes(p.attributes)["agent_db.outcome"] for p in step_points} == {"success"}
    assert sum(point.count for point in metrics["agent_db.migration.lock.wait"]) == 1


def test_a_failed_step_and_its_run_are_errors_with_the_ledgers_outcome(
    empty_url: URL, versions: Path, collector: Collector
) -> None:
    target = target_for("staging", empty_url)
    migrate.upgrade(target)
    write_revision(versions, "0b5e01", configured_head(), "op.execute('SELECT 1/0')")
    with pytest.raises(MigrationFailed, match="division by zero"):
        migrate.upgrade(target)

    spans = collector.spans()
    failed_run = [
        s for s in spans if not s.parent_span_id and attributes(s.attributes)["agent_db.outcome"] == "failed"
    ]
    assert len(failed_run) == 1
    assert failed_run[0].status.code == 2  # STATUS_CODE_ERROR
    (step,) = [s for s in spans if s.parent_span_id == failed_run[0].span_id]
    found = attributes(step.attributes)
    assert (found["agent_db.revision"], found["agent_db.ledger.outcome"]) == ("0b5e01", "failed")
    assert query(empty_url, "SELECT outcome FROM schema_ledger WHERE revision = '0b5e01'") == [("failed",)]
    assert "division by zero" in step.status.message
    failures = collector.metrics()["agent_db.migration.steps"]
    assert {attributes(p.attributes)["agent_db.outcome"]: p.as_int for p in failures}["failed"] == 1


def test_lock_timeouts_are_events_naming_the_blocker_and_the_retry_is_counted(
    empty_url: URL, versions: Path, collector: Collector
) -> None:
    settings = load_settings("staging").model_copy(update={"lock_retries": 1, "retry_backoff_seconds": 0})
    target = Target(settings, empty_url)
    migrate.upgrade(target)
    write_revision(
        versions,
        "10c401",
        configured_head(),
        "op.add_column('users', sa.Column('nickname', sa.String(40)))",
        "op.drop_column('users', 'nickname')",
        header='lock_timeout = "1s"',
    )
    blocker = psycopg.connect(conninfo(empty_url), application_name="nightly-report")
    try:
        blocker.execute("SELECT count(*) FROM users")  # ACCESS SHARE until the transaction ends
        with pytest.raises(MigrationFailed, match="nightly-report"):
            migrate.upgrade(target)
    finally:
        blocker.close()

    (step,) = [s for s in collector.spans() if attributes(s.attributes).get("agent_db.revision") == "10c401"]
    found = attributes(step.attributes)
    assert found["agent_db.ledger.outcome"] == "failed"
    assert found["agent_db.attempts"] == 2
    assert "nightly-report" in found["agent_db.blocker"]
    events = {event.name: attributes(event.attributes) for event in step.events}
    assert "nightly-report" in events["lock_timeout.retry"]["agent_db.blocker"]
    rows = [
        r[0] for r in query(empty_url, "SELECT id FROM schema_ledger WHERE revision = '10c401' ORDER BY id")
    ]
    attempts = [attributes(e.attributes) for e in step.events if e.name == "attempt"]
    assert [a["agent_db.ledger.row_id"] for a in attempts] == rows
    metrics = collector.metrics()
    assert sum(p.as_int for p in metrics["agent_db.migration.retries"]) == 1
    assert sum(p.as_int for p in metrics["agent_db.migration.lock_timeouts"]) == 2


def test_an_unsupported_protocol_is_refused_before_anything_runs(
    empty_url: URL, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ConfigError, match="4318"):
        migrate.upgrade(target_for("staging", empty_url))
    assert query(empty_url, "SELECT to_regclass('schema_ledger') IS NULL") == [(True,)]


NO_ENDPOINT_RUN = """
import sys
from sqlalchemy.engine import make_url
from agent_db.commands import migrate
from agent_db.database.target import Target
from agent_db.settings import load_settings
result = migrate.upgrade(Target(load_settings("staging"), make_url(sys.argv[1])))
assert result.applied
print(sorted(name for name in sys.modules if name.startswith("opentelemetry")))
"""


def test_without_an_endpoint_nothing_is_exported_and_the_sdk_is_not_loaded(
    empty_url: URL, collector: Collector
) -> None:
    variables = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    process = subprocess.run(
        [sys.executable, "-c", NO_ENDPOINT_RUN, url_text(empty_url)],
        cwd=ROOT,
        env=variables,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "[]"
    assert collector.requests == 0


def test_an_unreachable_collector_never_fails_the_migration(
    empty_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    result = migrate.upgrade(target_for("staging", empty_url))
    assert result.applied
    assert query(empty_url, "SELECT DISTINCT outcome FROM schema_ledger") == [("success",)]
