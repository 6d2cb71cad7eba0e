"""``api.smoke``: after a deploy, ask the running API whether it serves this release.

``/ready`` reports the schema revision the API's database is at and the revision its code
expects. A deploy succeeded when the API answers 200 and both are what this job produced: the code
expects this checkout's head (the new release is the one serving) and the database it talks to is
at the environment's live revision (it is connected to the database this job migrated). A rollout
takes a while, so the check retries until its timeout and then fails with the last thing it saw.

It runs in the deploy workflow after ``db.promote`` and the rollout, and the same way from a
person's shell. Returns what ``/ready`` answered; waiting is told through ``on_wait``, so the
task decides how to show it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from agent_db.commands.positions import read_position
from agent_db.database.target import Target
from agent_db.errors import AgentDbError, ConfigError
from agent_db.revisions.graph import default_graph
from agent_db.settings import load_settings

READY_PATH = "/ready"
MAX_BODY_BYTES = 1_000_000
MAX_REQUEST_SECONDS = 10.0


class SmokeCheckFailed(AgentDbError):
    """The API did not serve this release before the timeout (exit 1)."""

    exit_code = 1


class Unreachable(Exception):
    """One attempt got no usable answer; the check retries."""


@dataclass(frozen=True)
class Readiness:
    """What ``/ready`` answered."""

    http_status: int
    status: str
    schema_revision: tuple[str, ...]
    expected_revision: tuple[str, ...]
    reason: str | None = None


@dataclass(frozen=True)
class Expectation:
    """What a successful deploy looks like from this job."""

    code_heads: tuple[str, ...]  # this checkout's head(s): what the new release expects
    live_revision: tuple[str, ...] | None  # the environment's database now; None: not readable here


def expectation_for(environment: str) -> Expectation:
    """This checkout's head, and the environment's live revision when its URL is set here (the
    deploy job has it; a person checking from a laptop may not, and then only the code is compared)."""
    settings = load_settings(environment)
    live = read_position(Target.resolve(environment)) if settings.url_is_set else None
    return Expectation(tuple(sorted(default_graph().heads)), live)


def ready_url(base_url: str) -> str:
    """``base_url`` + ``/ready``; only http(s) URLs with a host are accepted (exit 2 otherwise)."""
    parsed = urllib.parse.urlsplit(base_url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        shown = base_url if len(base_url) <= 80 else f"{base_url[:80]}..."
        raise ConfigError(
            f"--url {shown!r} is not an http(s) URL of the API, such as https://api.example.com"
        )
    if parsed.username or parsed.password:
        raise ConfigError("--url must not carry credentials; /ready needs none")
    return urllib.parse.urlunsplit(
        (parsed.scheme, parsed.netloc, parsed.path.rstrip("/") + READY_PATH, "", "")
    )


def _revisions(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("a revision list must be a list of strings")
    return tuple(sorted(value))


def parse_readiness(http_status: int, body: bytes) -> Readiness:
    """The readiness document; ``Unreachable`` when the answer is not one (a proxy's error page)."""
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        reason = data.get("reason")
        return Readiness(
            http_status=http_status,
            status=str(data["status"]),
            schema_revision=_revisions(data["schema_revision"]),
            expected_revision=_revisions(data["expected_revision"]),
            reason=str(reason) if reason is not None else None,
        )
    except (ValueError, KeyError, TypeError):
        raise Unreachable(
            f"answered HTTP {http_status} with something other than the API's readiness document"
        ) from None


def fetch_readiness(url: str, timeout: float) -> Readiness:
    """One GET of ``url`` (already validated by ``ready_url``)."""
    request = urllib.request.Request(  # noqa: S310 (scheme checked in ready_url)
        url, headers={"Accept": "application/json", "User-Agent": "agent-platform-smoke"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return parse_readiness(response.status, response.read(MAX_BODY_BYTES))
    except urllib.error.HTTPError as error:
        with error:
            return parse_readiness(error.code, error.read(MAX_BODY_BYTES))
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise Unreachable(f"did not answer ({reason})") from None


def _names(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) or "base (no revision)"


def problem_with(readiness: Readiness, expected: Expectation, environment: str) -> str | None:
    """Why this answer is not a successful deploy, or None when it is."""
    if readiness.http_status != 200:
        detail = f": {readiness.reason}" if readiness.reason else ""
        return f"not ready (HTTP {readiness.http_status}){detail}"
    if set(readiness.expected_revision) != set(expected.code_heads):
        return (
            f"serves code that expects revision {_names(readiness.expected_revision)}, but this "
            f"release's head is {_names(expected.code_heads)}: the new release is not serving "
            "(yet); check the rollout"
        )
    if expected.live_revision is not None and set(readiness.schema_revision) != set(expected.live_revision):
        return (
            f"reports schema revision {_names(readiness.schema_revision)}, but the {environment} "
            f"database is at {_names(expected.live_revision)}: is the API connected to another database?"
        )
    return None


def smoke_check(
    base_url: str,
    expected: Expectation,
    *,
    environment: str,
    timeout: float = 300.0,
    interval: float = 5.0,
    fetch: Callable[[str, float], Readiness] = fetch_readiness,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[str], None] | None = None,
    census: Callable[[], str | None] | None = None,
) -> Readiness:
    """Poll ``/ready`` until it shows this release, or raise ``SmokeCheckFailed`` at the timeout.

    ``on_wait`` hears each new problem once (not every attempt), so a log shows how the rollout
    progressed without repeating itself. ``census``, when given, must also find nothing wrong
    (:mod:`agent_db.commands.smoke_census`: a live process of this release is registered).
    """
    url = ready_url(base_url)
    deadline = clock() + max(timeout, 0.0)
    last_problem = "no attempt was made"
    told: str | None = None
    while True:
        remaining = deadline - clock()
        try:
            readiness = fetch(url, min(MAX_REQUEST_SECONDS, max(remaining, 1.0)))
            problem = problem_with(readiness, expected, environment)
            if problem is None and census is not None:
                problem = census()
        except Unreachable as error:
            problem = str(error)
        if problem is None:
            return readiness
        last_problem = f"{url} {problem}"
        if on_wait is not None and problem != told:
            on_wait(last_problem)
            told = problem
        if clock() + interval > deadline:
            break
        sleep(interval)
    raise SmokeCheckFailed(
        f"smoke check of {environment} failed after {timeout:.0f}s: {last_problem}. "
        "The API's /ready says what it sees; look at the rollout's output and the API's logs"
    )
