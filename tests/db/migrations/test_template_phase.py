"""The revision template declares the phase, so every new revision says what it is."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL

from agent_db.commands.authoring import create_revision
from agent_db.revisions.phases import phase_of
from agent_db.revisions.revision_file import read_revision
from tests.support.databases import target_for


def test_a_new_revision_declares_expand_and_explains_contract(versions: Path, empty_url: URL) -> None:
    (path,) = create_revision(target_for("dev", empty_url), "add a nickname", autogenerate=False)
    assert path.parent == versions
    text = path.read_text()
    assert 'phase: str = "expand"\n' in text
    assert '"contract": drops, renames, retypes, or tightens' in text
    revision = read_revision(path)
    assert revision.declared_phase == "expand"
    assert phase_of(revision) == "expand"
    path.write_text(text.replace('phase: str = "expand"', 'phase: str = "contract"'))
    assert phase_of(read_revision(path)) == "contract"
