"""Promotion manifests: what a stage leaves for the next one.

After a successful promotion the stage writes where its environment now stands and the checksum
every revision up to there was recorded with, so the next stage (prod, which has no staging
credentials) can check its gates without reaching staging. A manifest is refused when it is
malformed (exit 2), belongs to another project or history, or disagrees with the files (exit 3).
With ``AGENT_DB_MANIFEST_KEY`` set, the writer signs it and the reader verifies the signature
(agent_db.commands.signing) before anything else in it is believed.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from agent_db.commands import signing
from agent_db.database import ledger
from agent_db.errors import ConfigError, SafetyRefusal
from agent_db.inputs import check_path, shown
from agent_db.revisions.graph import RevisionGraph

KIND = "agent-db-promotion-manifest"
FORMAT_VERSION = 1
PROJECT = "ai-agent-platform"
MAX_MANIFEST_BYTES = 5_000_000


@dataclass(frozen=True)
class Manifest:
    source: str  # the environment promoted from
    target: str  # the environment promoted to: its position is what the next stage may reach
    position: tuple[str, ...]
    checksums: dict[str, str]  # every revision up to position, as recorded in target
    applied: tuple[str, ...]
    git_commit: str | None
    created_at: str
    base_revisions: tuple[str, ...]
    signature: signing.SignatureStatus = "unchecked"  # as read (a manifest being written: unchecked)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "project": PROJECT,
            "base_revisions": list(self.base_revisions),
            "source": self.source,
            "target": self.target,
            "position": list(self.position),
            "applied": list(self.applied),
            "revisions": [{"revision": r, "checksum": c} for r, c in self.checksums.items()],
            "git_commit": self.git_commit,
            "created_at": self.created_at,
            "actor": ledger.actor(),
        }


def build_manifest(
    *,
    source: str,
    target: str,
    position: tuple[str, ...],
    checksums: dict[str, str | None],
    applied: list[str],
    graph: RevisionGraph,
) -> Manifest:
    chain = graph.ordered(graph.ancestors(position))
    return Manifest(
        source=source,
        target=target,
        position=position,
        # Only what the ledger vouches for: a revision applied outside the toolkit stays out,
        # and the next stage refuses to apply it until it is recorded.
        checksums={rev: c for rev in chain if (c := checksums.get(rev))},
        applied=tuple(applied),
        git_commit=ledger.git_commit(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        base_revisions=graph.bases,
    )


def default_manifest_path(environment: str) -> Path:
    """Where a stage writes its manifest unless told otherwise: ``manifests/<env>.json``."""
    return Path("manifests") / f"{environment}.json"


def check_writable(path: Path) -> Path:
    """Refuse (exit 2) a ``--manifest-out`` that cannot be written, *before* the promotion
    applies anything: a promotion must not succeed and then fail to leave its evidence."""
    path = check_path(str(path), "--manifest-out")
    try:
        if path.is_dir():
            raise ConfigError(f"--manifest-out {shown(str(path), 200)} is a directory; name a file in it")
        path.parent.mkdir(parents=True, exist_ok=True)
        writable = os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))
    except OSError as error:
        writable, reason = False, f": {error.strerror or error}"
    else:
        reason = ""
    if not writable:
        raise ConfigError(
            f"--manifest-out {shown(str(path), 200)} cannot be written{reason}; choose a path in a "
            "writable folder"
        )
    return path


def write_manifest(manifest: Manifest, path: Path, key: bytes | None) -> Path:
    """Write atomically (a temporary file, then a rename): a reader sees the old manifest or the
    new one, never half of one. Signed with ``key`` when there is one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    document = manifest.as_json()
    if key is not None:
        document = signing.sign(document, key)
    try:
        temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _malformed(path: Path, problem: str) -> ConfigError:
    return ConfigError(
        f"manifest {shown(str(path), 200)} is malformed: {problem}; use the file written by the "
        "previous stage's 'db.promote' (its --manifest-out)"
    )


def _open_regular_file(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file. Opened without blocking first: a
    named pipe would otherwise wait forever for a writer, and a device never ends."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise _malformed(path, "it is not a regular file (a folder, a device or a named pipe)")
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")


def read_manifest(
    path: Path, graph: RevisionGraph, *, key: bytes | None = None, signed_only_for: str | None = None
) -> Manifest:
    """Parse and validate a manifest against this project and its revision history. With
    ``key``, its signature is verified first (exit 3 when it does not verify); an unsigned one
    is refused too when ``signed_only_for`` names the environment it would move."""
    path = check_path(str(path), "--manifest")
    try:
        # Read at most one byte past the limit: a file that grows while being read reports a
        # size that cannot be trusted.
        with _open_regular_file(path) as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
        if len(raw) > MAX_MANIFEST_BYTES:
            raise _malformed(path, "it is larger than any manifest this tool writes")
        data = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"manifest {shown(str(path), 200)} does not exist; download the previous stage's manifest"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _malformed(path, str(error)[:200]) from None
    except RecursionError:
        raise _malformed(path, "it nests deeper than any manifest this tool writes") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise _malformed(path, f"it is not an {KIND}")
    if data.get("format_version") != FORMAT_VERSION:
        raise _malformed(path, f"format_version {data.get('format_version')!r} is not {FORMAT_VERSION}")
    status = signing.check(data, key, shown(str(path), 200))
    if status == "unsigned" and signed_only_for is not None:
        raise signing.refuse_unsigned(shown(str(path), 200), signed_only_for)
    if data.get("project") != PROJECT or tuple(data.get("base_revisions") or ()) != graph.bases:
        raise SafetyRefusal(
            f"manifest {shown(str(path), 200)} belongs to another project or migration history "
            f"(project {shown(str(data.get('project')))}, base {shown(str(data.get('base_revisions')))}); "
            "use a manifest written by this project's deploy workflow"
        )
    try:
        revisions = data["revisions"]
        checksums = {str(item["revision"]): str(item["checksum"]) for item in revisions}
        position = tuple(str(r) for r in data["position"])
        manifest = Manifest(
            source=str(data["source"]),
            target=str(data["target"]),
            position=position,
            checksums=checksums,
            applied=tuple(str(r) for r in data.get("applied", ())),
            git_commit=data.get("git_commit"),
            created_at=str(data["created_at"]),
            base_revisions=graph.bases,
            signature=status,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise _malformed(path, f"missing or invalid field ({error})") from None
    unknown = [rev for rev in (*position, *checksums) if rev not in graph]
    if unknown:
        raise SafetyRefusal(
            f"manifest {shown(str(path), 200)} names revision(s) "
            f"{', '.join(shown(rev) for rev in sorted(set(unknown))[:5])} that this "
            "checkout does not have; deploy the commit the manifest was written from"
        )
    return manifest
