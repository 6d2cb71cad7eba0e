"""``test``, ``chaos``, ``audit`` and ``lint``: the checks people and CI run."""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

from tasks._shared import ROOT, reports_errors, run_or_exit
from tasks.db import lint_migrations


@task(
    help={
        "embedded": "ignore TEST_DATABASE_URL and run against the embedded PostgreSQL",
        "k": "only tests matching this expression (pytest -k)",
        "marker": "only tests with this marker (pytest -m)",
        "args": "extra pytest arguments",
        "workers": "parallel pytest workers (default: one per CPU; 0 runs in one process)",
    }
)
@reports_errors
def test(
    c: Context, embedded: bool = False, k: str = "", marker: str = "", args: str = "", workers: int = -1
) -> None:
    """Run the test suite against real PostgreSQL (TEST_DATABASE_URL, else embedded)."""
    env = dict(os.environ)
    if embedded:
        env.pop("TEST_DATABASE_URL", None)
    command = [sys.executable, "-m", "pytest"]
    if workers != 0:
        command += ["-n", "auto" if workers < 0 else str(workers)]
    if k:
        command += ["-k", k]
    if marker:
        command += ["-m", marker]
    run_or_exit(c, [*command, *shlex.split(args)], env=env)


@task(
    help={
        "k": "only scenarios matching this expression (pytest -k)",
        "args": "extra pytest arguments",
    }
)
@reports_errors
def chaos(c: Context, k: str = "", args: str = "") -> None:
    """Slow fault and concurrency scenarios (tests marked chaos), each ending in PASS or FAIL."""
    command = [sys.executable, "-m", "pytest", "tests/chaos", "-m", "chaos", "-q", "-p", "no:xdist"]
    if k:
        command += ["-k", k]
    run_or_exit(c, [*command, *shlex.split(args)])


@task(help={"args": "extra pip-audit arguments (e.g. --vulnerability-service osv)"})
@reports_errors
def audit(c: Context, args: str = "") -> None:
    """Known vulnerabilities in the locked dependencies (pip-audit; needs network)."""
    with tempfile.TemporaryDirectory() as folder:
        requirements = Path(folder) / "requirements.txt"
        # Exactly what uv.lock pins (all groups), with hashes; the workspace's own packages
        # are not on PyPI and are left out.
        c.run(
            f"uv export --frozen --all-groups --no-emit-workspace --format requirements-txt "
            f"--output-file {shlex.quote(str(requirements))} --quiet",
            pty=False,
        )
        command = [sys.executable, "-m", "pip_audit", "--requirement", str(requirements)]
        # --strict: a dependency that could not be checked is a failure, not a silent pass.
        command += ["--require-hashes", "--disable-pip", "--strict", "--progress-spinner", "off"]
        run_or_exit(c, [*command, *shlex.split(args)])


@task
@reports_errors
def lint(c: Context) -> None:
    """ruff, format check, mypy, migration lint, workflow lint."""
    c.run("ruff check .", echo=True)
    c.run("ruff format --check .", echo=True)
    c.run("mypy packages/db/src services/api/src tasks tests bench", echo=True)
    print("db.lint", flush=True)
    lint_migrations(c)
    lint_workflows(c)


def lint_workflows(c: Context) -> None:
    """zizmor (offline unless GH_TOKEN is set), the workflow schema, the Dockerfile."""
    workflows = sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".github" / "workflows").glob("*.y*ml"))
    online = bool(os.environ.get("GH_TOKEN"))  # online audits: impostor commits, vulnerable actions
    c.run(f"zizmor {'' if online else '--offline '}.github/", echo=True)
    c.run("check-jsonschema --builtin-schema vendor.github-workflows " + shlex.join(workflows), echo=True)
    c.run("check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml", echo=True)
    c.run("hadolint Dockerfile", echo=True)
