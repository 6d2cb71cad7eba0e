"""db.lint for people: each finding with its file and line, the statement, the rule and the safe
alternative; accepted findings with their reasons; a closing count."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from agent_db.lint.findings import Finding, LintReport


def _finding(console: Console, finding: Finding) -> None:
    also = f" (also squawk: {', '.join(finding.also)})" if finding.also else ""
    mark = "[green]accepted[/]" if finding.accepted else "[bold red]unsafe[/]"
    console.print(f"  {mark} {escape(finding.where)}  [bold]{finding.rule}[/]{escape(also)}")
    if finding.code:
        console.print(f"      [dim]code[/] {escape(finding.code)}")
    statement = finding.statement.replace("\n", " ")
    if len(statement) > 160:
        statement = statement[:157] + "..."
    console.print(f"      [dim]sql[/]  {escape(statement)}")
    if finding.accepted:
        console.print(f"      [dim]why[/]  {escape(finding.reason or '')}")
        return
    console.print(f"      [dim]risk[/] {escape(finding.message)}")
    console.print(f"      [dim]safe[/] {escape(finding.safe_alternative)}")


def print_report(report: LintReport, console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
    console.print(f"db.lint: {escape(report.scope_note)}")
    if not report.revisions:
        console.print("no revisions to lint")
        return
    for result in report.revisions:
        if not result.findings:
            console.print(f"[green]ok[/] {escape(result.file)}")
        else:
            console.print(f"[bold]{escape(result.file)}[/]  ({result.revision}, {escape(result.message)})")
        for finding in result.findings:
            _finding(console, finding)
        for rule in result.unused_accepts:
            console.print(f"  [yellow]note[/] lint_accept[{rule!r}] matches no finding: remove it")
    unaccepted = len(report.unaccepted)
    accepted = len(report.findings) - unaccepted
    verdict = "[green]passed[/]" if report.ok else "[bold red]failed[/]"
    console.print(
        f"{verdict}: {len(report.revisions)} revision(s) linted "
        f"(timeouts of {report.environment}), {unaccepted} unsafe, {accepted} accepted"
    )
