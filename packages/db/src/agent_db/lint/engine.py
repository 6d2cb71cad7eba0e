"""db.lint: each revision on its own, rendered offline, checked by squawk and by our rules.

A revision is linted alone (its parents to itself) because that is the unit that runs in one
step against a live database, and the unit a reviewer reads. Nothing connects to a database.
"""

from __future__ import annotations

import bisect
import importlib.util
import linecache
import traceback
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import MetaData

from agent_db.errors import ConfigError, SafetyRefusal
from agent_db.lint import accept, rules, scope
from agent_db.lint.capture import CapturedOperation, RenderedRevision, render_with_operations
from agent_db.lint.checks import OperationReview, check_operations
from agent_db.lint.findings import Finding, LintReport, RevisionResult
from agent_db.lint.squawk import SquawkViolation, run_squawk
from agent_db.revisions.graph import Revision, RevisionGraph, default_graph
from agent_db.revisions.render import timeout_preamble
from agent_db.settings import DatabaseSettings, load_settings, project_root
from agent_db.versions import versions_dir

_NO_TIMEOUT = frozenset({"0", "0ms", "0s", "0min", "0h"})


@dataclass
class _Prepared:
    """One revision rendered, with the runner's preamble, and where each operation's SQL is."""

    rendered: RenderedRevision
    sql: str
    preamble_length: int
    lock_timeout: str
    statement_timeout: str

    def __post_init__(self) -> None:
        self._newlines = [i for i, char in enumerate(self.sql) if char == "\n"]

    def line_at(self, offset: int) -> int:
        """0-based line of a character offset of :attr:`sql` (squawk counts from 0 too)."""
        return bisect.bisect_left(self._newlines, offset)

    def lines_of(self, captured: CapturedOperation) -> tuple[int, int]:
        text = self.rendered.sql[captured.start : captured.end]
        lead = len(text) - len(text.lstrip())
        trail = len(text.rstrip())
        start = self.preamble_length + captured.start
        return self.line_at(start + lead), self.line_at(start + max(trail - 1, lead))

    def operations_at(self, line: int) -> list[CapturedOperation]:
        """The operations whose SQL covers ``line`` (several for a batch_alter_table block)."""
        found = []
        for captured in self.rendered.operations:
            if captured.end <= captured.start:
                continue
            first, last = self.lines_of(captured)
            if first <= line <= last:
                found.append(captured)
        return found

    def statement_at(self, line: int, line_end: int) -> str:
        return "\n".join(self.sql.splitlines()[line : line_end + 1]).strip()


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(project_root().resolve()))
    except (ValueError, ConfigError):
        return str(path)


def _check_imports(revision: Revision) -> None:
    """Import the revision file on its own first, so a file that does not import is named as
    such (with its line), not reported as SQL that cannot be rendered."""
    spec = importlib.util.spec_from_file_location(f"_agent_db_lint_{revision.id}", revision.path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{_display(revision.path)}: cannot be loaded as a Python module")
    try:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    except Exception as error:
        line = error.lineno if isinstance(error, SyntaxError) else None
        for frame in traceback.extract_tb(error.__traceback__):
            if Path(frame.filename).resolve() == revision.path.resolve():
                line = frame.lineno
        where = _display(revision.path) + (f", line {line}" if line else "")
        raise ConfigError(
            f"{where}: the revision does not import ({type(error).__name__}: {error}); fix it "
            "and run db.lint again. Nothing was applied"
        ) from None


def _render(graph: RevisionGraph, revision: Revision, environment: str) -> RenderedRevision:
    _check_imports(revision)
    try:
        return render_with_operations(graph, revision, environment=environment)
    except ConfigError as error:
        raise ConfigError(
            f"{error}. db.lint (like db.plan) renders each revision offline; if upgrade() reads the "
            "database, note that op.get_bind() has no connection there: guard such code with "
            "`if not op.get_context().as_sql:` or use op.execute. Nothing was applied"
        ) from None


def _prepare(graph: RevisionGraph, revision: Revision, settings: DatabaseSettings) -> _Prepared:
    rendered = _render(graph, revision, settings.name)
    lock_timeout = revision.lock_timeout or settings.lock_timeout
    statement_timeout = revision.statement_timeout or settings.statement_timeout
    # What the runner sets on the migration connection before the revision's transaction.
    preamble = timeout_preamble(lock_timeout, statement_timeout)
    return _Prepared(rendered, preamble + rendered.sql, len(preamble), lock_timeout, statement_timeout)


def _code(path: Path, line: int | None) -> str | None:
    if not line:
        return None
    return linecache.getline(str(path), line).strip() or None


def _operation_findings(review: OperationReview, prepared: _Prepared, file: str) -> dict[int, list[Finding]]:
    """Our findings, keyed by the id of the operation they are about."""
    revision = prepared.rendered.revision
    by_operation: dict[int, list[Finding]] = {}
    for found in review.findings:
        rule = rules.OUR_RULES[found.rule]
        captured = found.captured
        by_operation.setdefault(id(captured), []).append(
            Finding(
                revision=revision.id,
                file=file,
                rule=rule.name,
                source="agent-db",
                message=f"{found.detail}: {rule.summary}",
                safe_alternative=(
                    f"{found.suggestion} (from agent_db.migrations import safe)"
                    if found.suggestion
                    else rule.safe_alternative
                ),
                statement=prepared.rendered.sql_of(captured),
                line=captured.line,
                code=_code(revision.path, captured.line),
            )
        )
    return by_operation


def _squawk_finding(
    prepared: _Prepared,
    violation: SquawkViolation,
    review: OperationReview,
    by_operation: dict[int, list[Finding]],
    file: str,
) -> Finding | None:
    """A finding for a squawk violation, or None when one of ours already covers it or it is
    about a table this revision created."""
    revision = prepared.rendered.revision
    candidates = prepared.operations_at(violation.line)
    for candidate in candidates:
        for ours in by_operation.get(id(candidate), []):
            if violation.rule in rules.OUR_RULES[ours.rule].squawk_equivalents:
                if violation.rule not in ours.also:
                    ours.also.append(violation.rule)
                return None
    captured = candidates[0] if candidates else None
    if (
        captured is not None
        and review.touches_new_table(captured)
        and violation.rule in rules.SQUAWK_MOOT_ON_NEW_TABLES
    ):
        return None
    statement = (
        prepared.rendered.sql_of(captured)
        if captured is not None
        else prepared.statement_at(violation.line, violation.line_end)
    )
    help_text = f" {violation.help}" if violation.help else ""
    line = captured.line if captured is not None else None
    return Finding(
        revision=revision.id,
        file=file,
        rule=violation.rule,
        source="squawk",
        message=f"{violation.message}{help_text}",
        safe_alternative=rules.SQUAWK_ALTERNATIVES.get(violation.rule, violation.help or ""),
        statement=statement,
        line=line,
        code=_code(revision.path, line),
    )


def _timeout_finding(prepared: _Prepared, file: str) -> Finding | None:
    if prepared.lock_timeout.strip() not in _NO_TIMEOUT:
        return None
    revision = prepared.rendered.revision
    rule = rules.OUR_RULES["lock-timeout-disabled"]
    where = "the revision's lock_timeout" if revision.lock_timeout else "the environment's lock_timeout"
    return Finding(
        revision=revision.id,
        file=file,
        rule=rule.name,
        source="agent-db",
        message=f"{where} is {prepared.lock_timeout!r}: {rule.summary}",
        safe_alternative=rule.safe_alternative,
        statement=f"SET lock_timeout = '{prepared.lock_timeout}';",
    )


def _apply_acceptances(result: RevisionResult, path: Path) -> None:
    accepted = accept.read_acceptances(path)
    used: set[str] = set()
    for finding in result.findings:
        if not rules.OUR_RULES.get(finding.rule, rules.Rule("", "", "")).acceptable:
            continue
        match = accepted.reason_for(finding.names)
        if match is not None:
            finding.accepted, finding.accepted_as, finding.reason = True, match[0], match[1]
            used.add(match[0])
    result.unused_accepts = sorted(set(accepted.reasons) - used)
    rule = rules.OUR_RULES["lint-accept"]
    for problem in accepted.problems:
        result.findings.append(
            Finding(
                revision=result.revision,
                file=result.file,
                rule=rule.name,
                source="agent-db",
                message=problem,
                safe_alternative=rule.safe_alternative,
                statement=f"{accept.VARIABLE} = {{...}}",
                line=accepted.line,
                code=_code(path, accepted.line),
            )
        )


def _model_metadata() -> MetaData:
    from agent_db.models import Base

    return Base.metadata


def lint_revisions(
    *,
    all_revisions: bool = False,
    environment: str = "dev",
    graph: RevisionGraph | None = None,
    chosen_scope: scope.Scope | None = None,
) -> LintReport:
    """Lint the revisions in scope; the report says what is unsafe and what is accepted.

    Bad input (a file that does not parse or import, two heads, SQL that cannot be rendered
    offline) raises :class:`ConfigError` naming the file.
    """
    graph = graph or default_graph()
    graph.single_head()
    settings = load_settings(environment)
    if chosen_scope is None:
        chosen_scope = scope.everything() if all_revisions else scope.changed_revisions(versions_dir())
    wanted = chosen_scope.paths
    chosen = [
        graph[rev] for rev in graph.linear_order() if wanted is None or graph[rev].path.resolve() in wanted
    ]
    report = LintReport(environment, chosen_scope.mode, chosen_scope.note, chosen_scope.base)
    if not chosen:
        return report
    prepared = {revision.id: _prepare(graph, revision, settings) for revision in chosen}
    violations = run_squawk({rev: item.sql for rev, item in prepared.items()})
    metadata = _model_metadata()
    for revision in chosen:
        item = prepared[revision.id]
        file = _display(revision.path)
        review = check_operations(item.rendered, metadata)
        by_operation = _operation_findings(review, item, file)
        findings = [f for group in by_operation.values() for f in group]
        for violation in violations:
            if violation.key == revision.id:
                extra = _squawk_finding(item, violation, review, by_operation, file)
                if extra is not None:
                    findings.append(extra)
        timeout = _timeout_finding(item, file)
        if timeout is not None:
            findings.append(timeout)
        findings.sort(key=lambda f: (f.line is None, f.line or 0, f.rule))
        result = RevisionResult(
            revision.id, file, revision.message, item.lock_timeout, item.statement_timeout, findings
        )
        _apply_acceptances(result, revision.path)
        report.revisions.append(result)
    return report


def refusal(report: LintReport) -> SafetyRefusal | None:
    """The error db.lint exits with (3) when a finding is not accepted."""
    unaccepted = report.unaccepted
    if not unaccepted:
        return None
    files = sorted({f.file for f in unaccepted})
    return SafetyRefusal(
        f"db.lint refused {len(unaccepted)} finding(s) in {', '.join(files)}: rewrite the "
        "statements with the safe alternatives shown (agent_db.migrations.safe), or accept a "
        'finding in its revision with lint_accept = {"rule-name": "why it is safe here"}; '
        "see docs/zero-downtime-migrations.md"
    )
