"""A model that does not import is blamed with its file and line, by db.check, db.revision,
db.downgrade and db.upgrade, never on "the migration history" or a healthy revision file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.database.catalog import current_revisions
from agent_db.database.engines import create_sync_engine
from agent_db.revisions.graph import default_graph
from tests.support.cli import Outcome, run_invoke
from tests.support.databases import target_for, url_text
from tests.support.package_copy import copy_package, imported_from, insert_line
from tests.support.revisions import copy_history, package_head, write_revision

MISSING = "helpers_nobody_installed"


@pytest.fixture
def broken(tmp_path: Path) -> tuple[Path, str]:
    """A copy of the package whose models/user.py imports a module that does not exist; the
    copy and the ``path:line`` the message must name."""
    copy = copy_package(tmp_path)
    user = copy / "models" / "user.py"
    line = insert_line(user, "from __future__ import annotations", f"import {MISSING}")
    return copy, f"{user}:{line}"


def run_with(copy: Path, url: URL, *args: str) -> Outcome:
    return run_invoke(*args, env={**imported_from(copy), "DEV_DATABASE_URL": url_text(url)})


def assert_blames_the_model(outcome: Outcome, where: str) -> None:
    assert f"{where} (import {MISSING}) raised ModuleNotFoundError" in outcome.stderr, outcome.stderr
    assert "Fix that import" in outcome.stderr
    assert "the migration history does not apply" not in outcome.stderr
    assert "Traceback" not in outcome.stderr


def position(url: URL) -> list[str]:
    engine = create_sync_engine(url)
    try:
        with engine.connect() as connection:
            return sorted(current_revisions(connection))
    finally:
        engine.dispose()


def test_check_blames_the_model(broken: tuple[Path, str], empty_url: URL) -> None:
    copy, where = broken
    outcome = run_with(copy, empty_url, "db.check")
    assert outcome.code == 2, outcome.output
    assert_blames_the_model(outcome, where)


def test_revision_autogenerate_blames_the_model_and_writes_nothing(
    broken: tuple[Path, str], empty_url: URL
) -> None:
    copy, where = broken
    before = sorted((copy / "migrations" / "versions").iterdir())
    outcome = run_with(copy, empty_url, "db.revision", "-m", "add nickname", "--autogenerate")
    assert outcome.code == 2, outcome.output
    assert_blames_the_model(outcome, where)
    assert sorted((copy / "migrations" / "versions").iterdir()) == before


def test_downgrade_blames_the_model_not_the_revision_file(broken: tuple[Path, str], empty_url: URL) -> None:
    copy, where = broken
    migrate.upgrade(target_for("dev", empty_url))
    head = package_head()
    outcome = run_with(copy, empty_url, "db.downgrade", "--to", "-1")
    assert outcome.code == 2, outcome.output
    assert_blames_the_model(outcome, where)
    assert default_graph()[head].path.name not in outcome.stderr, "a healthy revision file is blamed"
    assert position(empty_url) == [head]


def test_upgrade_blames_the_model_and_applies_nothing(broken: tuple[Path, str], empty_url: URL) -> None:
    copy, where = broken
    outcome = run_with(copy, empty_url, "db.upgrade")
    assert outcome.code == 1, outcome.output
    assert_blames_the_model(outcome, where)
    assert "did not run, nothing of it was applied" in outcome.stderr
    assert position(empty_url) == []


def test_a_revision_that_does_not_import_is_blamed_with_its_line(tmp_path: Path, empty_url: URL) -> None:
    versions = copy_history(tmp_path)
    path = write_revision(versions, "0badimport01", package_head(), "pass", header=f"import {MISSING}")
    line = path.read_text().splitlines().index(f"import {MISSING}") + 1
    outcome = run_invoke(
        "db.plan", env={"AGENT_DB_VERSIONS_DIR": str(versions), "DEV_DATABASE_URL": url_text(empty_url)}
    )
    assert outcome.code == 2, outcome.output
    assert f"{path}:{line} (import {MISSING}) raised ModuleNotFoundError" in outcome.stderr, outcome.stderr
    assert "while Alembic imported that revision file" in outcome.stderr
