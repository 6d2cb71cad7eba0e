"""Two heads (two branches from one revision): each applies on its own, in any order, and each
reverts alone. Applying the second once failed with "Can't locate revision" and a failed ledger
row: the run's revision map knew nothing of the other branch's applied head."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from tests.support.databases import target_for
from tests.support.inspection import ledger_rows, position, query
from tests.support.revisions import copy_history, package_head, write_revision

FIRST, SECOND = "aaaa00000010", "bbbb00000020"


@pytest.fixture
def two_heads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    versions = copy_history(tmp_path)
    base = package_head()
    for revision, table in ((FIRST, "branch_a"), (SECOND, "branch_b")):
        write_revision(
            versions,
            revision,
            base,
            f"op.execute('CREATE TABLE {table} (id int)')",
            f"op.execute('DROP TABLE {table}')",
            message=f"branch {table}",
        )
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(versions))
    return base


def _tables(url: URL) -> set[str]:
    rows = query(url, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'branch_%'")
    return {str(row[0]) for row in rows}


def test_the_second_head_applies_after_the_first(two_heads: str, empty_url: URL) -> None:
    target = target_for("staging", empty_url)
    migrate.upgrade(target, FIRST)
    result = migrate.upgrade(target, SECOND)
    assert result.applied == [SECOND]
    assert sorted(position(empty_url)) == [FIRST, SECOND]
    assert _tables(empty_url) == {"branch_a", "branch_b"}
    assert all(row["outcome"] == "success" for row in ledger_rows(empty_url))


def test_one_branch_reverts_alone(two_heads: str, empty_url: URL) -> None:
    target = target_for("staging", empty_url)
    migrate.upgrade(target, SECOND)
    migrate.upgrade(target, FIRST)
    result = migrate.downgrade(target, FIRST)  # keep FIRST: revert only what is not below it
    assert result.applied == [SECOND]
    assert position(empty_url) == [FIRST]
    assert _tables(empty_url) == {"branch_a"}
    migrate.downgrade(target, two_heads)
    assert position(empty_url) == [two_heads]
    assert _tables(empty_url) == set()
