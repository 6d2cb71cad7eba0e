"""The schema window, computed from a build's history and a live position (no database here:
tests/api/test_schema_window.py checks /ready against real PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from agent_db.revisions.graph import RevisionGraph
from agent_db.revisions.window import BuildSchema, LiveSchema, schema_window
from agent_db.versions import VERSIONS_DIR
from tests.support.revisions import copy_history, package_head, write_revision

PROJECT_CONTRACT = "5aad52061418"  # the history's one contract revision (phases.toml)


def project_build() -> BuildSchema:
    return BuildSchema.of(RevisionGraph.load(VERSIONS_DIR))


def test_at_head_the_build_is_inside_its_window() -> None:
    build = project_build()
    window = schema_window(build, LiveSchema((package_head(),)))
    assert window.compatible
    assert window.reason is None
    assert window.newest == (package_head(),)
    assert window.pending_contract == ()


def build_as_the_contract_shipped(folder: Path) -> BuildSchema:
    """The history as the release that added PROJECT_CONTRACT shipped it: the expand revisions
    written after it (the login throttle's table...) removed from a copy."""
    versions = copy_history(folder)
    order = RevisionGraph.load(versions).linear_order()
    for later in order[order.index(PROJECT_CONTRACT) + 1 :]:
        for path in versions.glob(f"*_{later}_*.py"):
            path.unlink()
    return BuildSchema.of(RevisionGraph.load(versions))


def test_its_own_contract_revision_may_be_pending(tmp_path: Path) -> None:
    build = build_as_the_contract_shipped(tmp_path)
    before_contract = build.graph[PROJECT_CONTRACT].down_revisions
    window = schema_window(build, LiveSchema(before_contract))
    assert window.compatible
    assert window.pending_contract == (PROJECT_CONTRACT,)
    # The oldest end: the newest expand revisions; the contract after them is not needed.
    assert window.oldest == before_contract


def test_a_missing_expand_revision_keeps_it_out() -> None:
    build = project_build()
    order = build.graph.linear_order()
    window = schema_window(build, LiveSchema((order[0],)))
    assert not window.compatible
    assert window.missing_expand[0] == order[1]
    assert PROJECT_CONTRACT not in window.missing_expand
    assert window.reason is not None
    assert window.reason.startswith(f"missing expand revision {order[1]}, ")
    assert "more)" in window.reason
    assert "db.upgrade --phase expand" in window.reason


def test_an_empty_database_is_outside_with_its_own_reason() -> None:
    window = schema_window(project_build(), LiveSchema(()))
    assert not window.compatible
    assert window.reason is not None
    assert "no schema yet" in window.reason


def test_newer_revisions_count_by_their_recorded_phase(tmp_path: Path) -> None:
    build = project_build()
    head = package_head()
    every = {rev: (True, phase) for rev, phase in build.phases.items()}
    newer_expand = LiveSchema.from_rows(["e1"], {**every, "e1": (True, "expand")})
    window = schema_window(build, newer_expand)
    assert window.compatible
    assert window.newer_expand == ("e1",)

    two = LiveSchema.from_rows(["c1"], {**every, "e1": (True, "expand"), "c1": (True, "contract")})
    window = schema_window(build, two)
    assert not window.compatible
    assert window.newer_contract == ("c1",)
    assert window.reason is not None
    assert window.reason.startswith("contract revision c1 from a newer release is applied")

    reverted = LiveSchema.from_rows([head], {**every, "c1": (False, "contract")})
    assert schema_window(build, reverted).compatible

    unrecorded = LiveSchema.from_rows(["x1"], {**every, "x1": (True, None)})
    window = schema_window(build, unrecorded)
    assert not window.compatible
    assert window.reason is not None
    assert "records no phase for it" in window.reason

    # A newer head with a ledger that shows none of this build's revisions: they are missing.
    bare = LiveSchema.from_rows(["e1"], {"e1": (True, "expand")})
    assert schema_window(build, bare).missing_expand


def test_a_new_build_knows_its_own_contract(tmp_path: Path) -> None:
    versions = copy_history(tmp_path)
    head = package_head()
    write_revision(versions, "ab01", head, "pass")
    write_revision(versions, "ab02", "ab01", "pass", header='phase = "contract"')
    build = BuildSchema.of(RevisionGraph.load(versions))
    assert build.oldest == ("ab01",)
    assert not schema_window(build, LiveSchema((head,))).compatible
    at_expand = schema_window(build, LiveSchema(("ab01",)))
    assert at_expand.compatible
    assert at_expand.pending_contract == ("ab02",)
    assert at_expand.as_json()["pending_contract"] == ["ab02"]
    assert schema_window(build, LiveSchema(("ab02",))).compatible
