"""The forged-manifest attack (issue: a manifest with the right checksums and a position staging
never reached made prod apply a revision staging does not have), kept as tests. In this world
staging and prod stand one revision behind dev: a forged manifest that got through would move
prod to head."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_db.commands.signing import KEY_VARIABLE
from agent_db.revisions.graph import default_graph
from tests.support.cli import Outcome, call_task
from tests.support.inspection import position
from tests.support.manifests import MANIFEST_KEY, OTHER_KEY, forged_manifest, write_manifest_file
from tests.support.world import World, refused_without_change


def promote_prod(world: World, manifest: Path) -> Outcome:
    return refused_without_change(
        world, "promote", to="prod", manifest=str(manifest), manifest_out=str(world.manifests / "prod.json")
    )


@pytest.fixture
def incoming(environment: World) -> Iterator[Path]:
    path = environment.manifests.parent / "incoming.json"
    yield path
    path.unlink(missing_ok=True)


def test_a_forged_manifest_is_refused_when_a_key_is_set(
    environment: World, incoming: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, MANIFEST_KEY)
    behind = position(environment.prod)
    write_manifest_file(incoming, forged_manifest())
    outcome = promote_prod(environment, incoming)
    assert outcome.code == 3, outcome
    assert "cannot be trusted: it is not signed" in outcome.stderr
    assert f"{KEY_VARIABLE} is set: prod accepts only signed manifests" in outcome.stderr
    assert "give that job the key" in outcome.stderr
    assert position(environment.prod) == behind

    write_manifest_file(incoming, forged_manifest(), key=OTHER_KEY)  # a key that is not the deploy key
    outcome = promote_prod(environment, incoming)
    assert outcome.code == 3, outcome
    assert "it was signed with another key" in outcome.stderr
    assert f"set the same {KEY_VARIABLE} in every deploy environment" in outcome.stderr
    assert position(environment.prod) == behind


def test_a_signed_manifest_edited_after_signing_is_refused(
    environment: World, incoming: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staging's real manifest, signed with the deploy key, then moved to head by hand."""
    monkeypatch.setenv(KEY_VARIABLE, MANIFEST_KEY)
    written = call_task("manifest", env="staging", out=str(incoming))
    assert written.code == 0, written
    assert "(signed)" in written.stderr
    real = json.loads(incoming.read_text())
    assert real["signature"]["algorithm"] == "hmac-sha256"
    graph = default_graph()
    head = graph.single_head()
    assert real["position"] != [head]
    real["position"] = [head]
    real["revisions"].append({"revision": head, "checksum": graph[head].checksum})
    incoming.write_text(json.dumps(real))
    outcome = promote_prod(environment, incoming)
    assert outcome.code == 3, outcome
    assert "its content was changed after it was signed" in outcome.stderr
    assert "re-run that job to write a new one" in outcome.stderr

    mangled = {**real, "signature": "trust me"}
    incoming.write_text(json.dumps(mangled))
    outcome = promote_prod(environment, incoming)
    assert outcome.code == 3, outcome
    assert "its signature field is not one this tool writes" in outcome.stderr


def test_without_a_key_the_file_is_ignored_and_staging_s_ledger_decides(
    environment: World, incoming: Path, tmp_path: Path
) -> None:
    """No key: the forged file claims head, staging's ledger shows one behind, and prod stays
    where staging is."""
    head = default_graph().single_head()
    behind = position(environment.staging)
    assert behind != [head]
    assert position(environment.prod) == behind
    before = environment.fingerprints()
    write_manifest_file(incoming, forged_manifest())
    out = tmp_path / "prod.json"
    outcome = call_task("promote", to="prod", manifest=str(incoming), manifest_out=str(out))
    assert outcome.code == 0, outcome
    assert environment.fingerprints() == before
    assert "nothing to do" in outcome.stderr
    assert f"ignored: {KEY_VARIABLE} is not set, so its claims were not trusted" in outcome.stderr
    assert f"the file claims {head}; the ledger shows {behind[0]}" in outcome.stderr
    assert f"(unsigned: {KEY_VARIABLE} is not set)" in outcome.stderr
    written = json.loads(out.read_text())
    assert written["position"] == behind
    assert "signature" not in written

    as_json = call_task("promote", to="prod", manifest=str(incoming), manifest_out=str(out), json=True)
    assert as_json.code == 0, as_json
    result = json.loads(as_json.stdout)
    assert result["source_origin"] == "live"
    assert result["source_position"] == behind
    assert result["manifest_signed"] is False


def test_without_a_key_and_without_staging_the_promotion_names_both_fixes(
    environment: World, incoming: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGING_DATABASE_URL")
    write_manifest_file(incoming, forged_manifest())
    outcome = promote_prod(environment, incoming)
    assert outcome.code == 2, outcome
    assert "STAGING_DATABASE_URL is not set" in outcome.stderr
    assert f"cannot be trusted without {KEY_VARIABLE}" in outcome.stderr
    assert f"set {KEY_VARIABLE} as the deploy jobs do" in outcome.stderr


@pytest.mark.parametrize(
    ("value", "words"),
    [("short-key", "too short to sign manifests"), (f"{MANIFEST_KEY}\n", "starts or ends with whitespace")],
)
def test_a_weak_or_mangled_key_is_refused_before_anything_changes(
    environment: World, incoming: Path, monkeypatch: pytest.MonkeyPatch, value: str, words: str
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, value)
    write_manifest_file(incoming, forged_manifest(), key=MANIFEST_KEY)
    outcome = promote_prod(environment, incoming)
    assert outcome.code == 2, outcome
    assert words in outcome.stderr
    assert "secrets.token_hex(32)" in outcome.stderr or "set it again" in outcome.stderr
    assert value.strip() not in outcome.output


def test_without_a_key_and_staging_unreachable_the_promotion_names_both_fixes(
    environment: World, incoming: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staging configured but not answering: the same two ways out as when it is not configured."""
    monkeypatch.setenv("STAGING_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/staging")
    write_manifest_file(incoming, forged_manifest())
    before = environment.fingerprints()
    outcome = call_task(
        "promote", to="prod", manifest=str(incoming), manifest_out=str(environment.manifests / "prod.json")
    )
    assert outcome.code == 1, outcome  # unavailable, as any unreachable server
    assert environment.fingerprints() == before
    assert "cannot reach PostgreSQL" in outcome.stderr
    assert f"set {KEY_VARIABLE} as the deploy jobs do" in outcome.stderr
