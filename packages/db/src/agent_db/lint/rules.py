"""The rules db.lint applies: ours (on Alembic operations and the models) and squawk's (on SQL).

Ours exist where the SQL alone cannot tell: whether the models still map a dropped column,
whether a table existed before the revision, whether a ``CONCURRENTLY`` runs inside an
autocommit block. Where one of ours and a squawk rule describe the same statement, the finding
is reported once, under our name, with squawk's rule listed beside it; accepting either name
accepts it. Every rule names the safe alternative, pointing at ``agent_db.migrations.safe``.
"""

from __future__ import annotations

from dataclasses import dataclass

SAFE = "agent_db.migrations.safe"


@dataclass(frozen=True)
class Rule:
    name: str
    summary: str
    safe_alternative: str
    squawk_equivalents: tuple[str, ...] = ()
    acceptable: bool = True


_EXPAND_CONTRACT = (
    "expand/contract over several revisions and deploys: add the new column or table, write "
    f"both from the code, backfill with {SAFE}.backfill_in_batches, switch reads, and drop the "
    "old one in a later revision once no running code reads it"
)

OUR_RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule(
            "drop-mapped-column",
            "drops a column that the models (agent_db.models) still map: the code that runs "
            "during and after this migration reads and writes it",
            "remove the attribute from the model and deploy that first; drop the column in a "
            "later revision (the contract step)",
            ("ban-drop-column",),
        ),
        Rule(
            "drop-mapped-table",
            "drops a table that the models still map: the running code reads it",
            "remove the model and deploy that first; drop the table in a later revision",
            ("ban-drop-table",),
        ),
        Rule(
            "add-required-column",
            "adds a NOT NULL column without a server default to an existing table: it fails on "
            "a table with rows, and inserts from the code already running fail",
            "add it nullable, or with a constant server_default (metadata-only on PostgreSQL "
            f"11+); backfill with {SAFE}.backfill_in_batches; then {SAFE}.add_check_not_valid("
            f"'<col> IS NOT NULL') and {SAFE}.validate_constraint in a later revision",
            ("adding-required-field",),
        ),
        Rule(
            "set-not-null",
            "sets NOT NULL on a column of an existing table: the whole table is scanned under "
            "an ACCESS EXCLUSIVE lock (reads and writes wait), unless a valid CHECK (col IS NOT "
            "NULL) already proves it; then accept the finding naming that constraint",
            f"{SAFE}.add_check_not_valid(name, table, '<col> IS NOT NULL'), then in a later "
            f"revision {SAFE}.validate_constraint and SET NOT NULL (PostgreSQL 12+ uses the "
            "valid CHECK and skips the scan), then drop the CHECK",
            ("adding-not-nullable-field",),
        ),
        Rule(
            "create-index-blocking",
            "creates an index on an existing table without CONCURRENTLY: every write to the "
            "table waits for the whole build",
            f"{SAFE}.create_index_concurrently(name, table, columns) (an autocommit block with "
            "postgresql_concurrently=True; it rebuilds an INVALID leftover)",
            ("require-concurrent-index-creation",),
        ),
        Rule(
            "drop-index-blocking",
            "drops an index of an existing table without CONCURRENTLY: ACCESS EXCLUSIVE lock, "
            "reads and writes wait",
            f"{SAFE}.drop_index_concurrently(name, table)",
            ("require-concurrent-index-deletion",),
        ),
        Rule(
            "concurrent-index-in-transaction",
            "uses postgresql_concurrently=True outside op.get_context().autocommit_block(): "
            "PostgreSQL refuses CONCURRENTLY inside a transaction, so the revision fails",
            f"{SAFE}.create_index_concurrently / {SAFE}.drop_index_concurrently, which open the "
            "autocommit block (the migration lock stays held on its own connection)",
            ("ban-concurrent-index-creation-in-transaction",),
        ),
        Rule(
            "constraint-without-not-valid",
            "adds a foreign key or CHECK to an existing table without NOT VALID: the table is "
            "scanned while writes (and, for a foreign key, writes to the referenced table) wait",
            f"{SAFE}.add_foreign_key_not_valid / {SAFE}.add_check_not_valid now, and "
            f"{SAFE}.validate_constraint in the next revision (it takes a lock that lets reads "
            "and writes go on)",
            ("constraint-missing-not-valid", "adding-foreign-key-constraint"),
        ),
        Rule(
            "unique-constraint-blocking",
            "adds a UNIQUE constraint to an existing table: the index is built under an ACCESS "
            "EXCLUSIVE lock",
            f"{SAFE}.create_index_concurrently(name, table, columns, unique=True), then "
            "op.execute('ALTER TABLE t ADD CONSTRAINT name UNIQUE USING INDEX name')",
            ("disallowed-unique-constraint", "constraint-missing-not-valid"),
        ),
        Rule(
            "column-type-change",
            "changes a column's type on an existing table: PostgreSQL rewrites the table (and "
            "its indexes) under an ACCESS EXCLUSIVE lock, and running code may read the old "
            "type",
            _EXPAND_CONTRACT,
            ("changing-column-type",),
        ),
        Rule(
            "rename-column",
            "renames a column: the code running while the migration applies (and until the "
            "deploy finishes) still reads the old name",
            _EXPAND_CONTRACT,
            ("renaming-column",),
        ),
        Rule(
            "rename-table",
            "renames a table: the code running while the migration applies reads the old name",
            _EXPAND_CONTRACT + " (or keep a view under the old name for one release)",
            ("renaming-table",),
        ),
        Rule(
            "unbatched-update",
            "updates or deletes rows of an existing table in one statement inside the "
            "revision's transaction: every touched row stays locked until the end (one UPDATE "
            "of 1M rows under traffic: a 15 s outage in MEASURED.md)",
            f"{SAFE}.backfill_in_batches(table, set_clause=..., pending=...): short "
            "transactions of batch_size rows, resumable, with progress",
        ),
        Rule(
            "lock-timeout-disabled",
            "runs with lock_timeout = 0: a DDL statement that waits for a lock queues every "
            "query behind it for as long as the blocker lasts",
            "keep a lock_timeout (the environment's, or a per-revision `lock_timeout = '10s'`); "
            "the runner retries lock timeouts with backoff",
        ),
        Rule(
            "lint-accept",
            "the revision's lint_accept is malformed: an unknown rule name or a reason too "
            "short to say why the finding is safe",
            'lint_accept = {"rule-name": "why this is safe here, in a sentence"}',
            acceptable=False,
        ),
    )
}

# Every rule squawk 2.70 knows (read from the binary's rule table; squawkhq.com documents them),
# on by default or not. Used to refuse a lint_accept entry that names no rule, so a typo cannot
# hide a finding. A squawk upgrade that adds rules adds them here (tests/test_lint.py checks
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

# The safe alternative for squawk findings that none of our rules covers.
SQUAWK_ALTERNATIVES: dict[str, str] = {
    "require-concurrent-index-creation": OUR_RULES["create-index-blocking"].safe_alternative,
    "require-concurrent-index-deletion": OUR_RULES["drop-index-blocking"].safe_alternative,
    "ban-concurrent-index-creation-in-transaction": OUR_RULES[
        "concurrent-index-in-transaction"
    ].safe_alternative,
    "constraint-missing-not-valid": OUR_RULES["constraint-without-not-valid"].safe_alternative
    + "; never VALIDATE in the revision that adds the constraint NOT VALID",
    "adding-foreign-key-constraint": OUR_RULES["constraint-without-not-valid"].safe_alternative,
    "disallowed-unique-constraint": OUR_RULES["unique-constraint-blocking"].safe_alternative,
    "changing-column-type": _EXPAND_CONTRACT
    + " (widening a varchar or turning it into text is catalog-only: accept it with that reason)",
    "adding-required-field": OUR_RULES["add-required-column"].safe_alternative,
    "adding-not-nullable-field": OUR_RULES["set-not-null"].safe_alternative,
    "adding-field-with-default": "use a constant (non-volatile) server default, or add the "
    f"column nullable and fill it with {SAFE}.backfill_in_batches",
    "renaming-column": _EXPAND_CONTRACT,
    "renaming-table": _EXPAND_CONTRACT,
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


def rule_for(name: str) -> Rule | None:
    return OUR_RULES.get(name)


def is_known(name: str) -> bool:
    return name in OUR_RULES or name in SQUAWK_RULES
