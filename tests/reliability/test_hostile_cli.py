"""Hostile flags for every db.* task: refused with one clear message, and nothing changes.

Environment names, revision ids, reasons, messages and file paths that are injection-shaped,
path-traversing, huge, binary (NUL), control characters, exotic Unicode or simply empty. Each
case asserts the exit code of the command contract (2 bad usage, 3 refused), no traceback, a
bounded message, and that the databases of dev, staging and prod are byte-for-byte the same
(revision, ledger rows, tables, columns, constraints, indexes) and no file was written.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from agent_db.revisions.graph import default_graph
from tests.support.cli import Outcome, call_task, run_invoke
from tests.support.inspection import ledger_rows
from tests.support.world import World, refused_without_change

HOSTILE: dict[str, str] = {
    "sql-injection": "'; drop table users; --",
    "path-traversal": "../../../etc/passwd",
    "huge": "x" * 100_000,
    "nul-byte": "staging\x00; drop table users",
    "unicode": "環境-ünïcödé-🚀",
    "right-to-left-override": "\u202egnigats",
    "shell": "$(touch /tmp/pwned)`id`",
    "newline": "head\nbase",
    "format-string": "%s%n{0}${HOME}",
    "empty": "",
    "blank": "   ",
    "superscript-step": "-²",
    "giant-step": "-" + "9" * 5000,
    "escape-sequence": "\x1b[2J\x1b[31mred",
    "rich-markup": "[/][bold red]x[/]",
}

# Tasks and the flag that names an environment.
ENV_TASKS = [
    ("current", "env"),
    ("heads", "env"),
    ("history", "env"),
    ("upgrade", "env"),
    ("downgrade", "env"),
    ("stamp", "env"),
    ("revision", "env"),
    ("check", "env"),
    ("plan", "env"),
    ("verify", "env"),
    ("lint_migrations", "env"),
    ("promote", "to"),
    ("secure_ledger", "env"),
]
REVISION_TASKS = ["upgrade", "downgrade", "stamp", "plan"]
REQUIRED = {
    "downgrade": {"to": "-1"},
    "stamp": {"to": "head"},
    "revision": {"message": "hostile"},
    "secure_ledger": {"migrator": "migrator"},
}


def bad_usage(world: World, task: str, **flags: Any) -> Outcome:
    """Refused as bad usage (exit 2), with nothing changed."""
    outcome = refused_without_change(world, task, **flags)
    assert outcome.code == 2, outcome
    return outcome


@pytest.mark.parametrize(("task", "flag"), ENV_TASKS)
@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_environment_names(environment: World, task: str, flag: str, value: str) -> None:
    outcome = bad_usage(environment, task, **{**REQUIRED.get(task, {}), flag: value})
    assert "unknown environment" in outcome.stderr
    assert "valid environments: dev, staging, prod" in outcome.stderr


@pytest.mark.parametrize("flag", ["migrator", "owner", "url_env"])
@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_secure_ledger_roles_and_variables(environment: World, flag: str, value: str) -> None:
    outcome = bad_usage(
        environment, "secure_ledger", **{"migrator": "migrator", "env": "staging", flag: value}
    )
    assert "role name" in outcome.stderr or "variable name" in outcome.stderr


@pytest.mark.parametrize("task", REVISION_TASKS)
@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_revision_ids(environment: World, task: str, value: str) -> None:
    outcome = bad_usage(environment, task, env="staging", to=value)
    assert "revision" in outcome.stderr or "relative downgrade" in outcome.stderr


def test_markup_in_a_flag_is_printed_as_written(environment: World) -> None:
    """Messages quote the flag; Rich must not read "[/]" in it as markup (a MarkupError
    traceback) nor swallow "[bold]" (a message that lies about what was given)."""
    assert "'[/]'" in bad_usage(environment, "current", env="[/]").stderr
    upgrade = bad_usage(environment, "upgrade", env="staging", to="[bold]x[/bold]")
    assert "'[bold]x[/bold]'" in upgrade.stderr


def test_an_empty_target_is_not_base(environment: World) -> None:
    """``--to "$TARGET"`` with TARGET unset used to mean base: a downgrade of everything."""
    for task in ("downgrade", "stamp", "upgrade", "plan"):
        outcome = bad_usage(environment, task, env="staging", to="")
        assert "the revision is empty" in outcome.stderr
        assert "'base'" in outcome.stderr


@pytest.mark.parametrize(
    "reason",
    ["staging\x00", "x" * 100_000, "line\rfeed", "\x1b[2Jcleared", "bell\x07"],
    ids=["nul", "huge", "carriage-return", "escape", "bell"],
)
@pytest.mark.parametrize("task", ["downgrade", "stamp"])
def test_hostile_reasons_are_refused_before_the_ledger(environment: World, task: str, reason: str) -> None:
    flags = {"to": "-1"} if task == "downgrade" else {"to": "head"}
    outcome = bad_usage(environment, task, env="staging", reason=reason, **flags)
    assert "--reason" in outcome.stderr


def test_injection_shaped_reasons_are_stored_verbatim(environment: World) -> None:
    """Text that only looks dangerous is a legitimate reason: kept exactly, executed never."""
    for reason in ("'; drop table schema_ledger; --", "環境 🚀 ünï", "$(id) `id` %s {0}", "two\nlines"):
        result = call_task(
            "downgrade", env="prod", to="-1", allow_protected=True, reason=f"incident 42: {reason}"
        )
        assert result.code == 0, result
        assert ledger_rows(environment.prod)[-1]["reason"] == f"incident 42: {reason}"
        again = call_task(
            "upgrade",
            env="prod",
            to=default_graph().linear_order()[-2],
            allow_protected=True,
            reason="incident 42: reapply what the test reverted",
        )
        assert again.code == 0, again
    assert call_task("verify", env="prod", drift=False).code == 0  # ledger and files still agree


@pytest.mark.parametrize(
    "message",
    [
        'x"""; import os; os.system("touch /tmp/pwned"); """',
        "ends with a backslash \\",
        "nul\x00byte",
        "new\nline",
        "x" * 5000,
        "",
        "   ",
    ],
    ids=["triple-quote-code-injection", "backslash", "nul", "newline", "huge", "empty", "blank"],
)
def test_revision_messages_that_would_break_the_file_are_refused(environment: World, message: str) -> None:
    outcome = bad_usage(environment, "revision", message=message)
    assert "message" in outcome.stderr


@pytest.mark.parametrize(
    "message", ["'; drop table users; --", "../../../etc/passwd", "環境 ünï 🚀", "$(id) `id`"]
)
def test_revision_messages_that_only_look_hostile_make_a_plain_file(environment: World, message: str) -> None:
    files = set(environment.versions.iterdir())
    outcome = call_task("revision", message=message)
    assert outcome.code == 0, outcome
    (created,) = set(environment.versions.iterdir()) - files
    try:
        assert created.parent == environment.versions  # the slug cannot climb out
        text = created.read_text(encoding="utf-8")
        assert text.startswith(f'"""{message}\n')
        assert compile(text, str(created), "exec")  # valid Python; the message is only a docstring
        assert "import os" not in text
        # The imports the author is about to need survive the post-write hook (it used to
        # remove them from the `pass` body, and the first op.create_index(...) failed lint).
        assert "\nfrom alembic import op\n" in text
        assert "\nimport sqlalchemy as sa\n" in text
    finally:
        created.unlink()


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("flag", ["manifest", "manifest_out"])
def test_hostile_manifest_paths(environment: World, flag: str, value: str) -> None:
    other = {} if flag == "manifest" else {"manifest": str(environment.manifests / "absent.json")}
    outcome = bad_usage(environment, "promote", to="staging", **{flag: value}, **other)
    assert "manifest" in outcome.stderr


def test_unwritable_manifest_out_is_refused_before_anything_is_applied(environment: World) -> None:
    blocker = environment.manifests / "a-file"
    blocker.write_text("not a folder")
    try:
        for out in (blocker / "staging.json", environment.manifests):
            outcome = bad_usage(environment, "promote", to="staging", manifest_out=str(out))
            assert "--manifest-out" in outcome.stderr
    finally:
        blocker.unlink()


def test_real_command_line_exit_codes_without_tracebacks(environment: World) -> None:
    """The same refusals through the real ``invoke`` (a NUL byte cannot cross execve: the
    in-process cases above cover it)."""
    env = {key: os.environ[key] for key in ("DEV_DATABASE_URL", "STAGING_DATABASE_URL", "PROD_DATABASE_URL")}
    env["AGENT_DB_VERSIONS_DIR"] = str(environment.versions)
    before = environment.fingerprints()
    cases = [
        (["db.upgrade", "--env", HOSTILE["sql-injection"]], 2, "unknown environment"),
        (["db.downgrade", "--env", "staging", "--to=" + HOSTILE["giant-step"]], 2, "relative downgrade"),
        (["db.downgrade", "--env", "staging", "--to", ""], 2, "the revision is empty"),
        (
            ["db.promote", "--to", "staging", "--manifest", "../../../nowhere/staging.json"],
            2,
            "does not exist",
        ),
    ]
    for args, code, words in cases:
        result = run_invoke(*args, env=env)
        assert result.code == code, (args, result.stderr)
        assert words in result.stderr
        assert "Traceback" not in result.stderr
    assert environment.fingerprints() == before
