"""The phase of a revision: ``expand`` or ``contract``.

An **expand** revision only adds (tables, nullable or defaulted columns, indexes, constraints
checked against new rows only): the release already running keeps working on the new schema.
A **contract** revision removes or changes something older code may read or write (drops,
renames, type changes, a new NOT NULL on an existing column, dropped defaults or constraints):
it runs only once no running release still needs what it removes.

A revision declares its phase at module level (``phase = "contract"``); ``expand`` is the
default when it declares none. Revisions applied before phases existed are frozen byte for byte
(their checksums are recorded in ledgers and manifests), so their phase comes from a reviewed
map that travels with the history: ``phases.toml`` in the versions folder::

    [phases]
    5aad52061418 = "contract"  # SET NOT NULL on conversations.message_count

A map entry for a revision that declares its own phase must agree with it, and an entry naming
no revision file is refused (a mistyped id would silently leave a contract revision ``expand``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from agent_db.errors import ConfigError
from agent_db.inputs import shown
from agent_db.revisions.revision_file import Revision

if TYPE_CHECKING:
    from alembic.script import Script

    from agent_db.revisions.graph import RevisionGraph

Phase = Literal["expand", "contract"]
PHASES: tuple[Phase, ...] = ("expand", "contract")
DEFAULT_PHASE: Phase = "expand"
MAP_FILE = "phases.toml"


class PhaseError(ConfigError):
    """A phase that is not ``expand`` or ``contract``, or a map that does not fit the history."""


def parse_phase(value: object, where: str) -> Phase:
    """``value`` as a phase; a clear error naming ``where`` otherwise."""
    if value == "expand" or value == "contract":
        return value
    raise PhaseError(
        f'{where}: phase {shown(str(value))} is not a phase; use "expand" (additive: the running '
        'release keeps working) or "contract" (removes or changes what older code reads)'
    )


@dataclass(frozen=True)
class PhaseMap:
    """The reviewed map of one versions folder (empty when the folder has none)."""

    path: Path
    phases: dict[str, Phase]

    def get(self, revision: str) -> Phase | None:
        return self.phases.get(revision)


_MAPS: dict[Path, tuple[tuple[int, int], PhaseMap]] = {}


def map_path(versions: Path) -> Path:
    return versions / MAP_FILE


def load_phase_map(versions: Path) -> PhaseMap:
    """The map in ``versions`` (re-read when the file changes)."""
    path = map_path(versions)
    try:
        status = path.stat()
    except FileNotFoundError:
        return PhaseMap(path, {})
    except OSError as error:
        raise PhaseError(f"{path} cannot be read ({error.strerror}); fix its permissions") from None
    stamp = (status.st_mtime_ns, status.st_size)
    cached = _MAPS.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    loaded = PhaseMap(path, _parse_map(path))
    _MAPS[path] = (stamp, loaded)
    return loaded


def _parse_map(path: Path) -> dict[str, Phase]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise PhaseError(f"{path} cannot be read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise PhaseError(f"{path} is not valid TOML: {error}") from None
    unknown = sorted(set(document) - {"phases"})
    if unknown:
        raise PhaseError(
            f"{path}: unknown key {', '.join(map(repr, unknown))}; the file holds one table, "
            '[phases], mapping revision ids to "expand" or "contract"'
        )
    table = document.get("phases", {})
    if not isinstance(table, dict):
        raise PhaseError(f'{path}: phases must be a table: [phases] then lines like abc123 = "contract"')
    return {str(rev): parse_phase(value, f"{path}: {rev}") for rev, value in table.items()}


def _folder_of(file: str) -> Path | None:
    path = Path(file)
    return path.parent if path.is_file() else None


def phase_of(script: Revision | Script) -> Phase:
    """The phase of a revision: what its file declares, else its map entry, else ``expand``.

    ``script`` is the toolkit's :class:`Revision` (read without importing the file) or an
    Alembic ``Script`` (its module imported)."""
    if isinstance(script, Revision):
        revision, declared, folder = script.id, script.declared_phase, _folder_of(script.file)
    else:
        revision = script.revision
        declared = getattr(script.module, "phase", None)
        folder = _folder_of(script.path)
    mapped = load_phase_map(folder).get(revision) if folder is not None else None
    return _resolve(revision, declared, mapped)


def _resolve(revision: str, declared: object, mapped: Phase | None) -> Phase:
    if declared is None:
        return mapped or DEFAULT_PHASE
    phase = parse_phase(declared, f"revision {revision}")
    if mapped is not None and mapped != phase:
        raise PhaseError(
            f'revision {revision} declares phase = "{phase}" but {MAP_FILE} says "{mapped}": '
            f"a file that can still change declares its own phase; remove its entry from {MAP_FILE}"
        )
    return phase


def graph_phases(graph: RevisionGraph) -> dict[str, Phase]:
    """The phase of every revision of ``graph``; refuses map entries naming no revision."""
    if graph.directory is None:
        return {rev: phase_of(revision) for rev, revision in graph.revisions.items()}
    phase_map = load_phase_map(graph.directory)
    check_map(phase_map, graph.revisions)
    # One map for the whole folder: no per-file lookups (a long history stays fast).
    return {
        rev: _resolve(rev, revision.declared_phase, phase_map.get(rev))
        for rev, revision in graph.revisions.items()
    }


def check_map(phase_map: PhaseMap, revisions: Iterable[str]) -> None:
    known = set(revisions)
    stray = sorted(rev for rev in phase_map.phases if rev not in known)
    if stray:
        raise PhaseError(
            f"{phase_map.path} names {', '.join(stray)}, which no revision file defines: correct "
            "the id (a full revision id, as in the file's `revision = ...`) or remove the entry"
        )


def first_contract(revisions: Iterable[Revision]) -> Revision | None:
    """The first contract revision of ``revisions`` (in their order), if any."""
    return next((r for r in revisions if phase_of(r) == "contract"), None)
