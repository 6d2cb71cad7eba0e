"""Hostile files: broken environment files and manifests that were edited, truncated, bloated
or written for another project. Each is refused with a message naming the file, and nothing
changes in any database."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import pytest

from agent_db.commands.signing import KEY_VARIABLE
from agent_db.errors import ConfigError
from agent_db.revisions.graph import default_graph
from tests.support.cli import call_task
from tests.support.manifests import MANIFEST_KEY, forged_manifest, write_manifest_file
from tests.support.paths import ROOT
from tests.support.world import World, refused_without_change

STAGING = (ROOT / "environments" / "staging.toml").read_text()

ENVIRONMENT_FILES: dict[str, bytes] = {
    "not-toml": b"database_url_env = [unclosed\n",
    "not-utf8": b"\xff\xfe\x00\x00garbage",
    "nul-in-string": STAGING.replace('"STAGING_DATABASE_URL"', '"STAGING\\u0000"').encode(),
    "raw-nul": STAGING.encode() + b"\x00",
    "empty": b"",
    "protected-maybe": STAGING.replace("protected = false", 'protected = "maybe"').encode(),
    "sql-in-timeout": STAGING.replace(
        'lock_timeout = "3s"', 'lock_timeout = "3s\'; DROP TABLE users; --"'
    ).encode(),
    "timeout-as-number": STAGING.replace('lock_timeout = "3s"', "lock_timeout = 3").encode(),
    "shell-in-variable-name": STAGING.replace(
        '"STAGING_DATABASE_URL"', '"STAGING_DATABASE_URL; rm -rf /"'
    ).encode(),
    "retries-absurd": STAGING.replace("lock_retries = 5", "lock_retries = 100000").encode(),
    "negative-wait": STAGING.replace("lock_wait_seconds = 600", "lock_wait_seconds = -1").encode(),
    "reads-prods-url": STAGING.replace('"STAGING_DATABASE_URL"', '"PROD_DATABASE_URL"').encode(),
    "huge-garbage": b"x = " + b"[" * 200_000,
}


@pytest.fixture
def environments(environment: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "environments"
    shutil.copytree(ROOT / "environments", folder)
    monkeypatch.setenv("AGENT_ENVIRONMENTS_DIR", str(folder))
    return folder


@pytest.mark.parametrize("content", ENVIRONMENT_FILES.values(), ids=ENVIRONMENT_FILES.keys())
def test_malformed_environment_files_are_named_and_change_nothing(
    environment: World, environments: Path, content: bytes
) -> None:
    (environments / "staging.toml").write_bytes(content)
    for task, flags in [("upgrade", {"env": "staging"}), ("promote", {"to": "staging"})]:
        outcome = refused_without_change(environment, task, **flags)
        assert outcome.code == 2, outcome
        assert "staging.toml" in outcome.stderr
    # The other environments keep working: one broken file does not take the toolkit down.
    assert call_task("current", env="dev").code == 0


def test_a_folder_where_an_environment_file_should_be(environment: World, environments: Path) -> None:
    (environments / "staging.toml").unlink()
    (environments / "staging.toml").mkdir()
    outcome = refused_without_change(environment, "upgrade", env="staging")
    assert "cannot read" in outcome.stderr


def test_an_api_table_with_bad_values_names_the_file(environments: Path) -> None:
    from agent_api.settings import load_api_settings
    from agent_db.errors import ConfigError

    text = STAGING.replace("access_token_minutes = 30", "access_token_minutes = -5")
    (environments / "staging.toml").write_text(text)
    with pytest.raises(
        ConfigError, match=r"staging\.toml \[api\] has invalid settings: access_token_minutes"
    ):
        load_api_settings("staging")


# --------------------------------------------------------------------------- manifests


def valid_manifest() -> dict[str, Any]:
    """What staging's promotion would have written with staging at head: the control case."""
    return forged_manifest()


def _set(key: str, value: object) -> Callable[[dict[str, Any]], object]:
    def change(data: dict[str, Any]) -> object:
        data[key] = value
        return data

    return change


def _edit_checksum_of_head(data: dict[str, Any]) -> object:
    data["revisions"][-1]["checksum"] = "f" * 64
    return data


def _drop_record_of_head(data: dict[str, Any]) -> object:
    data["revisions"].pop()
    return data


def _raw(text: str | bytes) -> Callable[[dict[str, Any]], object]:
    return lambda _: text


MANIFESTS: dict[str, tuple[Callable[[dict[str, Any]], object], int, str]] = {
    "edited-checksum": (_edit_checksum_of_head, 3, "was edited after staging ran it"),
    "position-without-record": (_drop_record_of_head, 3, "was not recorded as successful in staging"),
    "another-project": (_set("project", "someone-else"), 3, "another project"),
    "another-history": (_set("base_revisions", ["0badbase0000"]), 3, "another project or migration history"),
    "another-stage": (_set("target", "dev"), 3, "describes 'dev'"),
    "unknown-revision": (_set("position", ["'; drop table users; --"]), 3, "does not have"),
    "nul-revision": (_set("position", ["abc\x00def"]), 3, "does not have"),
    "position-not-a-list": (_set("position", 42), 2, "malformed"),
    "revisions-not-a-list": (_set("revisions", "everything"), 2, "malformed"),
    "missing-field": (lambda d: {k: v for k, v in d.items() if k != "created_at"}, 2, "malformed"),
    "future-format": (_set("format_version", 99), 2, "format_version 99"),
    "not-json": (_raw("{not json"), 2, "malformed"),
    "not-utf8": (_raw(b"\xff\xfe{}"), 2, "malformed"),
    "deeply-nested": (_raw("[" * 200_000 + "]" * 200_000), 2, "malformed"),
    "too-big": (_raw(" " * 5_000_001 + "{}"), 2, "larger than any manifest"),
    "empty": (_raw(""), 2, "malformed"),
    "a-list": (_raw("[]"), 2, "malformed"),
}


@pytest.mark.parametrize(("change", "code", "words"), MANIFESTS.values(), ids=MANIFESTS.keys())
def test_edited_or_foreign_manifests_are_refused(
    environment: World,
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[dict[str, Any]], object],
    code: int,
    words: str,
) -> None:
    # Signed with the deploy key: the gates behind the signature are what is tested here
    # (tests/reliability/test_forged_manifests.py: unsigned, edited after signing, no key).
    monkeypatch.setenv(KEY_VARIABLE, MANIFEST_KEY)
    content = change(valid_manifest())
    path = environment.manifests.parent / "incoming.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        write_manifest_file(path, cast(dict[str, Any], content), key=MANIFEST_KEY)
    try:
        outcome = refused_without_change(
            environment,
            "promote",
            to="prod",
            manifest=str(path),
            manifest_out=str(environment.manifests / "prod.json"),
        )
    finally:
        path.unlink()
    assert outcome.code == code, outcome
    assert words in outcome.stderr


def test_a_device_or_folder_is_not_a_manifest(environment: World) -> None:
    for path in ("/dev/zero", str(environment.manifests)):
        outcome = refused_without_change(environment, "promote", to="prod", manifest=path)
        assert outcome.code == 2
        assert "malformed" in outcome.stderr or "larger than" in outcome.stderr


def test_a_named_pipe_is_refused_at_once(tmp_path: Path) -> None:
    """It once hung forever, waiting for a writer that never came."""
    from agent_db.commands.handoff import read_manifest

    pipe = tmp_path / "staging.json"
    os.mkfifo(pipe)
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(read_manifest, pipe, default_graph())
        try:
            with pytest.raises(ConfigError, match="not a regular file"):
                future.result(timeout=30)
        except TimeoutError:
            pipe.open("wb").close()  # release the reader, so the test fails instead of hanging
            pytest.fail("reading a named pipe as a manifest hung")


def test_the_control_manifest_is_accepted(environment: World) -> None:
    """The untampered manifest passes the checks (so the refusals above are about the edits)."""
    from agent_db.commands.handoff import read_manifest

    path = environment.manifests.parent / "control.json"
    write_manifest_file(path, valid_manifest(), key=MANIFEST_KEY)
    try:
        manifest = read_manifest(path, default_graph(), key=MANIFEST_KEY.encode(), signed_only_for="prod")
    finally:
        path.unlink()
    assert manifest.position == (default_graph().single_head(),)
    assert manifest.signature == "verified"
