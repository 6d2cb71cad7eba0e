"""What a run of the workflow emulator (tests.support.workflow_runner) leaves: each job's steps
with their outcome and output, the job's declared outputs, and the images its steps built."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Build:
    """One docker/build-push-action step, as the emulator checked it (it builds nothing)."""

    step: str
    context: str
    file: str
    target: str
    tags: tuple[str, ...]
    push: bool
    build_args: dict[str, str]
    digest: str = ""  # sha256 of the rest: the same inputs give the same digest


@dataclass
class StepResult:
    job: str
    name: str
    outcome: str  # success, failure, skipped
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class JobResult:
    job: str
    outcome: str  # success, failure, skipped
    steps: list[StepResult] = field(default_factory=list)
    summary: str = ""
    outputs: dict[str, str] = field(default_factory=dict)  # the job's `outputs:`, evaluated
    builds: list[Build] = field(default_factory=list)

    def step(self, fragment: str) -> StepResult:
        """The step whose name contains ``fragment``."""
        found = [s for s in self.steps if fragment in s.name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} steps of {self.job} match {fragment!r}")
        return found[0]

    @property
    def output(self) -> str:
        return "\n".join(s.stdout + s.stderr for s in self.steps)


@dataclass(frozen=True)
class ActionOutcome:
    """What one emulated ``uses:`` step did."""

    succeeded: bool
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    build: Build | None = None
    login: str | None = None  # the registry it logged in to


class ActionError(Exception):
    """An action, or an input of one, the runner does not emulate."""
