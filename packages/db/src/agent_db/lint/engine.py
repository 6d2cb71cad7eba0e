"""db.lint: each revision on its own, rendered offline (:mod:`.prepare`), checked by squawk and by
our rules (:mod:`.rules`); findings that say the same thing are reported once.

Nothing connects to a database.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from agent_db.errors import SafetyRefusal
from agent_db.lint import accept, scope
from agent_db.lint.findings import Finding, LintReport, RevisionResult
from agent_db.lint.prepare import PreparedRevision, prepare
from agent_db.lint.rules import LINT_ACCEPT, OUR_RULES, REVISION_RULES, OperationReview, check_operations
from agent_db.lint.rules.resumable import DDL_BEFORE_AUTOCOMMIT, committed_by_a_block
from agent_db.lint.squawk import SquawkViolation, run_squawk
from agent_db.lint.squawk_rules import SQUAWK_ALTERNATIVES, SQUAWK_MOOT_ON_NEW_TABLES
from agent_db.revisions.graph import RevisionGraph, default_graph
from agent_db.revisions.phases import graph_phases
from agent_db.settings import load_settings
from agent_db.versions import versions_dir

OURS = "agent-db"


def _operation_findings(review: OperationReview, prepared: PreparedRevision) -> dict[int, list[Finding]]:
    """Our findings, keyed by the id of the operation they are about."""
    by_operation: dict[int, list[Finding]] = {}
    for found in review.findings:
        rule, captured = found.rule, found.captured
        by_operation.setdefault(id(captured), []).append(
            prepared.finding(
                rule.name,
                source=OURS,
                message=rule.describe(found.detail),
                safe_alternative=(
                    f"{found.suggestion} (from agent_db.migrations import safe)"
                    if found.suggestion
                    else rule.safe_alternative
                ),
                statement=prepared.rendered.sql_of(captured),
                line=captured.line,
            )
        )
    return by_operation


def _squawk_finding(
    prepared: PreparedRevision,
    violation: SquawkViolation,
    review: OperationReview,
    by_operation: dict[int, list[Finding]],
) -> Finding | None:
    """A finding for a squawk violation, or None when one of ours already covers it or it is
    about a table this revision created."""
    candidates = prepared.operations_at(violation.line)
    for candidate in candidates:
        for ours in by_operation.get(id(candidate), []):
            if violation.rule in OUR_RULES[ours.rule].squawk_equivalents:
                if violation.rule not in ours.also:
                    ours.also.append(violation.rule)
                return None
    captured = candidates[0] if candidates else None
    if (
        captured is not None
        and review.touches_new_table(captured)
        and violation.rule in SQUAWK_MOOT_ON_NEW_TABLES
    ):
        return None
    if (
        captured is not None
        and violation.rule in DDL_BEFORE_AUTOCOMMIT.squawk_equivalents
        and committed_by_a_block(prepared.rendered, captured)
    ):
        # Whether what runs before an autocommit block resumes is ours to say: the runner
        # resumes add_column and alter_column; anything else is a ddl-before-autocommit finding.
        return None
    statement = (
        prepared.rendered.sql_of(captured)
        if captured is not None
        else prepared.statement_at(violation.line, violation.line_end)
    )
    help_text = f" {violation.help}" if violation.help else ""
    return prepared.finding(
        violation.rule,
        source="squawk",
        message=f"{violation.message}{help_text}",
        safe_alternative=SQUAWK_ALTERNATIVES.get(violation.rule, violation.help or ""),
        statement=statement,
        line=captured.line if captured is not None else None,
    )


def _revision_findings(prepared: PreparedRevision) -> list[Finding]:
    """Findings of the rules on the revision as a whole (its lock_timeout)."""
    findings = []
    for rule in REVISION_RULES:
        hit = rule.check(prepared)
        if hit is not None:
            detail, statement = hit
            findings.append(
                prepared.finding(
                    rule.name,
                    source=OURS,
                    message=rule.describe(detail),
                    safe_alternative=rule.safe_alternative,
                    statement=statement,
                )
            )
    return findings


def _apply_acceptances(result: RevisionResult, prepared: PreparedRevision) -> None:
    accepted = accept.read_acceptances(prepared.revision.path)
    used: set[str] = set()
    for finding in result.findings:
        rule = OUR_RULES.get(finding.rule)
        if rule is not None and not rule.acceptable:
            continue
        match = accepted.reason_for(finding.names)
        if match is not None:
            finding.accepted, finding.accepted_as, finding.reason = True, match[0], match[1]
            used.add(match[0])
    result.unused_accepts = sorted(set(accepted.reasons) - used)
    for problem in accepted.problems:
        result.findings.append(
            prepared.finding(
                LINT_ACCEPT.name,
                source=OURS,
                message=problem,
                safe_alternative=LINT_ACCEPT.safe_alternative,
                statement=f"{accept.VARIABLE} = {{...}}",
                line=accepted.line,
            )
        )


def _lint_one(
    prepared: PreparedRevision, violations: list[SquawkViolation], metadata: MetaData
) -> RevisionResult:
    """Our findings and squawk's for one revision, in file order, then its acceptances."""
    revision = prepared.revision
    review = check_operations(prepared.rendered, metadata)
    by_operation = _operation_findings(review, prepared)
    findings = [f for group in by_operation.values() for f in group]
    for violation in violations:
        if violation.key == revision.id:
            extra = _squawk_finding(prepared, violation, review, by_operation)
            if extra is not None:
                findings.append(extra)
    findings.extend(_revision_findings(prepared))
    findings.sort(key=lambda f: (f.line is None, f.line or 0, f.rule))
    result = RevisionResult(
        revision.id,
        prepared.file,
        revision.message,
        prepared.lock_timeout,
        prepared.statement_timeout,
        findings,
    )
    _apply_acceptances(result, prepared)
    return result


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
    graph_phases(graph)  # a bad phase or a map entry naming no revision: exit 2, naming the file
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
    prepared = {revision.id: prepare(graph, revision, settings) for revision in chosen}
    violations = run_squawk({rev: item.sql for rev, item in prepared.items()})
    metadata = _model_metadata()
    for revision in chosen:
        report.revisions.append(_lint_one(prepared[revision.id], violations, metadata))
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
