"""The ledger's hash chain: each row carries the hash of the row before it.

A trigger sets three columns on every row:

- ``prev_hash``: the ``entry_hash`` of the row before it (NULL for the first row);
- ``entry_hash``: sha256 of ``prev_hash`` and the row's content as written at insert (every
  column but the three below);
- ``row_hash``: sha256 of ``entry_hash`` and what may change after insert (``outcome``,
  ``finished_at``, ``error``, ``committed``), set again when a ``running`` row records what it
  committed or moves to its final outcome.

So a row edited after it was written (with the append-only trigger disabled) no longer matches
its hashes, and a deleted row leaves the next row pointing at a row that is not there.
:func:`chain_breaks` recomputes everything in Python from the stored values, trusting no
function in the database. Inserts take a transaction-level advisory lock, so two writers never
link to the same predecessor, and a row whose identity was drawn before a later row's is given a
new one: the chain's order is the order of ``id``.

The content is the row as ``jsonb`` with NULLs stripped and timestamps as epoch seconds, so a
session's TimeZone does not change it and a nullable column added later (NULL in older rows)
leaves older hashes intact.

The function runs with ``search_path = pg_catalog, pg_temp`` and names the table through the
trigger's own schema, so a session cannot make it call a function or read a table of its own
making (``db.secure-ledger`` installs it so on ledgers chained before).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

CHAIN_COLUMNS = ("prev_hash", "entry_hash", "row_hash")
# The columns that change after insert (a step's outcome, and what a step that left its
# transaction had committed): hashed into row_hash, not into entry_hash.
OUTCOME_COLUMNS = ("outcome", "finished_at", "error", "committed")
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"agent-db:ledger-chain").digest()[:8], "big", signed=True)


def _entry_content(row: str) -> str:
    dropped = ", ".join(f"'{c}'" for c in (*CHAIN_COLUMNS, *OUTCOME_COLUMNS, "started_at"))
    return (
        f"pg_catalog.jsonb_strip_nulls((pg_catalog.to_jsonb({row}) - ARRAY[{dropped}]::text[]) "
        f"|| pg_catalog.jsonb_build_object('started_at', extract(epoch FROM {row}.started_at)))::text"
    )


def _outcome_content(row: str) -> str:
    return (
        f"pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('outcome', {row}.outcome, "
        f"'error', {row}.error, 'finished_at', extract(epoch FROM {row}.finished_at), "
        f"'committed', pg_catalog.to_jsonb({row}) -> 'committed'))::text"
    )


def _sql_hash(prefix: str, content: str) -> str:
    return f"encode(sha256(convert_to(coalesce({prefix}, '') || E'\\n' || {content}, 'UTF8')), 'hex')"


def chain_hash(prefix: str | None, content: str) -> str:
    """What :func:`_sql_hash` computes, in Python."""
    return hashlib.sha256(f"{prefix or ''}\n{content}".encode()).hexdigest()


TRIGGER_FUNCTION = f"""
CREATE OR REPLACE FUNCTION schema_ledger_hash_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    last_id bigint;
    last_hash text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_advisory_xact_lock({_LOCK_KEY});
        EXECUTE format('SELECT id, entry_hash FROM %I.%I ORDER BY id DESC LIMIT 1',
            TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO last_id, last_hash;
        IF last_id IS NOT NULL AND NEW.id <= last_id THEN
            -- Drawn before a later row's, or behind it: a crash can set a sequence back (its
            -- prefetch is WAL-logged lazily). Move the sequence past the last row first.
            PERFORM setval(pg_get_serial_sequence(
                format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), 'id'), last_id);
            NEW.id := nextval(pg_get_serial_sequence(
                format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), 'id'));
        END IF;
        NEW.prev_hash := last_hash;
        NEW.entry_hash := {_sql_hash("NEW.prev_hash", _entry_content("NEW"))};
    END IF;
    NEW.row_hash := {_sql_hash("NEW.entry_hash", _outcome_content("NEW"))};
    RETURN NEW;
END
$$
"""

# Named to sort after schema_ledger_append_only: BEFORE triggers fire in name order, so the
# append-only rule sees the update as asked, and this one then seals the row.
_TRIGGER = """
CREATE OR REPLACE TRIGGER schema_ledger_hash_chain
    BEFORE INSERT OR UPDATE ON schema_ledger
    FOR EACH ROW EXECUTE FUNCTION schema_ledger_hash_chain()
"""

# Chains the rows an older toolkit wrote, oldest first (row_hash is set by the trigger).
_CHAIN_EXISTING = f"""
DO $$
DECLARE
    r record;
    prev text := NULL;
    hash text;
BEGIN
    FOR r IN SELECT l.id, {_entry_content("l")} AS content FROM schema_ledger l ORDER BY l.id LOOP
        hash := {_sql_hash("prev", "r.content")};
        UPDATE schema_ledger SET prev_hash = prev, entry_hash = hash WHERE id = r.id;
        prev := hash;
    END LOOP;
END
$$
"""


def install_chain(connection: Connection) -> None:
    """Install the trigger and chain the rows already there (callers hold the migration lock;
    the ledger just gained the chain's columns). The append-only trigger is off meanwhile, in
    the caller's transaction, so no other session sees it off."""
    connection.execute(text(TRIGGER_FUNCTION))
    connection.execute(text(_TRIGGER))
    connection.execute(text("ALTER TABLE schema_ledger DISABLE TRIGGER schema_ledger_append_only"))
    connection.execute(text(_CHAIN_EXISTING))
    connection.execute(text("ALTER TABLE schema_ledger ENABLE TRIGGER schema_ledger_append_only"))


@dataclass(frozen=True)
class ChainBreak:
    row_id: int | None
    revision: str | None
    problem: str

    def describe(self) -> str:
        where = f"ledger row {self.row_id} ({self.revision})" if self.row_id is not None else "ledger"
        return f"{where}: {self.problem}"

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row_id, "revision": self.revision, "problem": self.problem}


def chain_breaks(connection: Connection) -> list[ChainBreak]:
    """Every place where the ledger no longer matches its hash chain (empty when intact or when
    there is no ledger yet)."""
    present = set(
        connection.execute(
            text(
                "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass('schema_ledger') "
                "AND attnum > 0 AND NOT attisdropped"
            )
        ).scalars()
    )
    if not present:
        return []  # no ledger yet
    if not set(CHAIN_COLUMNS) <= present:
        return [
            ChainBreak(
                None,
                None,
                "schema_ledger has no hash chain (columns prev_hash, entry_hash, row_hash); "
                "run 'uv run invoke db.upgrade' against it with this toolkit to chain its rows",
            )
        ]
    rows = connection.execute(
        text(
            "SELECT l.id, l.revision, l.prev_hash, l.entry_hash, l.row_hash, "
            f"{_entry_content('l')}, {_outcome_content('l')} FROM schema_ledger l ORDER BY l.id"
        )
    )
    breaks: list[ChainBreak] = []
    previous: tuple[int, str | None] | None = None  # (id, entry_hash) of the row before
    for row_id, revision, prev_hash, entry_hash, row_hash, entry, outcome in rows:
        expected_prev = previous[1] if previous else None
        if prev_hash != expected_prev:
            after = f"after row {previous[0]}" if previous else "at the start of the ledger"
            breaks.append(
                ChainBreak(
                    row_id,
                    revision,
                    f"the row it was chained to is gone: a row {after} was deleted, or the row "
                    "before it was rewritten with its hash",
                )
            )
        if entry_hash is None or row_hash is None:
            breaks.append(
                ChainBreak(row_id, revision, "it carries no hash: it was written with the chain trigger off")
            )
        elif entry_hash != chain_hash(prev_hash, entry) or row_hash != chain_hash(entry_hash, outcome):
            breaks.append(
                ChainBreak(
                    row_id,
                    revision,
                    "it was edited after it was written (its content no longer matches its hash)",
                )
            )
        previous = (row_id, entry_hash)
    return breaks
