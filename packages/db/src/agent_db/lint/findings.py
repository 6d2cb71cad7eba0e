"""What db.lint found, as data: for people (console output) and scripts (``--json``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Finding:
    """One unsafe statement of one revision, and what to do instead."""

    revision: str
    file: str
    rule: str
    source: str  # "agent-db" (our operation checks) or "squawk"
    message: str
    safe_alternative: str
    statement: str
    line: int | None = None  # line in the revision file, when known
    code: str | None = None  # that line of Python
    also: list[str] = field(default_factory=list)  # squawk rules reporting the same statement
    accepted: bool = False
    accepted_as: str | None = None
    reason: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    @property
    def names(self) -> tuple[str, ...]:
        return (self.rule, *self.also)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RevisionResult:
    revision: str
    file: str
    message: str
    lock_timeout: str
    statement_timeout: str
    findings: list[Finding] = field(default_factory=list)
    unused_accepts: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "file": self.file,
            "message": self.message,
            "lock_timeout": self.lock_timeout,
            "statement_timeout": self.statement_timeout,
            "findings": [f.as_json() for f in self.findings],
            "unused_accepts": self.unused_accepts,
        }


@dataclass
class LintReport:
    environment: str
    scope: str
    scope_note: str
    base: str | None
    revisions: list[RevisionResult] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.revisions for f in r.findings]

    @property
    def unaccepted(self) -> list[Finding]:
        return [f for f in self.findings if not f.accepted]

    @property
    def ok(self) -> bool:
        return not self.unaccepted

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "environment": self.environment,
            "scope": {"mode": self.scope, "note": self.scope_note, "base": self.base},
            "linted": len(self.revisions),
            "unaccepted": len(self.unaccepted),
            "accepted": len(self.findings) - len(self.unaccepted),
            "revisions": [r.as_json() for r in self.revisions],
        }
