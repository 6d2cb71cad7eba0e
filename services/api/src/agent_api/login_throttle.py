"""Login throttling: failed attempts per (account name, client address), with exponential delays.

Password guessing against one account is slowed down without touching anyone else: the key is
the name typed *and* the caller's address, so an attacker who locks ``alice`` from their address
slows neither ``alice`` logging in from hers nor ``bob`` from the attacker's network.

The first ``free_failures`` failures cost nothing extra (people mistype). After that each
attempt must wait ``base_delay * 2 ** (failures - free_failures)`` seconds after the last failure
(1 s, 2 s, 4 s... up to ``max_delay``); an attempt that comes earlier is answered 429 with
``Retry-After`` *before* the password is checked, so a flood also costs no Argon2 time. An
attempt counts as a failure from the moment it starts (a burst of parallel guesses cannot slip
through before the first one fails); a success clears the key, and an attempt that failed for
another reason (the database was down) is refunded. Failures older than ``window``
are forgotten, and at most ``max_tracked`` keys are kept (the oldest go first).

State lives in the process: with N workers an attacker gets at most N times the attempts; the
limits hold per worker. Names are not case-sensitive here, so case variants share one budget.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

Key = tuple[str, str]


@dataclass
class _Failures:
    count: int
    last: float


@dataclass
class LoginThrottle:
    free_failures: int = 5
    base_delay: float = 1.0
    max_delay: float = 900.0
    window: float = 3600.0
    max_tracked: int = 100_000
    clock: Callable[[], float] = time.monotonic
    _failures: OrderedDict[Key, _Failures] = field(default_factory=OrderedDict)

    @staticmethod
    def key(name: str, client: str | None) -> Key:
        return (name.strip().lower(), client or "unknown")

    def delay_after(self, failures: int) -> float:
        """How long after the last failure the next attempt must wait."""
        if failures < self.free_failures:
            return 0.0
        exponent = min(failures - self.free_failures, 30)  # 2**30 s is past any max_delay
        return min(math.ldexp(self.base_delay, exponent), self.max_delay)

    def begin(self, key: Key) -> int | None:
        """Start an attempt: None when it may go ahead (and it now counts as a failure until
        :meth:`succeeded`), else the whole seconds to wait (for ``Retry-After``)."""
        now = self.clock()
        entry = self._failures.get(key)
        if entry is not None and now - entry.last > max(self.window, self.delay_after(entry.count)):
            entry = None
        if entry is not None:
            wait = entry.last + self.delay_after(entry.count) - now
            if wait > 0:
                return max(1, math.ceil(wait))
        self._record(key, (entry.count if entry else 0) + 1, now)
        return None

    def succeeded(self, key: Key) -> None:
        self._failures.pop(key, None)

    def refund(self, key: Key) -> None:
        """Take back the attempt :meth:`begin` counted: it ended for a reason other than wrong
        credentials (the database was unavailable), so it was no guess."""
        entry = self._failures.get(key)
        if entry is None:
            return
        entry.count -= 1
        if entry.count <= 0:
            del self._failures[key]

    def _record(self, key: Key, count: int, now: float) -> None:
        self._failures[key] = _Failures(count, now)
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)

    def __len__(self) -> int:
        return len(self._failures)
