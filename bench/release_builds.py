"""Releases N and N+1 of the release benchmark: two real builds of the code, as git worktrees.

A scratch clone of this checkout (``git clone --shared``, in a temporary folder) gets two
worktrees:

- **N** is the checkout's ``HEAD`` (or ``--release REF``), unchanged (uncommitted changes are in
  neither build).
- **N+1** is a commit on the temporary branch ``bench/release-n1`` on top of N that moves the
  account's superuser flag to a ``role`` column, the classic expand/contract change:

  1. an expand revision (``ROLE_EXPAND``): ``users.role`` (nullable, so adding it is instant), a
     trigger that keeps ``role`` and ``is_superuser`` in step for whichever release writes
     (N writes ``is_superuser``, N+1 writes ``role``), and ``safe.backfill_in_batches`` filling
     ``role`` for every existing row;
  2. the model reads and writes ``role``; ``is_superuser`` becomes a Python property over it
     (the API's JSON does not change), and the operator command that grants superusers sets
     ``role``. N+1's code never reads or writes the ``is_superuser`` column;
  3. a contract revision (``ROLE_CONTRACT``) that drops the trigger and ``users.is_superuser``,
     the column every authenticated request of N reads (its ORM loads the whole user row).

Each build runs from its own folder: the API and the toolkit are imported from the worktree
(``PYTHONPATH`` ahead of the editable installs), with the dependencies of this environment (the
same lock file). Nothing is installed and nothing outside the temporary folder changes.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT
from tests.support.revisions import write_revision

ROLE_EXPAND = "b7e1ea5e0001"
ROLE_CONTRACT = "b7e1ea5e0002"
BRANCH = "bench/release-n1"

SYNC_FUNCTION = '''
op.execute(
    """
    CREATE OR REPLACE FUNCTION users_sync_role() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.role IS DISTINCT FROM OLD.role
                AND NEW.is_superuser IS NOT DISTINCT FROM OLD.is_superuser THEN
            NEW.is_superuser := (NEW.role = 'admin');  -- written by N+1 (or the backfill)
        ELSIF TG_OP = 'INSERT' AND NEW.role IS NOT NULL THEN
            NEW.is_superuser := (NEW.role = 'admin');  -- inserted by N+1
        ELSE
            NEW.role := CASE WHEN NEW.is_superuser THEN 'admin' ELSE 'member' END;  -- by N
        END IF;
        RETURN NEW;
    END $$
    """
)
op.execute(
    "CREATE OR REPLACE TRIGGER users_sync_role BEFORE INSERT OR UPDATE ON users "
    "FOR EACH ROW EXECUTE FUNCTION users_sync_role()"
)
'''
DROP_SYNC = """
op.execute("DROP TRIGGER IF EXISTS users_sync_role ON users")
op.execute("DROP FUNCTION IF EXISTS users_sync_role()")
"""


def expand_upgrade(batch_size: int, pause_seconds: float) -> str:
    # Every statement is idempotent, so a run interrupted in the backfill resumes.
    return (
        'op.execute("ALTER TABLE users ADD COLUMN IF NOT EXISTS role varchar(16)")\n'
        + SYNC_FUNCTION
        + "safe.backfill_in_batches(\n"
        '    "users",\n'
        "    set_clause=\"role = CASE WHEN is_superuser THEN 'admin' ELSE 'member' END\",\n"
        '    pending="role IS NULL",\n'
        f"    batch_size={int(batch_size)},\n"
        f"    pause_seconds={float(pause_seconds)!r},\n"
        ")\n"
    )


EXPAND_DOWNGRADE = DROP_SYNC + 'op.drop_column("users", "role")\n'
CONTRACT_UPGRADE = DROP_SYNC + 'op.drop_column("users", "is_superuser")\n'
CONTRACT_DOWNGRADE = (
    'op.add_column("users", sa.Column("is_superuser", sa.Boolean(), server_default=sa.false(), '
    "nullable=False))\n"
    "op.execute(\"UPDATE users SET is_superuser = (role = 'admin')\")\n" + SYNC_FUNCTION
)

MODEL_BEFORE = (
    "    is_superuser: Mapped[bool] = mapped_column(Boolean, server_default=false(), nullable=False)\n"
)
MODEL_AFTER = """\
    # Release N+1 (bench.release): the role replaces the is_superuser column.
    role: Mapped[str | None] = mapped_column(String(16), nullable=True, default="member")

    @property
    def is_superuser(self) -> bool:
        return self.role == "admin"

    @is_superuser.setter
    def is_superuser(self, value: bool) -> None:
        self.role = "admin" if value else "member"
"""
GRANT_BEFORE = "UPDATE users SET is_superuser = true WHERE"
GRANT_AFTER = "UPDATE users SET role = 'admin' WHERE"


@dataclass(frozen=True)
class Build:
    name: str
    folder: Path
    commit: str

    @property
    def short(self) -> str:
        return self.commit[:10]

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` with this build's code first on the import path."""
        env = {key: value for key, value in base.items() if key != "AGENT_DB_VERSIONS_DIR"}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(self.folder / "services/api/src"), str(self.folder / "packages/db/src")]
        )
        env["AGENT_BUILD_COMMIT"] = self.commit  # the census's build (images set it the same way)
        return env


@dataclass(frozen=True)
class Builds:
    old: Build
    new: Build
    dirty: bool  # the checkout had uncommitted changes (in neither build)
    diffstat: str


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout.strip()


def replace_once(path: Path, before: str, after: str) -> None:
    text = path.read_text()
    if text.count(before) != 1:
        raise RuntimeError(
            f"cannot build release N+1: {path.name} no longer holds the line the benchmark "
            f"changes ({before.strip()!r}); update bench/release_builds.py to follow it"
        )
    path.write_text(text.replace(before, after))


def make(
    folder: Path, *, release: str = "HEAD", batch_size: int = 1000, pause_seconds: float = 0.05
) -> Builds:
    """The scratch clone in ``folder`` and both worktrees; N is ``release`` (a commit of this
    repository, default HEAD)."""
    head = git("rev-parse", "--verify", f"{release}^{{commit}}", cwd=ROOT)
    dirty = release == "HEAD" and bool(git("status", "--porcelain", "--untracked-files=no", cwd=ROOT))
    clone = folder / "clone"
    git("clone", "--quiet", "--shared", "--no-checkout", str(ROOT), str(clone), cwd=folder)
    old = folder / "release-n"
    new = folder / "release-n1"
    git("worktree", "add", "--quiet", "--detach", str(old), head, cwd=clone)
    git("worktree", "add", "--quiet", "-b", BRANCH, str(new), head, cwd=clone)

    package = new / "packages/db/src/agent_db"
    versions = package / "migrations/versions"
    parent = _head_revision(versions)
    write_revision(
        versions,
        ROLE_EXPAND,
        parent,
        expand_upgrade(batch_size, pause_seconds),
        EXPAND_DOWNGRADE,
        message="add users role backfilled",
        header='phase = "expand"\n',
    )
    write_revision(
        versions,
        ROLE_CONTRACT,
        ROLE_EXPAND,
        CONTRACT_UPGRADE,
        CONTRACT_DOWNGRADE,
        message="drop users is_superuser",
        header='phase = "contract"\n',
    )
    replace_once(package / "models/user.py", MODEL_BEFORE, MODEL_AFTER)
    replace_once(package / "commands/accounts.py", GRANT_BEFORE, GRANT_AFTER)
    git("add", "-A", cwd=new)
    identity = ["-c", "user.name=bench.release", "-c", "user.email=bench-release@localhost"]
    git(
        *identity,
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        "Release N+1: users.role replaces is_superuser",
        cwd=new,
    )
    diffstat = git("diff", "--stat", head, "HEAD", cwd=new)
    return Builds(
        old=Build("N", old, head),
        new=Build("N+1", new, git("rev-parse", "HEAD", cwd=new)),
        dirty=dirty,
        diffstat=diffstat,
    )


def _head_revision(versions: Path) -> str:
    from agent_db.revisions.graph import RevisionGraph

    return RevisionGraph.load(versions).single_head()
