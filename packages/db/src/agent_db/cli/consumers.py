"""``db.consumers`` for people: one row per live process, and a line per build."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from agent_db.cli.console import print_json, say, stdout_console

if TYPE_CHECKING:
    from agent_db.commands.consumers import CensusReport


def print_census(report: CensusReport, *, as_json: bool) -> None:
    if as_json:
        print_json(report.as_json())
        return
    if not report.consumers:
        say(
            f"{report.environment}: no live consumer (no process has sent a heartbeat within "
            "three of its intervals)"
        )
        return
    table = Table(title=escape(f"{report.environment}: {len(report.consumers)} live consumer(s)"))
    for title in ("host", "pid", "environment", "build", "started", "last seen"):
        table.add_column(title, overflow="fold")
    for consumer in report.consumers:
        table.add_row(
            escape(consumer.host),
            str(consumer.pid),
            escape(consumer.environment),
            escape(consumer.build),
            consumer.started_at.isoformat(timespec="seconds"),
            f"{consumer.seconds_since_seen:.1f}s ago",
        )
    stdout_console().print(table)
    for group in report.builds:
        oldest = f"{group.oldest_heartbeat_seconds:.1f}s ago"
        say(f"build {group.build}: {group.count} process(es), oldest heartbeat {oldest}")
