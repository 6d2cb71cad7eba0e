"""The models against the schema the migrations built, each test in a rolled-back transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent_db.models import User


def make_user(name: str) -> User:
    return User(email=f"{name}@example.com", username=name, hashed_password="argon2-hash")


def test_server_defaults_fill_flags_and_timestamps(db_session: Session) -> None:
    user = make_user("grace")
    db_session.add(user)
    db_session.commit()
    assert user.id is not None
    assert user.is_active is True
    assert user.is_superuser is False
    assert user.created_at.tzinfo is not None
    assert user.updated_at == user.created_at  # same statement, same now()


def test_updated_at_moves_on_update(migrated_engine: Engine) -> None:
    # now() is fixed for a whole transaction, so this test commits for real (and cleans up).
    with Session(migrated_engine) as session:
        user = make_user("linus")
        session.add(user)
        session.commit()
        try:
            created = user.updated_at
            user.username = "linus-renamed"
            session.commit()
            assert user.updated_at > created
            assert user.created_at == created
        finally:
            session.delete(user)
            session.commit()


@pytest.mark.parametrize("field", ["email", "username"])
def test_email_and_username_are_unique(db_session: Session, field: str) -> None:
    db_session.add(make_user("ada"))
    db_session.commit()
    clash = make_user("bob")
    setattr(clash, field, "ada@example.com" if field == "email" else "ada")
    db_session.add(clash)
    with pytest.raises(IntegrityError, match=f"ix_users_{field}"):
        db_session.commit()


def test_each_test_starts_from_an_empty_users_table(db_session: Session) -> None:
    # The other tests here committed users; their outer transactions were rolled back.
    assert db_session.scalar(select(func.count()).select_from(User)) == 0
