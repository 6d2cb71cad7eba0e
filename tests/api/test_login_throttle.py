"""Login throttling: guessing one account's password from one address gets slower and slower
(429 with Retry-After), while that account from elsewhere and every other account log in as
fast as ever. The counts live in PostgreSQL (the ``login_failures`` table)."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from agent_api.app_state import app_state
from agent_api.login_throttle import LoginThrottle, account_key, address_key
from tests.support.api import PASSWORD, MakeUser
from tests.support.throttle import Clock, attempt, client_from, running_app

pytestmark = pytest.mark.anyio


def an_address() -> str:
    """A random address, so that tests sharing the database never share a budget."""
    return "10." + ".".join(str(secrets.randbelow(250) + 1) for _ in range(3))


async def test_delays_double_after_the_free_failures_and_a_success_clears_them(api_database: URL) -> None:
    clock = Clock()
    throttle = LoginThrottle(free_failures=3, base_delay=1.0, max_delay=8.0, clock=clock)
    async with running_app(api_database) as app:
        engine = app_state(app).database.engine
        key = address_key(an_address())
        assert [await throttle.begin(engine, key) for _ in range(3)] == [None, None, None]
        assert await throttle.begin(engine, key) == 1  # the 4th waits 1 s after the 3rd failure
        clock.advance(1)
        assert await throttle.begin(engine, key) is None  # 4th failure
        assert await throttle.begin(engine, key) == 2
        clock.advance(2)
        assert await throttle.begin(engine, key) is None
        assert await throttle.begin(engine, key) == 4
        clock.advance(4)
        assert await throttle.begin(engine, key) is None
        clock.advance(8)
        assert await throttle.begin(engine, key) is None
        assert await throttle.begin(engine, key) == 8  # capped at max_delay
        assert await throttle.begin(engine, address_key(an_address())) is None  # another key
        await throttle.succeeded(engine, key)
        assert await throttle.begin(engine, key) is None


async def test_refunds_old_windows_and_the_purge(api_database: URL) -> None:
    clock = Clock()
    throttle = LoginThrottle(free_failures=2, window=60, max_delay=30, clock=clock)
    async with running_app(api_database) as app:
        engine = app_state(app).database.engine
        key = account_key(secrets.randbelow(10**9), an_address())
        for _ in range(10):  # the database failed each time: each attempt is refunded
            assert await throttle.begin(engine, key) is None
            await throttle.refund(engine, key)
        async with engine.connect() as connection:
            rows = await connection.scalar(
                text("SELECT count(*) FROM login_failures WHERE key = :k"), {"k": key}
            )
        assert rows == 0
        await throttle.begin(engine, key)
        await throttle.begin(engine, key)
        assert await throttle.begin(engine, key) == 1
        clock.advance(61)  # past the window: forgotten
        assert await throttle.begin(engine, key) is None
        await throttle.begin(engine, key)
        stale = address_key(an_address())
        await throttle.begin(engine, stale)
        clock.advance(61)
        async with engine.begin() as connection:
            assert await throttle.purge(connection) >= 2
            left = await connection.scalar(
                text("SELECT count(*) FROM login_failures WHERE key IN (:a, :b)"), {"a": key, "b": stale}
            )
        assert left == 0


async def test_a_burst_of_parallel_guesses_from_many_engines_cannot_slip_through(api_database: URL) -> None:
    """50 attempts at once, through 4 instances' pools: exactly 5 are counted and checked."""
    throttle = LoginThrottle(free_failures=5, base_delay=60, clock=Clock())
    key = address_key(an_address())
    async with (
        running_app(api_database) as a,
        running_app(api_database) as b,
        running_app(api_database) as c,
        running_app(api_database) as d,
    ):
        engines = [app_state(app).database.engine for app in (a, b, c, d)]
        started = await asyncio.gather(*(throttle.begin(engines[n % 4], key) for n in range(50)))
    assert started.count(None) == 5
    assert all(wait == 60 for wait in started if wait is not None)


async def test_username_and_email_are_one_budget_and_the_victim_still_logs_in(
    api_database: URL, make_user: MakeUser
) -> None:
    alice, bob = await make_user(), await make_user()
    attacker_address, home_address = an_address(), an_address()
    async with running_app(api_database, clock=Clock(), login_base_delay_seconds=60) as app:
        async with client_from(app, attacker_address) as attacker:
            names = [alice.username, alice.email, alice.email.upper(), alice.username, f" {alice.email} "]
            statuses = [await attempt(attacker, name, "guess") for name in names]
            assert statuses == [401] * 5
            assert await attempt(attacker, alice.email, "guess") == 429
            assert await attempt(attacker, alice.username, PASSWORD) == 429  # no oracle while locked
            assert await attempt(attacker, bob.username, PASSWORD) == 200  # other accounts: untouched
        async with client_from(app, home_address) as home:
            assert await attempt(home, alice.username, PASSWORD) == 200  # the owner, elsewhere
            assert await attempt(home, alice.email, PASSWORD) == 200


async def test_unknown_names_share_the_budget_of_their_address(
    api_database: URL, make_user: MakeUser
) -> None:
    alice = await make_user()
    app_running = running_app(api_database, clock=Clock(), login_base_delay_seconds=60)
    async with app_running as app, client_from(app, an_address()) as prober:
        ghosts = [f"ghost_{secrets.token_hex(4)}" for _ in range(6)]
        assert [await attempt(prober, ghost, "x") for ghost in ghosts[:5]] == [401] * 5
        assert await attempt(prober, ghosts[5], "x") == 429  # a new name: the same budget
        assert await attempt(prober, alice.username, PASSWORD) == 200  # accounts keep their own


def test_the_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_api.main import create_app
    from agent_api.settings import load_api_settings

    monkeypatch.setenv("DEV_JWT_SECRET", "k" * 40)
    app = create_app(load_api_settings("dev", login_free_failures=2, login_max_delay_seconds=30))
    throttle = app_state(app).login_throttle
    assert (throttle.free_failures, throttle.base_delay, throttle.max_delay) == (2, 1.0, 30.0)
