"""What no log line may hold: :func:`redact` masks the password of a URL, a bearer token, a JWT
and a ``password=...`` (or ``token: ...``, ``api_key=...``) pair in any text, whoever logged it.
"""

from __future__ import annotations

import re

# What must never be written: the password of a URL, bearer tokens, JWTs, key=value secrets.
# Greedy to the last "@": a password with a raw "@" in it is masked whole.
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s\"']*:)[^\s\"']*@")
_BEARER = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_SECRET_PAIR = re.compile(
    r"(?i)(\b(?:password|passwd|pwd|secret|token|access_token|api_key|apikey)\b\\?[\"']?\s*[:=]\s*\\?[\"']?)"
    r"[^\s\"'&,;}\\]+"
)
MASK = "***"


# Each pattern needs one of these literals; a line without them is not scanned by it (the four
# scans were ~40 % of formatting an access line). Only for ASCII text: ignoring case, ``re`` also
# matches a few non-ASCII letters (the long s for ``s``, the Kelvin sign for ``k``) that ``lower()`` keeps.


def _may_hold_a_secret_word(lowered: str) -> bool:
    # Spelled out rather than any() over a tuple: this runs for every line the API writes.
    return (
        "pass" in lowered
        or "pwd" in lowered
        or "secret" in lowered
        or "token" in lowered
        or "api_key" in lowered
        or "apikey" in lowered
    )


def redact(text: str) -> str:
    """``text`` with every secret-looking value masked."""
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
    if not text.isascii():
        text = _JWT.sub(MASK, _BEARER.sub(rf"\1{MASK}", text))
        return _SECRET_PAIR.sub(rf"\1{MASK}", text)
    lowered = text.lower()
    if "bearer" in lowered:
        text = _BEARER.sub(rf"\1{MASK}", text)
    if "eyJ" in text:
        text = _JWT.sub(MASK, text)
    if _may_hold_a_secret_word(lowered):
        text = _SECRET_PAIR.sub(rf"\1{MASK}", text)
    return text
