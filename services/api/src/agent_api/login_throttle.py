"""Login throttling shared by every process and replica: failed logins counted in PostgreSQL.

A budget is keyed on the *account* once the name typed resolves to one (its username and its
email are one budget) together with the caller's address, and on the address alone for names
that match no account. So N workers or replicas give an attacker the budget of one, a restart
forgets nothing, and an attacker who exhausts ``alice``'s budget from their address slows neither
``alice`` logging in from hers nor ``bob`` from the attacker's network (docs/SECURITY.md).

The first ``free_failures`` failures cost nothing extra (people mistype). After that each
attempt must wait ``base_delay * 2 ** (failures - free_failures)`` seconds after the last failure
(1 s, 2 s, 4 s... up to ``max_delay``); an attempt that comes earlier is answered 429 with
``Retry-After`` *before* the password is checked, so a flood also costs no Argon2 time. An
attempt counts as a failure from the moment it starts, in one ``INSERT ... ON CONFLICT ...
RETURNING``: concurrent attempts queue on the row, so a burst of parallel guesses from many
workers cannot slip through. A success clears the key, and an attempt that failed for another
reason (the database was down) is refunded. Failures older than ``window`` are forgotten, and
expired rows are purged every ``purge_every`` seconds by whichever process gets there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# delay(n): the seconds after the last failure that attempt n + 1 must wait.
_FREE = "CAST(:free AS integer)"
_DELAY = (
    f"CASE WHEN {{n}} < {_FREE} THEN 0::float8 ELSE least(CAST(:base AS float8) "
    f"* power(2, least({{n}} - {_FREE}, 30)), CAST(:max_delay AS float8)) END"
)
_NOW = "coalesce(CAST(:now AS timestamptz), clock_timestamp())"

# One statement: the attempt is counted (a new row, a row whose window expired, or a row whose
# delay has passed) or refused (no row returned). Concurrent attempts on one key queue on its row
# lock and each sees the count the previous one left, so no worker can exceed the budget.
_BEGIN = text(
    f"""
    INSERT INTO login_failures AS f (key, failures, last_failure_at)
    VALUES (CAST(:key AS text), 1, {_NOW})
    ON CONFLICT (key) DO UPDATE SET
        failures = CASE
            WHEN {_NOW} - f.last_failure_at
                 > make_interval(secs => greatest(CAST(:window AS float8), {_DELAY.format(n="f.failures")}))
            THEN 1 ELSE f.failures + 1 END,
        last_failure_at = {_NOW}
    WHERE f.last_failure_at + make_interval(secs => {_DELAY.format(n="f.failures")}) <= {_NOW}
    RETURNING f.failures
    """
)
# A refused attempt's wait, read by a statement of its own: its snapshot sees what the attempts
# that just got ahead of this one committed.
_WAIT = text(
    f"""
    SELECT extract(epoch FROM
               f.last_failure_at + make_interval(secs => {_DELAY.format(n="f.failures")}) - {_NOW})
      FROM login_failures AS f WHERE f.key = :key
    """
)
_REFUND = text("UPDATE login_failures SET failures = failures - 1 WHERE key = :key AND failures > 1")
_DROP_LAST = text("DELETE FROM login_failures WHERE key = :key AND failures <= 1")
_CLEAR = text("DELETE FROM login_failures WHERE key = :key")
_PURGE = text(
    "DELETE FROM login_failures"
    f" WHERE last_failure_at < {_NOW} - make_interval(secs => CAST(:keep AS float8))"
)


def account_key(user_id: int, address: str) -> str:
    """The budget of one account from one address (username and email alike)."""
    return f"account:{user_id}@{address}"


def address_key(address: str) -> str:
    """The budget of one address for every name that matches no account."""
    return f"address:{address}"


@dataclass
class LoginThrottle:
    free_failures: int = 5
    base_delay: float = 1.0
    max_delay: float = 900.0
    window: float = 3600.0
    purge_every: float = 300.0
    # None: the database's clock (one clock for every replica); tests pass their own.
    clock: Callable[[], datetime] | None = None
    _last_purge: float = field(default_factory=time.monotonic)

    def delay_after(self, failures: int) -> float:
        """How long after the last failure the next attempt must wait."""
        if failures < self.free_failures:
            return 0.0
        exponent = min(failures - self.free_failures, 30)  # 2**30 s is past any max_delay
        return min(math.ldexp(self.base_delay, exponent), self.max_delay)

    def _params(self, key: str) -> dict[str, object]:
        return {
            "key": key,
            "now": self.clock() if self.clock else None,
            "free": self.free_failures,
            "base": self.base_delay,
            "max_delay": self.max_delay,
            "window": self.window,
        }

    async def begin(self, engine: AsyncEngine, key: str) -> int | None:
        """Start an attempt: None when it may go ahead (and it now counts as a failure until
        :meth:`succeeded`), else the whole seconds to wait (for ``Retry-After``)."""
        params = self._params(key)
        async with engine.begin() as connection:
            counted = (await connection.execute(_BEGIN, params)).scalar()
            wait = None if counted is not None else (await connection.execute(_WAIT, params)).scalar()
            await self._purge_now_and_then(connection)
        if counted is not None:
            return None
        return max(1, math.ceil(float(wait or 0)))

    async def succeeded(self, engine: AsyncEngine, key: str) -> None:
        async with engine.begin() as connection:
            await connection.execute(_CLEAR, {"key": key})

    async def refund(self, engine: AsyncEngine, key: str) -> None:
        """Take back the attempt :meth:`begin` counted: it ended for a reason other than wrong
        credentials (the database was unavailable), so it was no guess."""
        async with engine.begin() as connection:
            # The row is locked by the first statement that finds it; the other finds nothing.
            await connection.execute(_DROP_LAST, {"key": key})
            await connection.execute(_REFUND, {"key": key})

    async def purge(self, connection: AsyncConnection) -> int:
        """Delete the rows no attempt would count any more (older than the window and the
        longest delay); returns how many."""
        keep = max(self.window, self.max_delay)
        now = self.clock() if self.clock else None
        result = await connection.execute(_PURGE, {"now": now, "keep": keep})
        return int(getattr(result, "rowcount", 0) or 0)

    async def _purge_now_and_then(self, connection: AsyncConnection) -> None:
        if time.monotonic() - self._last_purge < self.purge_every:
            return
        self._last_purge = time.monotonic()
        await self.purge(connection)
