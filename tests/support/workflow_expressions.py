"""The ``${{ }}`` expressions and ``if:`` conditions the project's workflows use, evaluated as
GitHub evaluates them, and nothing more: any other expression is an EmulationError, so a workflow
cannot quietly grow past what the workflow emulator (tests.support.workflow_runner) plays.

Understood: ``secrets.NAME`` and ``vars.NAME`` (an empty string when missing, as on GitHub),
``github.a.b`` and ``github.a || github.b`` (from the run's github context, which must hold them),
``steps.<id>.outputs.<name>`` (an earlier step of the job) and ``needs.<job>.outputs.<name>``
(a job this one needs, and an output it declares). Conditions: ``success()``, ``failure()``,
``always()``, ``!cancelled()`` and ``github.a == 'literal'``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}")
_STORE_VALUE = re.compile(r"(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)")
_GITHUB_VALUE = re.compile(r"github\.[\w.]+(?:\s*\|\|\s*github\.[\w.]+)*")
_OUTPUT = re.compile(r"(needs|steps)\.([A-Za-z_][\w-]*)\.outputs\.([A-Za-z_][\w-]*)")
_EQUALS = re.compile(r"github\.([\w.]+)\s*==\s*'([^']*)'")


class EmulationError(Exception):
    """The workflow uses something this runner does not emulate: extend it, or simplify the YAML."""


@dataclass
class Contexts:
    """What an expression may read where it is evaluated (a step, a job's outputs)."""

    secrets: Mapping[str, str] = field(default_factory=dict)  # the job's environment's, then the repository's
    variables: Mapping[str, str] = field(default_factory=dict)
    github: Mapping[str, str] = field(default_factory=dict)  # "event.before" -> sha
    needs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # direct needs -> declared outputs
    steps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # earlier steps' ids -> outputs


def expand(value: object, contexts: Contexts) -> str:
    """``value`` with each ``${{ ... }}`` replaced by its value (YAML's booleans as GitHub
    passes them: ``true``, ``false``)."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    expanded = _EXPRESSION.sub(lambda match: _value(match.group(1).strip(), contexts, text), text)
    if "${{" in expanded:
        raise EmulationError(f"unsupported expression in {text!r}")
    return expanded


def _value(expression: str, contexts: Contexts, text: str) -> str:
    if match := _STORE_VALUE.fullmatch(expression):
        store = contexts.secrets if match.group(1) == "secrets" else contexts.variables
        return store.get(match.group(2), "")  # GitHub gives "" for a missing secret or variable
    if _GITHUB_VALUE.fullmatch(expression):
        paths = [path.strip().removeprefix("github.") for path in expression.split("||")]
        if any(path not in contexts.github for path in paths):
            raise EmulationError(f"unsupported expression in {text!r} (give the run its github context)")
        return next((contexts.github[path] for path in paths if contexts.github[path]), "")
    if match := _OUTPUT.fullmatch(expression):
        kind, name, output = match.groups()
        if kind == "needs":
            if name not in contexts.needs:
                raise EmulationError(f"{text!r}: {name} is not a job this job needs (needs: lists it)")
            if output not in contexts.needs[name]:
                raise EmulationError(f"{text!r}: job {name} declares no output {output!r}")
            return contexts.needs[name][output]
        if name not in contexts.steps:
            raise EmulationError(f"{text!r}: no earlier step of this job has id {name!r}")
        return contexts.steps[name].get(output, "")  # a step that did not set it: "", as on GitHub
    raise EmulationError(f"unsupported expression in {text!r}")


def _bare(condition: object) -> str:
    text = str(condition).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2].strip()
    return text


def step_condition(condition: object, failed: bool) -> bool:
    """Whether a step runs, after an earlier step of its job failed (``failed``) or not."""
    text = _bare(condition)
    known = {"success()": not failed, "failure()": failed, "always()": True, "!cancelled()": True}
    if text not in known:
        raise EmulationError(f"unsupported step condition {text!r}")
    return known[text]


def job_condition(condition: object, needs_succeeded: bool, github: Mapping[str, str]) -> bool:
    """Whether a job runs: ``always()`` whatever its needs did; ``success()`` (the default) and
    ``github.a == 'literal'`` only when every job it needs succeeded."""
    text = _bare(condition)
    if text == "always()":
        return True
    if text == "success()":
        return needs_succeeded
    if match := _EQUALS.fullmatch(text):
        if match.group(1) not in github:
            raise EmulationError(
                f"job condition {text!r}: give the run its github context ({match.group(1)})"
            )
        return needs_succeeded and github[match.group(1)] == match.group(2)
    raise EmulationError(f"unsupported job condition {text!r}")
