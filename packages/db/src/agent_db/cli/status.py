"""``db.status`` for people (a Rich table) and for GitHub job summaries (Markdown).

Both render the same columns, defined once in :data:`COLUMNS`: a column is a title and a
function from one environment's status to a cell (its text and its tone). A new column is one
field on :class:`~agent_db.commands.status.EnvironmentStatus` and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent_db.cli.console import stdout_console
from agent_db.cli.status_graph import mermaid

Tone = Literal["plain", "good", "warn", "bad"]
_RICH_STYLE: dict[Tone, str | None] = {"plain": None, "good": "green", "warn": "yellow", "bad": "red"}
DRIFT_SHOWN = 3  # differences listed in the cell; db.verify lists them all

if TYPE_CHECKING:
    from agent_db.commands.status import EnvironmentStatus, Status
    from agent_db.revisions.graph import RevisionGraph


@dataclass(frozen=True)
class Cell:
    text: str
    tone: Tone = "plain"


@dataclass(frozen=True)
class Column:
    title: str
    cell: Callable[[EnvironmentStatus], Cell]


NOT_READ = Cell("-")


def _environment(env: EnvironmentStatus) -> Cell:
    return Cell(f"{env.name} (protected)" if env.protected else env.name)


def _state(env: EnvironmentStatus) -> Cell:
    if not env.reachable:
        return Cell(f"unreachable: {env.problem or 'unknown'}", "bad")
    if env.unknown:
        return Cell("ahead of this code", "bad")
    return Cell("at head", "good") if env.at_head else Cell(f"{len(env.pending)} pending", "warn")


def _current(env: EnvironmentStatus) -> Cell:
    if not env.reachable:
        return NOT_READ
    return Cell(", ".join(c[:12] for c in env.current) or "base")


def _pending_phases(env: EnvironmentStatus) -> Cell:
    if not env.reachable:
        return NOT_READ
    phases = list(env.pending_phases.values())
    if not phases:
        return Cell("none")
    contract = [rev for rev, phase in env.pending_phases.items() if phase == "contract"]
    counts = f"{phases.count('expand')} expand, {len(contract)} contract"
    if not contract:
        return Cell(counts)
    return Cell(f"{counts} (first: {contract[0][:12]}; runs after the rollout)", "warn")


def _checksums(env: EnvironmentStatus) -> Cell:
    report = env.checksums
    if report is None:
        return NOT_READ
    if report.mismatches:
        return Cell("MISMATCH: " + ", ".join(m.revision for m in report.mismatches) + " edited", "bad")
    if report.unrecorded:
        return Cell(f"ok ({len(report.unrecorded)} unrecorded)")
    return Cell("ok", "good")


def _drift(env: EnvironmentStatus) -> Cell:
    """Partial steps first (what they committed is theirs, not drift), then the drift."""
    partial = [p.summary() for p in env.partial or []]
    found = _found_drift(env)
    if not partial:
        return found
    if found.tone == "good" or found == NOT_READ:  # no drift, or none checked
        return Cell("; ".join(partial), "warn")
    return Cell("; ".join([*partial, found.text]), "bad" if found.tone == "bad" else "warn")


def _found_drift(env: EnvironmentStatus) -> Cell:
    if env.drift_problem:
        return Cell(f"not checked: {env.drift_problem}", "warn")
    if env.drift is None:
        return NOT_READ
    if not env.drift:
        return Cell("none", "good")
    more = f"; ... {len(env.drift) - DRIFT_SHOWN} more" if len(env.drift) > DRIFT_SHOWN else ""
    return Cell(f"DRIFT ({len(env.drift)}): " + "; ".join(env.drift[:DRIFT_SHOWN]) + more, "bad")


def _last_deployment(env: EnvironmentStatus) -> Cell:
    last = env.last_deployment
    if not last:
        return NOT_READ
    when = (last["finished_at"] or last["started_at"])[:19].replace("T", " ")
    tone: Tone = "bad" if last["outcome"] in ("failed", "partial") else "plain"
    return Cell(
        f"{last['direction']} {last['revision'][:12]} {last['outcome']} by {last['actor']} at {when}", tone
    )


def _in_flight(env: EnvironmentStatus) -> Cell:
    if env.in_flight is None:
        return NOT_READ
    if not env.in_flight:
        return Cell("none")
    return Cell("; ".join(env.in_flight), "warn")


def _consumers(env: EnvironmentStatus) -> Cell:
    if env.consumers is None:
        return NOT_READ
    if not env.consumers:
        return Cell("none registered")
    builds = "; ".join(
        f"{group.count} x {group.build} (oldest heartbeat {group.oldest_heartbeat_seconds:.0f}s ago)"
        for group in env.consumers
    )
    if not env.contract_held_by:
        return Cell(builds)
    held = ", ".join(f"{rev[:12]} (by {count})" for rev, count in env.contract_held_by.items())
    return Cell(f"{builds}; holds back contract {held}", "warn")


COLUMNS: list[Column] = [
    Column("environment", _environment),
    Column("state", _state),
    Column("current", _current),
    Column("pending phases", _pending_phases),
    Column("checksums", _checksums),
    Column("drift", _drift),
    Column("in flight", _in_flight),
    Column("live consumers", _consumers),
    Column("last deployment", _last_deployment),
]


def _title(status: Status) -> str:
    return f"head {', '.join(status.heads)} ({status.revision_count} revisions)"


def print_status(status: Status, console: Console | None = None) -> None:
    """The Rich table, one row per environment."""
    table = Table(title=escape(_title(status)))
    for column in COLUMNS:
        table.add_column(column.title, overflow="fold")
    for env in status.environments:
        cells = [column.cell(env) for column in COLUMNS]
        table.add_row(*(_rich(cell) for cell in cells))
    (console or stdout_console()).print(table)


def _rich(cell: Cell) -> str:
    style = _RICH_STYLE[cell.tone]
    return f"[{style}]{escape(cell.text)}[/]" if style else escape(cell.text)


def _markdown_cell(cell: Cell) -> str:
    return cell.text.replace("|", "\\|").replace("\n", " ")


def render_markdown(status: Status, graph: RevisionGraph) -> str:
    """A Markdown table and a Mermaid graph, for a GitHub job summary."""
    lines = [
        "## Database environments",
        "",
        f"Head: `{', '.join(status.heads)}` ({status.revision_count} revisions)",
        "",
        "| " + " | ".join(column.title for column in COLUMNS) + " |",
        "| " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    for env in status.environments:
        lines.append("| " + " | ".join(_markdown_cell(column.cell(env)) for column in COLUMNS) + " |")
    lines += ["", *mermaid(status, graph)]
    return "\n".join(lines) + "\n"
