"""The fast revision graph: parsing, heads, resolution, paths, checksums."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_db.errors import ConfigError
from agent_db.revisions.graph import RevisionGraph, default_graph
from agent_db.revisions.revision_file import file_checksum

FIRST, SECOND = "3f1a2b9c4d5e", "7c2e8d1f0a6b"


def write_revision(folder: Path, rev: str, parent: str | None, extra: str = "") -> Path:
    path = folder / f"{rev}_rev.py"
    path.write_text(
        f'"""revision {rev}\n\nRevision ID: {rev}\n"""\n'
        f"revision: str = {rev!r}\n"
        f"down_revision: str | None = {parent!r}\n{extra}"
        "def upgrade() -> None:\n    pass\n"
    )
    return path


def test_project_history_is_the_tutorial_chain() -> None:
    graph = default_graph()
    order = graph.linear_order()
    assert order[:2] == [FIRST, SECOND]
    assert graph[FIRST].down_revisions == ()
    assert graph[SECOND].down_revisions == (FIRST,)
    assert graph[FIRST].message == "create users table"
    assert len(graph.heads) == 1


def test_resolve_prefix_head_base_and_unknown() -> None:
    graph = default_graph()
    assert graph.resolve("3f1a") == FIRST
    assert graph.resolve("head") == graph.single_head()
    assert graph.resolve("base") is None
    with pytest.raises(ConfigError, match="unknown revision 'abc123'"):
        graph.resolve("abc123")
    with pytest.raises(ConfigError, match="unknown revision"):
        graph.resolve("'; drop table users; --")


def test_paths_between_revisions(tmp_path: Path) -> None:
    for rev, parent in [("a1", None), ("b2", "a1"), ("c3", "b2"), ("d4", "c3")]:
        write_revision(tmp_path, rev, parent)
    graph = RevisionGraph.load(tmp_path)
    assert graph.upgrade_path((), "d4") == ["a1", "b2", "c3", "d4"]
    assert graph.upgrade_path(("b2",), "d4") == ["c3", "d4"]
    assert graph.upgrade_path(("d4",), "d4") == []
    assert graph.downgrade_path(("d4",), "b2") == ["d4", "c3"]
    assert graph.downgrade_path(("b2",), None) == ["b2", "a1"]
    assert graph.relative(("d4",), -2) == "b2"
    with pytest.raises(ConfigError, match="base is reached"):
        graph.relative(("a1",), -2)


def test_two_heads_are_named_with_their_files(tmp_path: Path) -> None:
    write_revision(tmp_path, "a1", None)
    write_revision(tmp_path, "b2", "a1")
    write_revision(tmp_path, "c3", "a1")
    graph = RevisionGraph.load(tmp_path)
    with pytest.raises(ConfigError, match=r"2 heads: b2 \(b2_rev.py\), c3 \(c3_rev.py\)"):
        graph.single_head()


def test_missing_parent_and_duplicate_ids_are_named(tmp_path: Path) -> None:
    write_revision(tmp_path, "b2", "zz")
    with pytest.raises(ConfigError, match="names parent 'zz'"):
        RevisionGraph.load(tmp_path)
    (tmp_path / "b2_rev.py").unlink()
    write_revision(tmp_path, "a1", None)
    (tmp_path / "copy.py").write_text((tmp_path / "a1_rev.py").read_text())
    with pytest.raises(ConfigError, match="defined twice"):
        RevisionGraph.load(tmp_path)


def test_file_that_is_not_python_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("revision = (\n")
    with pytest.raises(ConfigError, match=r"broken\.py"):
        RevisionGraph.load(tmp_path)


def test_declared_timeouts_are_read(tmp_path: Path) -> None:
    write_revision(tmp_path, "a1", None, 'lock_timeout = "10s"\nstatement_timeout = "1h"\n')
    revision = RevisionGraph.load(tmp_path)["a1"]
    assert (revision.lock_timeout, revision.statement_timeout) == ("10s", "1h")


def test_checksum_ignores_line_endings_but_not_content() -> None:
    assert file_checksum(b"a\r\nb\r\n") == file_checksum(b"a\nb\n") == file_checksum(b"a\rb\r")
    assert file_checksum(b"a\nb\n") != file_checksum(b"a\nc\n")
