"""What :func:`agent_db.redaction.redact` masks: every kind of secret, whatever the case, also in lines
with non-ASCII text (where the fast literal pre-check is skipped), and nothing else."""

from __future__ import annotations

import pytest

from agent_db.redaction import redact

SECRETS = [
    ("connecting to postgresql://app:hunter2@db/prod", "hunter2"),
    ("Authorization: Bearer abc.DEF-123", "abc.DEF-123"),
    ("authorization: BEARER abc.DEF-123", "abc.DEF-123"),
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl seen", "eyJhbGciOiJIUzI1NiJ9"),
    ("PassWord=hunter2 rejected", "hunter2"),
    ('{"access_token": "s3cr3t-value"}', "s3cr3t-value"),
    ("ApiKey = k-123456", "k-123456"),
    ("pwd:hunter2", "hunter2"),
]


@pytest.mark.parametrize(("line", "secret"), SECRETS)
def test_every_kind_of_secret_is_masked(line: str, secret: str) -> None:
    assert secret not in redact(line)
    assert "***" in redact(line)
    # The same line with non-ASCII text around it takes the full scan: still masked.
    assert secret not in redact(f"é {line} ü")


def test_letters_that_only_match_ignoring_case_in_unicode_are_still_masked() -> None:
    # re's IGNORECASE matches the long s for "s"; lower() would not turn it into "s".
    assert "hunter2" not in redact("pa\u017fsword=hunter2")


@pytest.mark.parametrize(
    "line",
    ["GET /api/v1/users/me 200", '{"route": "/api/v1/agents/{agent_id}", "status": 404}', "café 200"],
)
def test_a_line_without_secrets_is_unchanged(line: str) -> None:
    assert redact(line) == line
