"""The ledger records each step's phase, and a ledger an older toolkit created gains the
column the first time a newer one runs against it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.database import ledger
from agent_db.database.engines import create_sync_engine
from agent_db.lint import lint_revisions
from agent_db.revisions.graph import default_graph
from agent_db.revisions.phases import MAP_FILE, PhaseError, graph_phases
from tests.support.databases import conninfo, target_for


def test_every_step_records_its_phase(empty_url: URL) -> None:
    migrate.upgrade(target_for("staging", empty_url))
    with psycopg.connect(conninfo(empty_url)) as connection:
        rows = connection.execute("SELECT revision, phase FROM schema_ledger ORDER BY id").fetchall()
    assert dict(rows) == graph_phases(default_graph())
    assert ("5aad52061418", "contract") in rows
    engine = create_sync_engine(empty_url)
    with engine.connect() as connection:
        assert {e.revision: e.phase for e in ledger.entries(connection)}["5aad52061418"] == "contract"
        recorded = ledger.applied_phases(connection, ["5aad52061418", "ece12879f6e3", "nope"])
    engine.dispose()
    assert recorded == {"5aad52061418": "contract", "ece12879f6e3": "expand"}


def test_a_ledger_without_the_phase_column_is_read_and_then_upgraded(empty_url: URL) -> None:
    migrate.upgrade(target_for("dev", empty_url), "7c2e8d1f0a6b")
    with psycopg.connect(conninfo(empty_url), autocommit=True) as connection:
        # What a ledger created before phases looks like.
        connection.execute("ALTER TABLE schema_ledger DISABLE TRIGGER USER")
        connection.execute("ALTER TABLE schema_ledger DROP COLUMN phase")
        connection.execute("ALTER TABLE schema_ledger ENABLE TRIGGER USER")
    engine = create_sync_engine(empty_url)
    with engine.connect() as connection:
        assert [e.phase for e in ledger.entries(connection)] == [None, None]
        assert ledger.applied_phases(connection, ["7c2e8d1f0a6b"]) == {"7c2e8d1f0a6b": None}
    engine.dispose()
    migrate.upgrade(target_for("dev", empty_url), "8ca16ac7acc4")
    with psycopg.connect(conninfo(empty_url)) as connection:
        rows = connection.execute("SELECT revision, phase FROM schema_ledger ORDER BY id").fetchall()
    assert rows == [("3f1a2b9c4d5e", None), ("7c2e8d1f0a6b", None), ("8ca16ac7acc4", "expand")]


def test_a_phase_map_naming_no_revision_stops_upgrade_and_lint(
    empty_url: URL, versions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (versions / MAP_FILE).write_text('[phases]\n5aad52061418 = "contract"\n5aad5206l418 = "contract"\n')
    with pytest.raises(PhaseError, match="names 5aad5206l418, which no revision file defines"):
        migrate.upgrade(target_for("dev", empty_url))
    with psycopg.connect(conninfo(empty_url)) as connection:
        assert connection.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,)
    with pytest.raises(PhaseError, match="names 5aad5206l418"):
        lint_revisions(all_revisions=True)
