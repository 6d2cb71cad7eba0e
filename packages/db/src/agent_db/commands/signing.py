"""Manifest signatures: HMAC-SHA256 over a canonical JSON form of the manifest.

The key comes from ``AGENT_DB_MANIFEST_KEY``, a secret only the deploy jobs hold (a GitHub
environment secret of staging and production). The stage that writes a manifest signs it; the
stage that reads it verifies the signature before it trusts a word of it. Whoever can write a
file but does not hold the key (an edited artifact, a manifest made by hand) cannot produce a
signature that verifies, so the reading stage refuses it (exit 3) and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from typing import Any, Literal

from agent_db.errors import ConfigError, SafetyRefusal

KEY_VARIABLE = "AGENT_DB_MANIFEST_KEY"
MIN_KEY_CHARS = 32
ALGORITHM = "hmac-sha256"
FIELD = "signature"
GENERATE = "python -c 'import secrets;print(secrets.token_hex(32))'"
SETUP = "docs/pipeline.md#signed-manifests"

# "verified": signed with this key; "unsigned": no signature (the caller decides whether that is
# acceptable); "unchecked": no key here, so nothing could be verified.
SignatureStatus = Literal["verified", "unsigned", "unchecked"]


def manifest_key() -> bytes | None:
    """The signing key, or None when ``AGENT_DB_MANIFEST_KEY`` is unset or empty (GitHub gives
    an empty string for a secret that is not set). A weak or mangled key is refused (exit 2)."""
    value = os.environ.get(KEY_VARIABLE, "")
    if not value:
        return None
    if value != value.strip():
        raise ConfigError(
            f"{KEY_VARIABLE} starts or ends with whitespace (a pasted newline?); set it again "
            "without, to the same value in every deploy environment"
        )
    if len(value) < MIN_KEY_CHARS:
        raise ConfigError(
            f"{KEY_VARIABLE} is {len(value)} characters long, too short to sign manifests (at "
            f"least {MIN_KEY_CHARS}); generate one with {GENERATE} and set it in every deploy "
            f"environment ({SETUP})"
        )
    return value.encode("utf-8")


def key_id(key: bytes) -> str:
    """A short fingerprint of the key, written next to the signature: it tells "signed with
    another key" from "edited after signing" and reveals nothing usable about the key."""
    return hashlib.sha256(b"agent-db-manifest-key-id\x00" + key).hexdigest()[:16]


def canonical(document: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: the document without its signature, keys sorted, no
    whitespace, ASCII only. Parsing a manifest and serialising it again gives the same bytes."""
    body = {k: v for k, v in document.items() if k != FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode(
        "ascii"
    )


def _mac(key: bytes, document: Mapping[str, Any]) -> str:
    return hmac.new(key, canonical(document), hashlib.sha256).hexdigest()


def sign(document: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """``document`` with its signature (any earlier one replaced)."""
    body = {k: v for k, v in document.items() if k != FIELD}
    return {**body, FIELD: {"algorithm": ALGORITHM, "key_id": key_id(key), "value": _mac(key, body)}}


def check(document: Mapping[str, Any], key: bytes | None, name: str) -> SignatureStatus:
    """Verify ``document``'s signature with ``key``; a signature that does not verify is refused
    (exit 3). ``name`` is how the message shows the file."""
    signature = document.get(FIELD)
    if key is None:
        return "unchecked"
    if signature is None:
        return "unsigned"
    if not isinstance(signature, Mapping) or not isinstance(signature.get("value"), str):
        raise _refused(name, "its signature field is not one this tool writes", _rewrite(name))
    if signature.get("algorithm") != ALGORITHM:
        raise _refused(
            name,
            f"it is signed with {str(signature.get('algorithm'))[:40]!r}, not {ALGORITHM}",
            _rewrite(name),
        )
    if hmac.compare_digest(signature["value"], _mac(key, document)):
        return "verified"
    if signature.get("key_id") != key_id(key):
        raise _refused(
            name,
            f"it was signed with another key (key id {str(signature.get('key_id'))[:16]!r}, this "
            f"job's {KEY_VARIABLE} has {key_id(key)!r})",
            f"set the same {KEY_VARIABLE} in every deploy environment ({SETUP}), then re-run the "
            "job that wrote the manifest",
        )
    raise _refused(name, "its content was changed after it was signed", _rewrite(name))


def refuse_unsigned(name: str, target: str) -> SafetyRefusal:
    return _refused(
        name,
        f"it is not signed, and {KEY_VARIABLE} is set: {target} accepts only signed manifests",
        f"use the manifest the previous stage's deploy job uploaded; a job that writes one "
        f"without {KEY_VARIABLE} writes it unsigned, so give that job the key ({SETUP}) and re-run it",
    )


def _rewrite(name: str) -> str:
    return (
        f"use the manifest exactly as the previous stage's deploy job uploaded it, or re-run that "
        f"job to write a new one (do not edit {name})"
    )


def _refused(name: str, problem: str, fix: str) -> SafetyRefusal:
    return SafetyRefusal(
        f"promotion refused, nothing changed: manifest {name} cannot be trusted: {problem}; {fix}"
    )
