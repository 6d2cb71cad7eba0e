"""The JWT signing key: required and strong outside dev, generated once and shared in dev."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent_api.main import create_app
from agent_api.settings import load_api_settings
from agent_api.signing_key import DEV_KEY_FILE, dev_signing_key, resolve_signing_key
from agent_db.errors import ConfigError

STRONG = "Zx81-k2Pq9vR4tW7yB3nM6cF8hJ1sL5dG0aXe-UoIi"  # random-looking: 40+ characters, no pattern


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("DEV_JWT_SECRET", "STAGING_JWT_SECRET", "PROD_JWT_SECRET"):
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.parametrize(
    ("environment", "variable"), [("staging", "STAGING_JWT_SECRET"), ("prod", "PROD_JWT_SECRET")]
)
def test_missing_key_outside_dev_stops_startup_naming_the_variable(environment: str, variable: str) -> None:
    with pytest.raises(ConfigError) as raised:
        create_app(load_api_settings(environment))
    assert f"{variable} is not set" in str(raised.value)
    assert raised.value.exit_code == 2


def test_short_or_placeholder_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_api_settings("prod")
    monkeypatch.setenv("PROD_JWT_SECRET", "too-short")
    with pytest.raises(ConfigError, match=r"PROD_JWT_SECRET is too short \(9 characters\).*32"):
        resolve_signing_key(settings)
    monkeypatch.setenv("PROD_JWT_SECRET", "changethis" * 4)
    with pytest.raises(ConfigError, match="placeholder"):
        resolve_signing_key(settings)
    monkeypatch.setenv("PROD_JWT_SECRET", STRONG)
    assert resolve_signing_key(settings) == STRONG


@pytest.mark.parametrize(
    "weak", ["a" * 32, "abc123" * 8, "0123456789" * 4, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"]
)
def test_repeated_or_guessable_keys_are_refused_outside_dev(
    monkeypatch: pytest.MonkeyPatch, weak: str
) -> None:
    """32 times 'a' was once accepted for prod: anyone could forge its tokens."""
    monkeypatch.setenv("PROD_JWT_SECRET", weak)
    with pytest.raises(ConfigError, match="PROD_JWT_SECRET is not random enough"):
        resolve_signing_key(load_api_settings("prod"))
    monkeypatch.setenv("DEV_JWT_SECRET", weak)
    assert resolve_signing_key(load_api_settings("dev")) == weak  # dev keeps what its developer set


def test_dev_uses_the_variable_when_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEV_JWT_SECRET", STRONG)
    assert resolve_signing_key(load_api_settings("dev"), dev_key_dir=tmp_path) == STRONG
    assert not (tmp_path / DEV_KEY_FILE).exists()


def test_dev_without_variable_generates_one_private_stable_key(tmp_path: Path) -> None:
    settings = load_api_settings("dev")
    key = resolve_signing_key(settings, dev_key_dir=tmp_path / ".cache")
    path = tmp_path / ".cache" / DEV_KEY_FILE
    assert len(key) >= 32
    assert path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_signing_key(settings, dev_key_dir=tmp_path / ".cache") == key
    assert list((tmp_path / ".cache").iterdir()) == [path]  # no temporary files left behind


def test_workers_starting_together_agree_on_the_dev_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: dev_signing_key(tmp_path), range(32)))
    assert len(keys) == 1
