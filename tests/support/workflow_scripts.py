"""A workflow's `run:` script played by the workflow emulator: in `bash -eo pipefail`, with
`uv run invoke` running this checkout's tasks, and the `$GITHUB_OUTPUT` it writes read back as
the step's outputs."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tests.support.workflow_expressions import EmulationError
from tests.support.workflow_results import StepResult

# `uv` inside an emulated step: `uv run invoke` runs this checkout's tasks with the test's
# interpreter (whose environment is the locked one); `uv sync --locked` has nothing left to do.
UV_SHIM = """\
uv() {
  if [ "$1" = run ] && [ "$2" = invoke ]; then
    shift 2
    "$EMULATOR_PYTHON" -m invoke --search-root "$EMULATOR_CHECKOUT" "$@"
  elif [ "$*" = "sync --locked" ]; then
    :
  else
    echo "workflow emulator: unsupported command: uv $*" >&2
    return 2
  fi
}
"""


def run_script(
    job_id: str, name: str, script: str, workspace: Path, env: dict[str, str], timeout: float
) -> StepResult:
    with tempfile.NamedTemporaryFile("w", suffix=".sh", dir=workspace.parent, delete=False) as file:
        file.write(UV_SHIM + script + "\n")
    with tempfile.NamedTemporaryFile("w", suffix=".out", dir=workspace.parent, delete=False) as output:
        env = {**env, "GITHUB_OUTPUT": output.name}
    try:
        completed = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", file.name],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        written = Path(output.name).read_text()
    finally:
        Path(file.name).unlink()
        Path(output.name).unlink()
    outcome = "success" if completed.returncode == 0 else "failure"
    return StepResult(
        job_id, name, outcome, completed.returncode, completed.stdout, completed.stderr, outputs(written)
    )


def outputs(written: str) -> dict[str, str]:
    """A step's ``$GITHUB_OUTPUT`` lines (``name=value``; the multi-line form is not emulated)."""
    found: dict[str, str] = {}
    for line in written.splitlines():
        name, equals, value = line.partition("=")
        if not equals or "<<" in name or not name.strip():
            raise EmulationError(f"unsupported $GITHUB_OUTPUT line {line!r} (write name=value)")
        found[name] = value
    return found
