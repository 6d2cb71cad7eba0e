"""Migration safety lint (``uv run invoke db.lint``): catch, before a pull request merges, the
revisions that would lock a busy table, rewrite a large one, or drop what running code reads.

- :mod:`.capture` renders one revision offline and records the Alembic operations behind it;
- :mod:`.checks` are our rules on those operations (and the models);
- :mod:`.squawk` runs squawk on the SQL (``.squawk.toml`` says which of its rules we adopt);
- :mod:`.accept` reads the findings a revision accepts, with a reason;
- :mod:`.scope` picks the revisions a branch adds; :mod:`.engine` puts it together.
"""

from agent_db.lint.engine import lint_revisions, refusal
from agent_db.lint.findings import Finding, LintReport, RevisionResult

__all__ = ["Finding", "LintReport", "RevisionResult", "lint_revisions", "refusal"]
