"""What env.py and the toolkit share about the migration environment."""

from __future__ import annotations

from agent_db.database.catalog import BOOKKEEPING_TABLES


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate compares our tables only, never the bookkeeping ones."""
    return not (type_ == "table" and name in BOOKKEEPING_TABLES)
