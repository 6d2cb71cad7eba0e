"""Where a promotion's source stands, and how far that can be believed.

Read live from the source's own ledger, or from the manifest its stage wrote. A manifest is
believed only when its signature verifies with ``AGENT_DB_MANIFEST_KEY``. Without a key nothing
in the file is believed: the source's live ledger is read instead (and the output says so), so a
forged file cannot move an environment past what its source's ledger shows.

One exception, with a key set: the manifest of the chain's first environment (dev, a throwaway
database upgraded from empty by a job that holds no secrets) is unsigned by design; it is accepted
for an environment that is not protected (staging, which ``db.upgrade`` moves without any gate
anyway). A protected environment never accepts an unsigned manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent_db.commands.guards import check_known
from agent_db.commands.handoff import Manifest, read_manifest
from agent_db.commands.signing import KEY_VARIABLE, SETUP
from agent_db.database import ledger
from agent_db.database.catalog import current_revisions
from agent_db.database.target import Target
from agent_db.errors import ConfigError, DatabaseUnavailable, SafetyRefusal
from agent_db.inputs import shown
from agent_db.revisions.graph import RevisionGraph
from agent_db.settings import DatabaseSettings, load_settings


@dataclass(frozen=True)
class SourceState:
    environment: str
    position: tuple[str, ...]
    checksums: dict[str, str | None]
    origin: str  # "live" or the manifest path
    note: str = ""  # how far the manifest was believed, when one was given


def read_source(
    source: str, manifest: Path | None, graph: RevisionGraph, *, target: DatabaseSettings, key: bytes | None
) -> SourceState:
    """The source's position and recorded checksums, from ``manifest`` when it can be trusted."""
    if manifest is None:
        why = f"or pass --manifest with the {source} stage's manifest"
        return _live(source, graph, start_embedded=True, why=why)
    first_of_chain = not load_settings(source).promote_from
    unsigned_accepted = first_of_chain and not target.protected
    loaded = read_manifest(
        manifest, graph, key=key, signed_only_for=None if unsigned_accepted else target.name
    )
    name = shown(str(manifest), 200)
    if loaded.target != source:
        raise SafetyRefusal(
            f"manifest {name} describes {shown(loaded.target)}, but this promotion's source is "
            f"{source}; use the manifest that the {source} stage wrote"
        )
    if loaded.signature == "unchecked":
        return _instead_of(loaded, name, source, graph)
    note = "signature verified"
    if loaded.signature == "unsigned":
        note = (
            f"unsigned: the {source} job holds no {KEY_VARIABLE}; accepted because {target.name} "
            "is not protected"
        )
    return SourceState(source, loaded.position, dict(loaded.checksums), str(manifest), note)


def _instead_of(loaded: Manifest, name: str, source: str, graph: RevisionGraph) -> SourceState:
    """No key: the file proves nothing, so the source's live ledger decides."""
    why = (
        f"manifest {name} cannot be trusted without {KEY_VARIABLE} (it is not set), so {source}'s "
        f"live ledger must be read instead; set {KEY_VARIABLE} as the deploy jobs do ({SETUP}), "
        f"or make {source} reachable"
    )
    live = _live(source, graph, start_embedded=False, why=why)
    claimed = ", ".join(loaded.position) or "base"
    shows = ", ".join(live.position) or "base"
    differs = f" (the file claims {claimed}; the ledger shows {shows})" if claimed != shows else ""
    note = f"{name} ignored: {KEY_VARIABLE} is not set, so its claims were not trusted{differs}"
    return SourceState(source, live.position, live.checksums, "live", note)


def _live(source: str, graph: RevisionGraph, *, start_embedded: bool, why: str) -> SourceState:
    try:
        source_target = Target.resolve(source, start_embedded=start_embedded)
    except ConfigError as error:
        raise ConfigError(f"{error} ({why})") from None
    try:
        with source_target.connect(purpose="agent-db-promote-source") as connection:
            position = current_revisions(connection)
            checksums = ledger.successful_checksums(connection)
            check_known(graph, position, source, connection)
    except DatabaseUnavailable as error:  # configured but unreachable: the same two ways out
        raise DatabaseUnavailable(f"{error} ({why})") from None
    return SourceState(source, position, checksums, "live")
