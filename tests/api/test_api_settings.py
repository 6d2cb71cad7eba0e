"""``[api]`` settings are strict (an unknown key is exit 2, named with its file and the valid
keys), and ``log_level`` reaches the app's loggers."""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_api.logging_setup import APP_LOGGER
from agent_api.main import create_app
from agent_api.settings import file_keys, load_api_settings
from agent_db.errors import ConfigError
from tests.support.paths import ROOT


@pytest.fixture
def environments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "environments"
    shutil.copytree(ROOT / "environments", folder)
    monkeypatch.setenv("AGENT_ENVIRONMENTS_DIR", str(folder))
    return folder


@pytest.fixture
def app_logger_level() -> Iterator[None]:
    logger = logging.getLogger(APP_LOGGER)
    before = logger.level
    yield
    logger.setLevel(before)


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_misspelt_key_is_named_with_its_file_and_the_valid_keys(environments: Path) -> None:
    _replace(environments / "prod.toml", 'log_level = "warning"', 'log_levle = "warning"')
    with pytest.raises(ConfigError) as raised:
        load_api_settings("prod")
    message = str(raised.value)
    assert raised.value.exit_code == 2
    assert "environments/prod.toml [api]" in message
    assert "unknown key 'log_levle'" in message
    assert "did you mean log_level?" in message
    assert f"valid keys: {', '.join(file_keys())}" in message
    assert "environment" not in re.sub(r"environments/", "", message)  # not a key of the file


def test_the_environment_name_is_not_a_key_of_the_file(environments: Path) -> None:
    with (environments / "staging.toml").open("a") as handle:
        handle.write('environment = "prod"\n')
    with pytest.raises(
        ConfigError, match=r"environments/staging\.toml \[api\] has unknown key 'environment'"
    ):
        load_api_settings("staging")


def test_an_unknown_log_level_is_refused_with_uvicorns_names(environments: Path) -> None:
    _replace(environments / "staging.toml", 'log_level = "info"', 'log_level = "verbose"')
    with pytest.raises(ConfigError) as raised:
        load_api_settings("staging")
    assert raised.value.exit_code == 2
    assert "environments/staging.toml [api] has invalid settings: log_level" in str(raised.value)
    assert "'debug'" in str(raised.value)
    assert "'trace'" in str(raised.value)


def test_every_environment_file_loads() -> None:
    levels = {name: load_api_settings(name).log_level for name in ("dev", "staging", "prod")}
    assert levels == {"dev": "debug", "staging": "info", "prod": "warning"}


@pytest.mark.usefixtures("app_logger_level")
@pytest.mark.parametrize(("level", "number"), [("warning", logging.WARNING), ("debug", logging.DEBUG)])
def test_log_level_sets_the_app_loggers_level(
    monkeypatch: pytest.MonkeyPatch, level: str, number: int, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DEV_JWT_SECRET", "k" * 40)
    create_app(load_api_settings("dev", log_level=level))
    logger = logging.getLogger(f"{APP_LOGGER}.routers")
    assert logging.getLogger(APP_LOGGER).level == number
    assert logger.getEffectiveLevel() == number
    with caplog.at_level(logging.NOTSET):  # capture everything the logger lets through
        logger.debug("a debug line")
        logger.warning("a warning line")
    messages = [record.getMessage() for record in caplog.records]
    assert "a warning line" in messages
    assert ("a debug line" in messages) is (level == "debug")
