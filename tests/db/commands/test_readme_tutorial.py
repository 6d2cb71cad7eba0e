"""README's "Differences from the tutorial" stays true: its ``\\d users`` and ``\\dt`` are what
``db.psql`` prints on a database the toolkit migrated to the tutorial's last revision, and every
command it names exists (a task of the collection, a command of Alembic)."""

from __future__ import annotations

import inspect
import re

from alembic import command as alembic_command
from sqlalchemy.engine import URL

import tasks
from tests.support.cli import run_invoke
from tests.support.databases import url_text
from tests.support.paths import ROOT

SECOND = "7c2e8d1f0a6b"


def section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Differences from the tutorial")
    return text[start : text.index("\n## ", start + 1)]


def text_blocks() -> list[list[str]]:
    """The section's ```text blocks, lines right-stripped."""
    blocks = re.findall(r"```text\n(.*?)```", section(), flags=re.DOTALL)
    return [[line.rstrip() for line in block.splitlines()] for block in blocks]


def psql_lines(url: URL, command: str) -> list[str]:
    result = run_invoke("db.psql", "-c", command, env={"DEV_DATABASE_URL": url_text(url)})
    assert result.code == 0, result.output
    return [line.rstrip() for line in result.stdout.splitlines()]


def test_the_readme_shows_the_real_d_users_and_dt(empty_url: URL) -> None:
    upgraded = run_invoke("db.upgrade", "--to", SECOND, env={"DEV_DATABASE_URL": url_text(empty_url)})
    assert upgraded.code == 0, upgraded.output
    described, listed = text_blocks()
    assert [line for line in psql_lines(empty_url, r"\d users") if line] == described

    def names(lines: list[str]) -> list[str]:
        return [line.split("|")[1].strip() for line in lines if line.startswith(" public |")]

    assert names(psql_lines(empty_url, r"\dt")) == names(listed)
    assert {"schema_ledger_append_only", "schema_ledger_hash_chain"} <= set(
        " ".join(psql_lines(empty_url, r"\df")).split()
    )


def test_every_command_the_section_names_exists() -> None:
    body = section()
    task_names = set(tasks.ns.task_names)
    named_tasks = set(re.findall(r"uv run invoke ([a-z][\w.-]*)", body))
    assert named_tasks, "the section names no task"
    assert named_tasks <= task_names, named_tasks - task_names
    alembic_commands = {name for name, _ in inspect.getmembers(alembic_command, inspect.isfunction)}
    named_commands = set(re.findall(r"uv run alembic ([a-z]+)", body))
    assert named_commands >= {"upgrade", "downgrade", "current", "history", "revision", "check"}
    assert named_commands <= alembic_commands, named_commands - alembic_commands
