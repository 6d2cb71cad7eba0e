"""Findings accepted in the revision file itself, each with a written reason.

A revision accepts a finding with a module-level dictionary from rule name to reason::

    lint_accept = {
        "create-index-blocking": "users has 40 rows in prod; the plain build takes milliseconds",
    }

It lives in the revision because that is what a reviewer reads, and because it travels with the
change it excuses. It is read with ``ast`` (no import), so it must be a literal. A reason shorter
than :data:`MIN_REASON` characters does not count: "ok" or "safe" says nothing a reviewer can
check. Revisions already applied somewhere cannot gain one (their checksums are in the ledgers);
rules that fire on them are decided in the squawk configuration instead.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from agent_db.errors import ConfigError
from agent_db.lint.rules import OUR_RULES
from agent_db.lint.squawk_rules import SQUAWK_RULES

VARIABLE = "lint_accept"
MIN_REASON = 20


@dataclass
class Acceptances:
    """The valid entries of a revision's ``lint_accept``, and what is wrong with the others."""

    reasons: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    line: int | None = None

    def reason_for(self, rules: tuple[str, ...]) -> tuple[str, str] | None:
        """(rule, reason) of the first of ``rules`` accepted here."""
        for rule in rules:
            if rule in self.reasons:
                return rule, self.reasons[rule]
        return None


def is_known(rule: object) -> bool:
    """A rule of db.lint or of squawk: a lint_accept entry naming anything else is a typo that
    would hide nothing."""
    return isinstance(rule, str) and (rule in OUR_RULES or rule in SQUAWK_RULES)


def read_acceptances(path: Path) -> Acceptances:
    """Parse ``lint_accept`` from ``path``; an absent one accepts nothing."""
    try:
        module = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as error:
        raise ConfigError(f"{path} is not valid Python (line {error.lineno}): {error.msg}") from None
    for node in module.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id == VARIABLE and value is not None:
            return _validate(value, node.lineno)
    return Acceptances()


def _validate(value: ast.expr, line: int) -> Acceptances:
    result = Acceptances(line=line)
    try:
        literal = ast.literal_eval(value)
    except ValueError:
        result.problems.append(f"{VARIABLE} must be a literal dict of rule name to reason")
        return result
    if not isinstance(literal, dict):
        result.problems.append(f"{VARIABLE} must be a dict of rule name to reason")
        return result
    for rule, reason in literal.items():
        if not is_known(rule):
            result.problems.append(f"{VARIABLE} names {rule!r}, which is not a rule of db.lint or squawk")
        elif not isinstance(reason, str) or len(reason.strip()) < MIN_REASON:
            result.problems.append(
                f"{VARIABLE}[{rule!r}] does not count: the reason must say why the finding is "
                f"safe here, in at least {MIN_REASON} characters"
            )
        else:
            result.reasons[rule] = reason.strip()
    return result
