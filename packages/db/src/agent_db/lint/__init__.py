"""Migration safety lint (``uv run invoke db.lint``): catch, before a pull request merges, the
revisions that would lock a busy table, rewrite a large one, or drop what running code reads.

- :mod:`.capture` renders one revision offline and records the Alembic operations behind it;
  :mod:`.prepare` makes a revision ready to lint (imported, rendered, the runner's timeouts);
- :mod:`.rules` are our rules, one module per family, each with its text, its check on those
  operations (and the models) and its safe alternative;
- :mod:`.squawk` runs squawk on the SQL (``.squawk.toml`` says which of its rules we adopt);
  :mod:`.squawk_rules` lists its rules and the safe alternatives we print for them;
- :mod:`.accept` reads the findings a revision accepts, with a reason;
- :mod:`.scope` picks the revisions a branch adds; :mod:`.engine` puts it together into
  :mod:`.findings`.
"""

from agent_db.lint.engine import lint_revisions, refusal
from agent_db.lint.findings import Finding, LintReport, RevisionResult

__all__ = ["Finding", "LintReport", "RevisionResult", "lint_revisions", "refusal"]
