"""Signed hand-offs that go through: dev -> staging -> prod with the deploy key, prod's promotion
reading only staging's signed manifest (as prod's deploy job, which has no staging credentials)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_db.commands import migrate
from agent_db.commands.manifest import write_environment_manifest
from agent_db.commands.promote import promote
from agent_db.commands.signing import KEY_VARIABLE, canonical, check, key_id, sign
from agent_db.database.target import Target
from agent_db.errors import SafetyRefusal
from tests.support.databases import DatabaseFactory, url_text
from tests.support.inspection import position
from tests.support.manifests import MANIFEST_KEY, OTHER_KEY, forged_manifest, write_manifest_file
from tests.support.revisions import configured_head, copy_history


@pytest.fixture
def chain(databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """dev, staging and prod, empty; returns the manifests folder."""
    for name in ("dev", "staging", "prod"):
        monkeypatch.setenv(f"{name.upper()}_DATABASE_URL", url_text(databases.create(f"s{name}")))
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(copy_history(tmp_path)))
    monkeypatch.setenv("AGENT_DB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "manifests"


def test_a_valid_signed_manifest_promotes(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, MANIFEST_KEY)
    head = configured_head()
    migrate.upgrade(Target.resolve("dev"))
    dev = write_environment_manifest("dev", chain / "dev.json")
    assert dev.signed
    to_staging = promote("staging", manifest=dev.path, manifest_out=chain / "staging.json")
    assert to_staging.source.origin == str(dev.path)
    assert to_staging.source.note == "signature verified"
    assert to_staging.manifest_signed

    monkeypatch.delenv("STAGING_DATABASE_URL")  # prod's job: the signed manifest is all it has
    to_prod = promote("prod", manifest=chain / "staging.json", manifest_out=chain / "prod.json")
    assert to_prod.run.after == (head,)
    assert to_prod.source.note == "signature verified"
    assert position(Target.resolve("prod").url) == [head]
    written = json.loads((chain / "prod.json").read_text())
    assert check(written, MANIFEST_KEY.encode(), "prod.json") == "verified"
    assert written["signature"]["key_id"] == key_id(MANIFEST_KEY.encode())


def test_revision_not_recorded_in_source_is_refused(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest signed with the deploy key that lacks a revision's record (as one written
    before staging recorded it would): the gate refuses the revision."""
    monkeypatch.setenv(KEY_VARIABLE, MANIFEST_KEY)
    first = configured_head()
    migrate.upgrade(Target.resolve("dev"))
    promote("staging", manifest_out=chain / "staging.json")
    data = json.loads((chain / "staging.json").read_text())
    data["revisions"] = [r for r in data["revisions"] if r["revision"] != first]
    manifest = write_manifest_file(chain / "staging.json", data, key=MANIFEST_KEY)
    with pytest.raises(SafetyRefusal, match=f"{first} .* not recorded as successful in staging"):
        promote("prod", manifest=manifest)
    assert position(Target.resolve("prod").url) == []


def test_an_unsigned_dev_manifest_moves_staging_but_nothing_protected(
    chain: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dev job holds no secrets, so its manifest is unsigned: staging (not protected, and
    movable by db.upgrade anyway) takes it and says so; one signed with another key it refuses."""
    migrate.upgrade(Target.resolve("dev"))
    unsigned = write_environment_manifest("dev", chain / "dev.json")
    assert not unsigned.signed
    monkeypatch.setenv(KEY_VARIABLE, MANIFEST_KEY)
    moved = promote("staging", manifest=unsigned.path, manifest_out=chain / "staging.json")
    assert moved.run.after == (configured_head(),)
    assert "unsigned: the dev job holds no AGENT_DB_MANIFEST_KEY; accepted because staging is not" in (
        moved.source.note
    )

    data = json.loads(unsigned.path.read_text())
    edited = sign(data, OTHER_KEY.encode())
    unsigned.path.write_text(json.dumps(edited))
    with pytest.raises(SafetyRefusal, match="signed with another key"):
        promote("staging", manifest=unsigned.path, manifest_out=chain / "staging.json")


def test_the_signature_covers_every_field_and_survives_reformatting() -> None:
    key = MANIFEST_KEY.encode()
    signed = sign(forged_manifest(), key)
    for text in (json.dumps(signed), json.dumps(signed, indent=4, sort_keys=True)):
        assert check(json.loads(text), key, "m") == "verified"
    assert canonical(signed) == canonical(forged_manifest())
    for field in ("position", "revisions", "target", "git_commit", "created_at", "actor"):
        edited = {**signed, field: "x"}
        with pytest.raises(SafetyRefusal, match="changed after it was signed"):
            check(edited, key, "m")
    assert check(forged_manifest(), key, "m") == "unsigned"
    assert check(signed, None, "m") == "unchecked"
    assert key_id(key) != key_id(OTHER_KEY.encode())
    assert MANIFEST_KEY not in json.dumps(signed)
