"""A model the registry (models/__init__.py) does not import is reported by db.check and
db.revision --autogenerate (exit 3, the module and the import to add), never "models and
migrations agree" with an empty revision: the tutorial's common problem 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import URL

from agent_db.models.registry_check import unregistered_models
from tests.support.cli import Outcome, run_invoke
from tests.support.databases import url_text
from tests.support.package_copy import copy_package, imported_from
from tests.support.paths import ROOT

WIDGET = '''"""A model somebody forgot to register."""

from sqlalchemy.orm import Mapped, mapped_column

from agent_db.models.base import Base


class Widget(Base):
    __tablename__ = "widgets"

    id: Mapped[int] = mapped_column(primary_key=True)
'''

ELSEWHERE = '''"""Models outside models/, one abstract."""

from sqlalchemy.orm import Mapped, mapped_column

from agent_db.models import Base


class Stamped(Base):
    __abstract__ = True

    id: Mapped[int] = mapped_column(primary_key=True)


class Gadget(Stamped):
    __tablename__ = "gadgets"
'''


def run_with(copy: Path, url: URL, *args: str) -> Outcome:
    return run_invoke(*args, env={**imported_from(copy), "DEV_DATABASE_URL": url_text(url)})


def test_the_package_registers_every_model() -> None:
    assert unregistered_models() == []


def test_check_reports_a_model_left_out_of_the_registry(tmp_path: Path, empty_url: URL) -> None:
    copy = copy_package(tmp_path)
    (copy / "models" / "widget.py").write_text(WIDGET)
    outcome = run_with(copy, empty_url, "db.check")
    assert outcome.code == 3, outcome.output
    assert "models and migrations agree" not in outcome.output
    assert (
        f"model Widget ({copy / 'models' / 'widget.py'}) is not imported by the model registry"
        in outcome.stderr
    )
    assert "its table 'widgets'" in outcome.stderr
    assert (
        f"Add 'from agent_db.models.widget import Widget' to {copy / 'models' / '__init__.py'}"
        in outcome.stderr
    )

    # The fix the message names is the fix: registered, the table is seen (and missing from the history).
    registry = copy / "models" / "__init__.py"
    registry.write_text(registry.read_text() + "from agent_db.models.widget import Widget  # noqa: F401\n")
    fixed = run_with(copy, empty_url, "db.check")
    assert fixed.code == 3, fixed.output
    assert "the models and the migrations disagree" in fixed.stderr
    assert "widgets" in fixed.stderr
    assert "not imported by the model registry" not in fixed.stderr


def test_autogenerate_refuses_and_writes_no_empty_revision(tmp_path: Path, empty_url: URL) -> None:
    copy = copy_package(tmp_path)
    (copy / "models" / "widget.py").write_text(WIDGET)
    before = sorted((copy / "migrations" / "versions").iterdir())
    outcome = run_with(copy, empty_url, "db.revision", "--autogenerate", "-m", "add widgets")
    assert outcome.code == 3, outcome.output
    assert "model Widget" in outcome.stderr
    assert "agent_db.models.widget" in outcome.stderr
    assert sorted((copy / "migrations" / "versions").iterdir()) == before


def test_a_model_outside_models_is_reported_and_an_abstract_base_is_not(
    tmp_path: Path, empty_url: URL
) -> None:
    copy = copy_package(tmp_path)
    (copy / "extras.py").write_text(ELSEWHERE)
    outcome = run_with(copy, empty_url, "db.check")
    assert outcome.code == 3, outcome.output
    assert f"model Gadget ({copy / 'extras.py'})" in outcome.stderr
    assert "'from agent_db.extras import Gadget'" in outcome.stderr
    assert "Stamped" not in outcome.stderr


def test_plain_alembic_check_and_autogenerate_report_it_too(tmp_path: Path, empty_url: URL) -> None:
    copy = copy_package(tmp_path)
    (copy / "models" / "widget.py").write_text(WIDGET)
    before = sorted((copy / "migrations" / "versions").iterdir())
    env = {**os.environ, **imported_from(copy), "DEV_DATABASE_URL": url_text(empty_url)}
    for command in (["check"], ["revision", "--autogenerate", "-m", "add widgets"]):
        result = subprocess.run(
            [sys.executable, "-m", "alembic", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 3, result.stderr
        assert "FAILED: model Widget" in result.stderr
        assert "Add 'from agent_db.models.widget import Widget'" in result.stderr
    assert sorted((copy / "migrations" / "versions").iterdir()) == before
