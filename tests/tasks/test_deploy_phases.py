"""The release order of deploy.yml, run by the workflow emulator: each stage promotes the expand
revisions, rolls out (the database has the expand revision and not yet the contract one at that
moment), smoke-checks (ready, and in the census), then promotes the contract revisions, which
the gate holds while a process of the previous release is registered: the stage fails (exit 3,
naming it) with the expand revision applied; once that process is gone, *Re-run failed jobs*
applies the contract revision and the deploy reaches prod."""

from __future__ import annotations

import shlex
import sys
import uuid
from pathlib import Path

import pytest

from agent_db.database import consumers
from agent_db.database.consumers import ConsumerIdentity
from agent_db.revisions.graph import RevisionGraph
from agent_db.versions import VERSIONS_DIR
from tests.support.databases import target_for
from tests.support.inspection import ledger_rows, position
from tests.support.pipeline import NEW_REVISION, Pipeline
from tests.support.revisions import write_revision

CONTRACT = "c0ffee000102"


@pytest.fixture
def contract_revision(pipeline: Pipeline) -> str:
    """A contract revision on top of the pipeline's expand one, written before the APIs start
    (so their build knows it)."""
    write_revision(
        pipeline.versions, CONTRACT, NEW_REVISION, "op.drop_column('users', 'bio')",
        "op.add_column('users', sa.Column('bio', sa.Text()))", message="drop bio again",
        header='phase = "contract"',
    )  # fmt: skip
    return CONTRACT


def recording_rollout(record: Path) -> str:
    """A rollout that writes the database's position at the moment it runs to ``record`` + env."""
    script = (
        "import os, pathlib, psycopg\n"
        "env = os.environ['AGENT_ENV']\n"
        "url = os.environ[env.upper() + '_DATABASE_URL'].replace('+psycopg', '', 1)\n"
        "with psycopg.connect(url) as c:\n"
        "    rows = c.execute('SELECT version_num FROM alembic_version').fetchall()\n"
        f"pathlib.Path({str(record)!r} + env).write_text(','.join(r[0] for r in rows))\n"
    )
    return shlex.join([sys.executable, "-c", script])


def old_release() -> ConsumerIdentity:
    """A process of the previous release: it knows the package's history, not the new revisions."""
    graph = RevisionGraph.load(VERSIONS_DIR)
    return ConsumerIdentity(
        id=uuid.uuid4(), environment="staging", build_commit="0ld0ld0ld0ld", build_revisions=tuple(graph.revisions),
        build_heads=graph.heads, host="old-replica", pid=4242, heartbeat_seconds=3600.0,
    )  # fmt: skip


@pytest.mark.slow
def test_contract_revisions_run_after_the_rollout_and_wait_for_the_old_release(
    pipeline: Pipeline, contract_revision: str, apis: dict[str, str], tmp_path: Path
) -> None:
    old = old_release()
    with target_for("staging", pipeline.staging).connect(autocommit=True) as connection:
        consumers.register(connection, old)
    record = tmp_path / "position-at-rollout-"
    run = pipeline.deploy_run(
        variables={
            name: {"API_URL": url, "API_ROLLOUT_COMMAND": recording_rollout(record)}
            for name, url in apis.items()
        }
    )
    first = run.run()
    staging = first["staging"]
    assert staging.outcome == "failure", staging.output
    assert staging.step("expand revisions").outcome == "success"
    assert staging.step("Roll out").outcome == "success", staging.output
    assert Path(f"{record}staging").read_text() == NEW_REVISION  # rolled out between the phases
    assert "the census shows a live process of this release" in staging.step("Smoke").stderr
    refused = staging.step("contract revisions")
    assert refused.returncode == 3, refused.stderr
    assert "old-replica pid 4242" in refused.stderr
    assert CONTRACT in refused.stderr
    assert position(pipeline.staging) == [NEW_REVISION]  # the expand revision stays applied
    assert first["prod"].outcome == "skipped"
    assert not (run.artifacts / "manifest-staging").exists()

    with target_for("staging", pipeline.staging).connect(autocommit=True) as connection:
        consumers.deregister(connection, old.id)  # the old release has stopped
    again = run.rerun_failed()
    for job_id in ("staging", "prod"):
        assert again[job_id].outcome == "success", f"{job_id}:\n{again[job_id].output}"
    assert Path(f"{record}prod").read_text() == NEW_REVISION
    for url in (pipeline.staging, pipeline.prod):
        assert position(url) == [CONTRACT]
        steps = [(r["revision"], r["phase"]) for r in ledger_rows(url) if r["outcome"] == "success"]
        assert steps[-2:] == [(NEW_REVISION, "expand"), (CONTRACT, "contract")]
