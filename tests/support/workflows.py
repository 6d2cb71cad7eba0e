"""The GitHub workflows as data: the files, their jobs and steps, and the `uv run invoke ...`
calls they make.

The deploy workflow is one of the project's users: what it runs must be what the tests run.
``tests.support.workflow_runner`` plays the jobs on this machine the way a GitHub runner would.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from tests.support.paths import ROOT

WORKFLOWS_DIR = ROOT / ".github" / "workflows"
SHELL_OPERATORS = frozenset({">>", ">", "<", "|", "||", "&&", ";", "&", "2>&1"})


def load_workflow(name: str) -> dict[str, Any]:
    """A workflow file as data (YAML 1.1 reads the `on:` key as True; put it back)."""
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS_DIR / name).read_text(encoding="utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    return data


def workflow_names() -> list[str]:
    return sorted(p.name for p in WORKFLOWS_DIR.glob("*.y*ml"))


@dataclass(frozen=True)
class InvokeCall:
    """One `uv run invoke ...` line of a workflow: the arguments after `invoke`."""

    workflow: str
    job: str
    step: str
    argv: tuple[str, ...]

    @property
    def task(self) -> str:
        return self.argv[0]

    def __str__(self) -> str:
        return f"{self.workflow} / {self.job} / {self.step}: invoke {shlex.join(self.argv)}"


def steps(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def step_name(step: Mapping[str, Any], index: int) -> str:
    return str(step.get("name") or step.get("uses") or step.get("run") or f"step {index}")


def script_lines(script: str) -> Iterator[list[str]]:
    """Each non-empty line of a `run:` script as shell words."""
    for line in script.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            yield words


def invoke_argv(words: list[str]) -> tuple[str, ...] | None:
    """The arguments after `uv run invoke`, up to the first shell operator; None for other lines."""
    if words[:3] != ["uv", "run", "invoke"]:
        return None
    argv: list[str] = []
    for word in words[3:]:
        if word in SHELL_OPERATORS:
            break
        argv.append(word)
    return tuple(argv)


def invoke_calls(name: str, workflow: Mapping[str, Any] | None = None) -> list[InvokeCall]:
    workflow = workflow or load_workflow(name)
    calls = []
    for job_id, job in workflow["jobs"].items():
        for index, step in enumerate(steps(job)):
            for words in script_lines(str(step.get("run") or "")):
                argv = invoke_argv(words)
                if argv is not None:
                    calls.append(InvokeCall(name, job_id, step_name(step, index), argv))
    return calls


def needs(job: Mapping[str, Any]) -> list[str]:
    value = job.get("needs") or []
    return [value] if isinstance(value, str) else list(value)


def job_order(workflow: Mapping[str, Any]) -> list[str]:
    """Jobs in an order that respects `needs:` (GitHub refuses cycles, and so does this)."""
    jobs: dict[str, Any] = workflow["jobs"]
    ordered: list[str] = []

    def visit(job_id: str, path: tuple[str, ...] = ()) -> None:
        if job_id in ordered:
            return
        if job_id in path:
            raise ValueError(f"needs: cycle through {job_id}")
        for dependency in needs(jobs[job_id]):
            visit(dependency, (*path, job_id))
        ordered.append(job_id)

    for job_id in jobs:
        visit(job_id)
    return ordered


def environment_name(job: Mapping[str, Any]) -> str | None:
    """The GitHub environment a job runs in (`environment: name` or `environment: {name: ...}`)."""
    value = job.get("environment")
    if isinstance(value, Mapping):
        return str(value["name"])
    return str(value) if value else None


# --------------------------------------------------------------------------- the runner
