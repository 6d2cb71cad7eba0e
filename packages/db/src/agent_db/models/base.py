"""The declarative base and the naming convention every constraint and index follows.

Names match what PostgreSQL itself would choose (``users_pkey``, ``agents_owner_id_fkey``,
``users_email_key``), except indexes, which keep the ``ix_<table>_<column>`` form the tutorial
and SQLAlchemy's ``index=True`` use. With fixed names, later revisions can drop constraints by
name on every environment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    """``created_at`` and ``updated_at``, set by the database; ``updated_at`` moves on update.

    ``eager_defaults`` fetches both with ``RETURNING`` on insert and update: without it they
    are expired after a flush and reading them later needs a lazy load, which async sessions
    cannot do implicitly.
    """

    __mapper_args__: ClassVar[dict[str, Any]] = {"eager_defaults": True}

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )
