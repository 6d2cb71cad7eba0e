"""squawk's side of db.lint: every rule name it knows, the safe alternative we print for its
findings, and which of them say nothing about a table the revision itself created.

Where one of our rules reports the same statement, the finding is ours (with squawk's name beside
it, see ``squawk_equivalents`` in :mod:`agent_db.lint.rules`); these tables serve the rest.
"""

from __future__ import annotations

from agent_db.lint.rules.base import EXPAND_CONTRACT, SAFE
from agent_db.lint.rules.columns import ADD_REQUIRED_COLUMN, SET_NOT_NULL
from agent_db.lint.rules.constraints import CONSTRAINT_WITHOUT_NOT_VALID, UNIQUE_CONSTRAINT_BLOCKING
from agent_db.lint.rules.indexes import (
    CONCURRENT_INDEX_IN_TRANSACTION,
    CREATE_INDEX_BLOCKING,
    DROP_INDEX_BLOCKING,
)

# Every rule squawk 2.70 knows (read from the binary's rule table; squawkhq.com documents them),
# on by default or not. Used to refuse a lint_accept entry that names no rule, so a typo cannot
# hide a finding. A squawk upgrade that adds rules adds them here (tests/db/lint/test_lint.py checks
# that every rule squawk reports is listed).
SQUAWK_RULES = frozenset(
    {
        "adding-field-with-default",
        "adding-foreign-key-constraint",
        "adding-not-nullable-field",
        "adding-required-field",
        "adding-serial-primary-key-field",
        "ban-add-column",
        "ban-add-composite-attribute",
        "ban-add-enum-value",
        "ban-alter-database-options",
        "ban-alter-domain-with-add-constraint",
        "ban-alter-extension",
        "ban-alter-function-options",
        "ban-alter-generated-expression",
        "ban-alter-identity",
        "ban-alter-policy-condition",
        "ban-alter-policy-roles",
        "ban-alter-role-options",
        "ban-alter-row-level-security",
        "ban-alter-sequence-values",
        "ban-alter-system-options",
        "ban-alter-view-options",
        "ban-char-field",
        "ban-concurrent-index-creation-in-transaction",
        "ban-create-domain-with-constraint",
        "ban-create-policy",
        "ban-detach-inheritance",
        "ban-disable-trigger",
        "ban-drop-column",
        "ban-drop-constraint",
        "ban-drop-database",
        "ban-drop-default",
        "ban-drop-domain",
        "ban-drop-extension",
        "ban-drop-function",
        "ban-drop-generated-expression",
        "ban-drop-index",
        "ban-drop-not-null",
        "ban-drop-policy",
        "ban-drop-schema",
        "ban-drop-sequence",
        "ban-drop-table",
        "ban-drop-type",
        "ban-drop-view",
        "ban-new-write-restriction",
        "ban-replace-view-function",
        "ban-replica-identity",
        "ban-revoke",
        "ban-set-default",
        "ban-set-schema",
        "ban-truncate-cascade",
        "ban-uncommitted-transaction",
        "changing-column-type",
        "constraint-missing-not-valid",
        "disallowed-unique-constraint",
        "identifier-too-long",
        "prefer-bigint-over-int",
        "prefer-bigint-over-smallint",
        "prefer-identity",
        "prefer-repack",
        "prefer-robust-stmts",
        "prefer-text-field",
        "prefer-timestamp-tz",
        "renaming-column",
        "renaming-object",
        "renaming-table",
        "require-concurrent-index-creation",
        "require-concurrent-index-deletion",
        "require-concurrent-partition-detach",
        "require-concurrent-reindex",
        "require-enum-value-ordering",
        "require-lock-timeout",
        "require-statement-timeout",
        "require-table-schema",
        "require-timeout-settings",
        "syntax-error",
        "transaction-nesting",
        "unused-ignore",
    }
)

# The safe alternative printed for a squawk finding that none of ours reports (squawk's own help
# text for the rules not listed).
SQUAWK_ALTERNATIVES: dict[str, str] = {
    "require-concurrent-index-creation": CREATE_INDEX_BLOCKING.safe_alternative,
    "require-concurrent-index-deletion": DROP_INDEX_BLOCKING.safe_alternative,
    "ban-concurrent-index-creation-in-transaction": CONCURRENT_INDEX_IN_TRANSACTION.safe_alternative,
    "constraint-missing-not-valid": CONSTRAINT_WITHOUT_NOT_VALID.safe_alternative
    + "; never VALIDATE in the revision that adds the constraint NOT VALID",
    "adding-foreign-key-constraint": CONSTRAINT_WITHOUT_NOT_VALID.safe_alternative,
    "disallowed-unique-constraint": UNIQUE_CONSTRAINT_BLOCKING.safe_alternative,
    "changing-column-type": EXPAND_CONTRACT
    + " (widening a varchar or turning it into text is catalog-only: accept it with that reason)",
    "adding-required-field": ADD_REQUIRED_COLUMN.safe_alternative,
    "adding-not-nullable-field": SET_NOT_NULL.safe_alternative,
    "adding-field-with-default": "use a constant (non-volatile) server default, or add the "
    f"column nullable and fill it with {SAFE}.backfill_in_batches",
    "renaming-column": EXPAND_CONTRACT,
    "renaming-table": EXPAND_CONTRACT,
    "ban-drop-not-null": "make sure no running code assumes the column is never NULL (the "
    "usual reason: the contract step of a column that new code stops writing); accept it with "
    "that reason",
    "require-lock-timeout": "the runner sets the environment's lock_timeout; a revision may set "
    "its own with a module-level `lock_timeout = '10s'`",
    "require-statement-timeout": "the runner sets the environment's statement_timeout; a "
    "revision may set its own with `statement_timeout = '30min'`",
    "prefer-robust-stmts": "statements outside a transaction must be re-runnable: IF NOT "
    f"EXISTS / IF EXISTS (the {SAFE} index helpers do this)",
    "transaction-nesting": "do not write BEGIN/COMMIT in op.execute; use "
    "op.get_context().autocommit_block() or the helpers",
    "ban-drop-constraint": "make sure no running code relies on what the constraint "
    "guaranteed (a CHECK made redundant by NOT NULL, say); accept it with that reason",
    "ban-drop-default": "make sure the running code sets the column on every insert before the "
    "default goes; accept it with that reason",
}


# squawk rules about locks, scans, rewrites and running code: none of that applies to a table
# created earlier in the same revision (empty, and no running code knows it). squawk already
# knows this for CREATE INDEX; our operation capture knows it for the rest.
SQUAWK_MOOT_ON_NEW_TABLES = frozenset(
    {
        "adding-field-with-default",
        "adding-foreign-key-constraint",
        "adding-not-nullable-field",
        "adding-required-field",
        "ban-drop-not-null",
        "changing-column-type",
        "constraint-missing-not-valid",
        "disallowed-unique-constraint",
        "renaming-column",
        "require-concurrent-index-creation",
        "require-concurrent-index-deletion",
    }
)
