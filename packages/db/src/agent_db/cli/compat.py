"""What ``api.compat`` prints: the revisions checked and how the previous release fared."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_db.cli.console import print_json, say, warn_skipped

if TYPE_CHECKING:
    from agent_db.commands.compat import CompatReport


def print_compat(report: CompatReport, *, as_json: bool) -> None:
    if as_json:
        print_json(report.as_json())
        return
    if report.skipped:
        warn_skipped(f"compatibility not checked: {report.skipped}")
        return
    flows = "its own API flows" if report.flows_from == "base" else "this commit's API flows (it has none)"
    say(
        f"previous release {report.base[:12]} ({', '.join(report.base_heads)}) checked with {flows} "
        f"after each of {len(report.expand)} new expand revision(s): " + (", ".join(report.expand) or "none")
    )
    if report.contract:
        say(
            f"not applied while it runs (contract, and what follows): {', '.join(report.contract)}; "
            "the contract gate holds them until the previous release has stopped"
        )
    if report.ok:
        say("the previous release keeps working on this commit's expand revisions")
