"""The docker actions of deploy.yml's image job, played by the workflow emulator without docker:
the login and the buildx setup check their inputs and do nothing else; a build-and-push checks
what docker would refuse before building (the Dockerfile, its target stage, each build-arg an
ARG of that stage's lineage, tags that are valid lowercase references, a login to their
registry when pushing), records the build, and answers a digest computed from its inputs (the
same inputs, the same digest), so what the jobs downstream receive can be checked.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path

from tests.support import dockerfile
from tests.support.paths import ROOT
from tests.support.workflow_results import ActionError, ActionOutcome, Build

LOGIN_INPUTS = frozenset({"registry", "username", "password"})
BUILD_INPUTS = frozenset({"context", "file", "target", "push", "tags", "build-args"})
# A reference as docker reads it: a registry host, lowercase path components, a tag.
_REFERENCE = re.compile(
    r"(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]+)?)/"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r":(?P<tag>[\w][\w.-]{0,127})"
)


def _only(action: str, inputs: Mapping[str, str], known: frozenset[str]) -> None:
    unknown = sorted(set(inputs) - known)
    if unknown:
        raise ActionError(f"input {', '.join(unknown)} of {action} is not emulated")


def login(inputs: Mapping[str, str]) -> ActionOutcome:
    _only("docker/login-action", inputs, LOGIN_INPUTS)
    if not inputs.get("registry"):
        raise ActionError("docker/login-action without a registry (Docker Hub) is not emulated")
    if not inputs.get("username") or not inputs.get("password"):
        return ActionOutcome(False, "Error: Username and password required")
    return ActionOutcome(True, f"Login Succeeded ({inputs['registry']})", login=inputs["registry"])


def setup_buildx(inputs: Mapping[str, str]) -> ActionOutcome:
    _only("docker/setup-buildx-action", inputs, frozenset())
    return ActionOutcome(True)


def _items(text: str, separators: str) -> list[str]:
    return [item.strip() for item in re.split(f"[{separators}]", text) if item.strip()]


def build_push(step: str, inputs: Mapping[str, str], logins: frozenset[str]) -> ActionOutcome:
    _only("docker/build-push-action", inputs, BUILD_INPUTS)
    context = inputs.get("context", ".")
    if "://" in context or context.startswith("git@"):
        raise ActionError(
            "docker/build-push-action with a Git context is not emulated: check out, use a path"
        )
    path = ROOT / context / inputs.get("file", "Dockerfile")
    if not path.resolve().is_relative_to(ROOT) or not path.is_file():
        return ActionOutcome(
            False, f"ERROR: failed to read dockerfile: open {path}: no such file or directory"
        )
    problem = _problem(inputs, path, logins)
    if problem:
        return ActionOutcome(False, f"ERROR: {problem}")
    build = Build(
        step=step,
        context=context,
        file=str(path.relative_to(ROOT)),
        target=inputs["target"],
        tags=tuple(_items(inputs["tags"], ",\n")),
        push=inputs["push"] == "true",
        build_args=dict(item.split("=", 1) for item in _items(inputs.get("build-args", ""), "\n")),
    )
    digest = "sha256:" + hashlib.sha256(json.dumps(asdict(build), sort_keys=True).encode()).hexdigest()
    build = replace(build, digest=digest)
    return ActionOutcome(
        True, f"pushed {', '.join(build.tags)}" if build.push else "", {"digest": digest}, build
    )


def _problem(inputs: Mapping[str, str], path: Path, logins: frozenset[str]) -> str | None:
    """What docker (or the emulator, stricter: a target, push and tags stated) would refuse."""
    target = inputs.get("target", "")
    if not target:
        return "no target: name the Dockerfile stage to build (`target:`)"
    by_name = {stage.name: stage for stage in dockerfile.stages(path)}
    if target not in by_name:
        return f'failed to solve: target stage "{target}" could not be found (stages: {", ".join(by_name)})'
    if inputs.get("push") not in ("true", "false"):
        return f"push must be true or false, not {inputs.get('push')!r}"
    tags = _items(inputs.get("tags", ""), ",\n")
    if not tags:
        return "no tags: `tags:` names the image (required)"
    declared = {value.split("=", 1)[0] for s in dockerfile.lineage(target, path) for value in s.values("ARG")}
    for item in _items(inputs.get("build-args", ""), "\n"):
        key, equals, _ = item.partition("=")
        if not equals:
            return f"build-arg {item!r} is not KEY=VALUE"
        if key not in declared:
            return f"build-arg {key} is not an ARG of {target} or its bases (docker would ignore it)"
    for tag in tags:
        match = _REFERENCE.fullmatch(tag)
        if match is None:
            why = ": repository name must be lowercase" if tag != tag.lower() else " (want host/path:tag)"
            return f'invalid tag "{tag}": invalid reference format{why}'
        if inputs["push"] == "true" and match["host"] not in logins:
            return f"denied: {match['host']}: unauthenticated (no docker/login-action step for it earlier)"
    return None
