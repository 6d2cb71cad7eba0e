"""Migration gates (pytest-alembic): single head, upgrade from empty, up/down consistency,
models match the migrations. Each runs on a fresh empty database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.config import Config
from pytest_alembic.tests import (  # noqa: F401  (collected as tests here)
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from agent_db.alembic_config import alembic_config as build_alembic_config
from agent_db.session import create_sync_engine


@pytest.fixture
def alembic_config() -> Config:
    return build_alembic_config("dev")


@pytest.fixture
def alembic_engine(empty_url: URL) -> Iterator[Engine]:
    engine = create_sync_engine(empty_url)
    yield engine
    engine.dispose()
