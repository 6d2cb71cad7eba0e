"""The actions the project's workflows use, played the way GitHub plays them, as far as the
workflows need: checkout and the uv setup are no-ops (the job runs this checkout's tasks with the
test's locked environment), artifacts live in the run's store and outlive job attempts, as on
GitHub, so a second upload of one name fails unless the step says ``overwrite: true``. The docker
actions are tests.support.workflow_docker's.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from tests.support import workflow_docker
from tests.support.paths import ROOT
from tests.support.workflow_results import ActionError, ActionOutcome

# Local actions (``uses: ./path``) the runner accepts; each must exist in the checkout.
LOCAL_ACTIONS = frozenset({"./.github/actions/setup-uv"})
NO_OP_ACTIONS = frozenset({"actions/checkout"})


__all__ = ["ActionError", "ActionOutcome", "play"]


def play(
    action: str,
    inputs: Mapping[str, str],
    *,
    step: str,
    workspace: Path,
    artifacts: Path,
    logins: frozenset[str] = frozenset(),
) -> ActionOutcome:
    """Run one ``uses:`` step (``logins``: the registries earlier steps of the job logged in to)."""
    if action in LOCAL_ACTIONS:
        if not (ROOT / action / "action.yml").is_file():
            return ActionOutcome(False, f"Can't find 'action.yml' under {ROOT / action}")
        return ActionOutcome(True)
    if action in NO_OP_ACTIONS:
        return ActionOutcome(True)
    if action == "actions/upload-artifact":
        return ActionOutcome(*upload(inputs, workspace, artifacts))
    if action == "actions/download-artifact":
        return ActionOutcome(*download(inputs, workspace, artifacts))
    if action == "docker/login-action":
        return workflow_docker.login(inputs)
    if action == "docker/setup-buildx-action":
        return workflow_docker.setup_buildx(inputs)
    if action == "docker/build-push-action":
        return workflow_docker.build_push(step, inputs, logins)
    raise ActionError(f"action {action} is not emulated")


def upload(inputs: Mapping[str, str], workspace: Path, artifacts: Path) -> tuple[bool, str]:
    source = workspace / inputs["path"]
    store = artifacts / inputs["name"]
    overwrite = str(inputs.get("overwrite", "false")).lower() == "true"
    if store.exists() and not overwrite:
        # What upload-artifact v4+ answers when a run (any attempt) already has the name.
        return False, f"Failed to CreateArtifact: an artifact with this name already exists: {inputs['name']}"
    if not source.is_file():
        missing = inputs.get("if-no-files-found", "warn") == "error"
        return not missing, f"no file {source}"
    if store.exists():
        shutil.rmtree(store)
    store.mkdir(parents=True)
    shutil.copy2(source, store / source.name)
    return True, ""


def download(inputs: Mapping[str, str], workspace: Path, artifacts: Path) -> tuple[bool, str]:
    store = artifacts / inputs["name"]
    if not store.is_dir():
        return False, f"artifact {inputs['name']} not found"
    destination = workspace / inputs.get("path", ".")
    destination.mkdir(parents=True, exist_ok=True)
    for item in store.iterdir():
        shutil.copy2(item, destination / item.name)
    return True, ""
