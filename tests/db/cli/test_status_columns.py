"""A new db.status column is one data field and one column spec: shown by adding one here.

Rich and Markdown render the same COLUMNS, so they cannot disagree; JSON comes from the
dataclass's fields, so the new field is in it without another change."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import pytest
from rich.console import Console

from agent_db.cli import status as status_output
from agent_db.cli.status import COLUMNS, Cell, Column, print_status, render_markdown
from agent_db.commands.checksums import ChecksumReport
from agent_db.commands.status import EnvironmentStatus, Status
from agent_db.revisions.graph import default_graph


@dataclass
class WithOwner(EnvironmentStatus):
    """The one data field of the new column."""

    owner: str = field(default="")


def _status() -> Status:
    graph = default_graph()
    head = graph.single_head()
    reachable = WithOwner(
        "dev", None, False, reachable=True, current=[head], at_head=True,
        checksums=ChecksumReport([], []), drift=[], owner="team-agents",
    )  # fmt: skip
    unreachable = WithOwner("prod", "staging", True, problem="PROD_DATABASE_URL is not set", owner="sre")
    return Status(list(graph.heads), len(graph), [reachable, unreachable])


def test_a_new_column_is_one_field_and_one_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    owner = Column("owner", lambda env: Cell(getattr(env, "owner", "")))
    monkeypatch.setattr(status_output, "COLUMNS", [*COLUMNS, owner])
    status = _status()

    buffer = io.StringIO()
    print_status(status, console=Console(file=buffer, width=250, color_system=None))
    table = buffer.getvalue()
    assert "owner" in table
    assert "team-agents" in table
    assert "sre" in table

    markdown = render_markdown(status, default_graph())
    header = next(line for line in markdown.splitlines() if line.startswith("| environment"))
    assert header.endswith("| last deployment | owner |")
    assert "| team-agents |" in markdown
    assert "| sre |" in markdown

    environments = json.loads(json.dumps(status.as_json()))["environments"]
    assert [e["owner"] for e in environments] == ["team-agents", "sre"]


def test_rich_and_markdown_render_the_same_cells() -> None:
    """One spec: the Markdown row holds exactly the text of each column's cell."""
    status = _status()
    markdown = render_markdown(status, default_graph()).splitlines()
    for env in status.environments:
        row = next(line for line in markdown if line.startswith(f"| {env.name}"))
        assert row == "| " + " | ".join(column.cell(env).text for column in COLUMNS) + " |"
    prod = status.environments[1]
    assert COLUMNS[1].cell(prod) == Cell("unreachable: PROD_DATABASE_URL is not set", "bad")
