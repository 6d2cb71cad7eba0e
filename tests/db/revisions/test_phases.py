"""Phases: what a revision declares, the reviewed map of frozen revisions, and the errors for
a phase that is not one or a map entry that names no revision."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_db.revisions.graph import RevisionGraph
from agent_db.revisions.phases import PhaseError, graph_phases, load_phase_map, phase_of
from agent_db.revisions.revision_file import read_revision
from agent_db.versions import VERSIONS_DIR
from tests.support.revisions import copy_history, package_head, write_revision


def test_the_project_history_has_one_contract_revision_from_the_map() -> None:
    phases = graph_phases(RevisionGraph.load(VERSIONS_DIR))
    assert {rev for rev, phase in phases.items() if phase == "contract"} == {"5aad52061418"}
    assert phases["ece12879f6e3"] == "expand"
    assert load_phase_map(VERSIONS_DIR).get("5aad52061418") == "contract"


def test_a_revision_declares_its_phase_and_expand_is_the_default(tmp_path: Path) -> None:
    versions = copy_history(tmp_path)
    head = package_head()
    declared = write_revision(versions, "c0ffee000001", head, "pass", header='phase = "contract"')
    plain = write_revision(versions, "c0ffee000002", "c0ffee000001", "pass")
    assert phase_of(read_revision(declared)) == "contract"
    assert phase_of(read_revision(plain)) == "expand"
    graph = RevisionGraph.load(versions, trust_cache=False)
    assert graph_phases(graph)["c0ffee000001"] == "contract"


def test_a_cached_graph_sees_a_phase_added_later(tmp_path: Path) -> None:
    versions = copy_history(tmp_path)
    path = write_revision(versions, "c0ffee000003", package_head(), "pass")
    assert graph_phases(RevisionGraph.load(versions))["c0ffee000003"] == "expand"
    write_revision(versions, "c0ffee000003", package_head(), "pass", header='phase: str = "contract"')
    assert path.exists()
    assert graph_phases(RevisionGraph.load(versions))["c0ffee000003"] == "contract"


def test_an_unknown_phase_is_refused_naming_the_file(tmp_path: Path) -> None:
    versions = copy_history(tmp_path)
    path = write_revision(versions, "c0ffee000004", package_head(), "pass", header='phase = "shrink"')
    with pytest.raises(Exception, match=r"c0ffee000004.*'shrink' is not a phase.*expand.*contract"):
        read_revision(path)


def test_a_map_entry_naming_no_revision_is_refused(tmp_path: Path) -> None:
    versions = copy_history(tmp_path)
    (versions / "phases.toml").write_text('[phases]\n5aad52061418 = "contract"\n5aad5206141 = "contract"\n')
    with pytest.raises(PhaseError, match=r"names 5aad5206141, which no revision file defines"):
        graph_phases(RevisionGraph.load(versions))


def test_a_map_with_a_bad_phase_or_key_is_refused(tmp_path: Path) -> None:
    versions = copy_history(tmp_path)
    (versions / "phases.toml").write_text('[phases]\n5aad52061418 = "drop"\n')
    with pytest.raises(PhaseError, match=r"5aad52061418: phase 'drop' is not a phase"):
        graph_phases(RevisionGraph.load(versions))
    (versions / "phases.toml").write_text('[phase]\n5aad52061418 = "contract"\n')
    with pytest.raises(PhaseError, match=r"unknown key 'phase'"):
        graph_phases(RevisionGraph.load(versions))
    (versions / "phases.toml").write_text("[phases\n")
    with pytest.raises(PhaseError, match="is not valid TOML"):
        graph_phases(RevisionGraph.load(versions))


def test_a_map_entry_contradicting_the_file_is_refused(tmp_path: Path) -> None:
    versions = copy_history(tmp_path)
    path = write_revision(versions, "c0ffee000005", package_head(), "pass", header='phase = "expand"')
    (versions / "phases.toml").write_text('[phases]\n5aad52061418 = "contract"\nc0ffee000005 = "contract"\n')
    with pytest.raises(PhaseError, match=r'declares phase = "expand" but phases.toml says "contract"'):
        phase_of(read_revision(path))


def test_an_alembic_script_gets_the_same_phase() -> None:
    from alembic.script import ScriptDirectory

    from agent_db.revisions.alembic_config import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    assert phase_of(scripts.get_revision("5aad52061418")) == "contract"
    assert phase_of(scripts.get_revision("ece12879f6e3")) == "expand"
