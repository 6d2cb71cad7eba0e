"""The ledger's table, created when missing and upgraded in place.

``_DDL`` creates a new ledger whole; ``_COLUMNS_ADDED`` lists the columns added since the first
release, each with its own ``ALTER TABLE ... ADD COLUMN IF NOT EXISTS``, so a ledger created by
an older toolkit gains them the first time a newer one runs against it (the columns are
nullable: older rows simply have no value, and a NULL leaves the rows' hashes as they were).
The hash chain's columns come last; adding them installs the chain. The catalog is read first,
so an up-to-date ledger costs one query and takes no lock.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from agent_db.database.catalog import table_exists
from agent_db.database.ledger_chain import CHAIN_COLUMNS, install_chain
from agent_db.database.pg_errors import sqlstate
from agent_db.errors import ConfigError

INSUFFICIENT_PRIVILEGE = "42501"

LEDGER_TABLE = "schema_ledger"
# Every outcome a step can have: 'partial' is a step that left its transaction and stopped.
OUTCOMES = ("running", "success", "failed", "partial")

# Rows are never deleted; a ``running`` row moves once to a final outcome (only ``outcome``,
# ``finished_at`` and ``error`` change then), and before that it may take one other change: what
# its step had committed when the step left its transaction (``committed``, set once, from NULL).
# The column is read through jsonb, so the function also works on a ledger not yet upgraded.
# It runs with search_path = pg_catalog, pg_temp: no session can shadow what it calls.
APPEND_ONLY_FUNCTION = """
    CREATE OR REPLACE FUNCTION schema_ledger_append_only() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
    BEGIN
        IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
            RAISE EXCEPTION 'schema_ledger is append-only: rows are never deleted';
        END IF;
        IF OLD.outcome = 'running' AND NEW.outcome = 'running'
           AND (to_jsonb(OLD) ->> 'committed') IS NULL
           AND (to_jsonb(NEW) ->> 'committed') IS NOT NULL
           AND (to_jsonb(NEW) - 'committed') = (to_jsonb(OLD) - 'committed') THEN
            RETURN NEW;
        END IF;
        IF OLD.outcome <> 'running'
           OR NEW.outcome = 'running'
           OR (to_jsonb(NEW) - 'outcome' - 'finished_at' - 'error')
              <> (to_jsonb(OLD) - 'outcome' - 'finished_at' - 'error') THEN
            RAISE EXCEPTION 'schema_ledger rows only move from running to a final outcome';
        END IF;
        RETURN NEW;
    END
    $$
    """

_DDL = (
    """
    CREATE TABLE IF NOT EXISTS schema_ledger (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id uuid NOT NULL,
        revision text NOT NULL,
        direction text NOT NULL CHECK (direction IN ('upgrade', 'downgrade', 'stamp')),
        checksum text,
        environment text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        finished_at timestamptz,
        actor text NOT NULL,
        git_commit text,
        tool_version text NOT NULL,
        outcome text NOT NULL DEFAULT 'running'
            CHECK (outcome IN ('running', 'success', 'failed')),
        error text,
        reason text,
        attempt integer NOT NULL DEFAULT 1,
        backend_pid integer
    )
    """,
    "CREATE INDEX IF NOT EXISTS schema_ledger_revision_idx ON schema_ledger (revision, id)",
    APPEND_ONLY_FUNCTION,
    """
    CREATE OR REPLACE TRIGGER schema_ledger_append_only
        BEFORE UPDATE OR DELETE ON schema_ledger
        FOR EACH ROW EXECUTE FUNCTION schema_ledger_append_only()
    """,
    """
    CREATE OR REPLACE TRIGGER schema_ledger_no_truncate
        BEFORE TRUNCATE ON schema_ledger
        FOR EACH STATEMENT EXECUTE FUNCTION schema_ledger_append_only()
    """,
)

# (column, statements): columns added to the ledger after its first release, oldest first. The
# statements are idempotent and the last adds the column, so a run cut short between them
# finishes the upgrade the next time.
_COLUMNS_ADDED: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "phase",
        (
            "ALTER TABLE schema_ledger ADD COLUMN IF NOT EXISTS phase text "
            "CHECK (phase IN ('expand', 'contract'))",
        ),
    ),
    # The CI run that ran the step (agent_db.database.provenance.ci_run): the deploy's address.
    ("ci_run", ("ALTER TABLE schema_ledger ADD COLUMN IF NOT EXISTS ci_run text",)),
    # What a step had committed when it left its transaction (an autocommit block), and the
    # outcome 'partial' of such a step that did not finish: it resumes from there.
    (
        "committed",
        (
            APPEND_ONLY_FUNCTION,
            "ALTER TABLE schema_ledger DROP CONSTRAINT IF EXISTS schema_ledger_outcome_check, "
            "ADD CONSTRAINT schema_ledger_outcome_check "
            f"CHECK (outcome IN {OUTCOMES!r}), "
            "ADD COLUMN IF NOT EXISTS committed text",
        ),
    ),
    # The hash chain (agent_db.database.ledger_chain): installed, and older rows chained, when
    # these columns are added (last, so every column above exists when the chain is installed).
    *(
        (column, (f"ALTER TABLE schema_ledger ADD COLUMN IF NOT EXISTS {column} text",))
        for column in CHAIN_COLUMNS
    ),
)


def ensure_ledger(connection: Connection, *, commit: bool = True) -> None:
    """Create the ledger when missing, add the columns an older one lacks (idempotent; callers
    hold the migration lock, or run inside a migration transaction with ``commit=False``)."""
    if not table_exists(connection, LEDGER_TABLE):
        for statement in _DDL:
            connection.execute(text(statement))
    present = ledger_columns(connection)
    try:
        for column, statements in _COLUMNS_ADDED:
            if column not in present:
                for statement in statements:
                    connection.execute(text(statement))
        if not present.issuperset(CHAIN_COLUMNS):
            install_chain(connection)
    except DBAPIError as error:
        if sqlstate(error) != INSUFFICIENT_PRIVILEGE:
            raise
        missing = ", ".join(c for c, _ in _COLUMNS_ADDED if c not in present)
        raise ConfigError(
            f"schema_ledger lacks this toolkit's columns ({missing}) and the role running it may "
            "not add them: the ledger is owned by another role (db.secure-ledger). Run "
            "'uv run invoke db.secure-ledger --env ENV --migrator ROLE' again with a superuser's "
            "URL: it upgrades the ledger and secures it again"
        ) from None
    if commit and connection.in_transaction():
        connection.commit()


def ledger_columns(connection: Connection) -> frozenset[str]:
    """The columns the live ledger has (empty when there is none): readers of a ledger an older
    toolkit created check for the newer columns before selecting them."""
    return frozenset(
        connection.execute(
            text(
                "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:table) "
                "AND attnum > 0 AND NOT attisdropped"
            ),
            {"table": LEDGER_TABLE},
        ).scalars()
    )
