"""Login throttling: guessing one account's password from one address gets slower and slower
(429 with Retry-After), while that account from elsewhere and every other account log in as
fast as ever."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from agent_api.app_state import app_state
from agent_api.login_throttle import LoginThrottle
from tests.support.api import PASSWORD, MakeUser, error_code

LOGIN = "/api/v1/auth/login"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_delays_double_after_the_free_failures_and_a_success_clears_them() -> None:
    clock = Clock()
    throttle = LoginThrottle(free_failures=3, base_delay=1.0, max_delay=8.0, clock=clock)
    key = throttle.key("Alice ", "10.0.0.1")
    assert key == throttle.key("alice", "10.0.0.1")  # case and padding do not buy more attempts
    assert [throttle.begin(key) for _ in range(3)] == [None, None, None]
    assert throttle.begin(key) == 1  # the 4th waits 1 s after the 3rd failure
    clock.now += 1
    assert throttle.begin(key) is None  # 4th failure
    assert throttle.begin(key) == 2
    clock.now += 2
    assert throttle.begin(key) is None  # 5th failure
    assert throttle.begin(key) == 4
    clock.now += 4
    assert throttle.begin(key) is None
    clock.now += 8
    assert throttle.begin(key) is None
    assert throttle.begin(key) == 8  # capped at max_delay
    assert throttle.begin(throttle.key("alice", "10.0.0.2")) is None  # another address: untouched
    assert throttle.begin(throttle.key("bob", "10.0.0.1")) is None  # another account: untouched
    throttle.succeeded(key)
    assert throttle.begin(key) is None


def test_attempts_that_fail_for_other_reasons_are_refunded() -> None:
    throttle = LoginThrottle(free_failures=2, clock=Clock())
    key = throttle.key("alice", "10.0.0.1")
    for _ in range(10):  # the database is down: each attempt is refunded
        assert throttle.begin(key) is None
        throttle.refund(key)
    assert len(throttle) == 0
    throttle.begin(key)
    throttle.begin(key)
    assert throttle.begin(key) == 1


def test_a_burst_of_parallel_guesses_cannot_slip_through() -> None:
    """Attempts count from when they start: the sixth of a burst is refused before the first
    five have even been checked."""
    throttle = LoginThrottle(free_failures=5, clock=Clock())
    key = throttle.key("alice", "10.0.0.1")
    started = [throttle.begin(key) for _ in range(50)]
    assert started[:5] == [None] * 5
    assert all(wait == 1 for wait in started[5:])


def test_old_failures_are_forgotten_and_memory_is_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(free_failures=1, window=60, max_tracked=100, clock=clock)
    key = throttle.key("alice", "10.0.0.1")
    throttle.begin(key)
    assert throttle.begin(key) == 1
    clock.now += 61
    assert throttle.begin(key) is None
    for number in range(1000):
        throttle.begin(throttle.key(f"user{number}", "10.0.0.9"))
    assert len(throttle) == 100


@pytest.fixture
def throttle_clock(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    clock.now = time.monotonic()
    monkeypatch.setattr(app_state(app).login_throttle, "clock", clock)
    return clock


async def client_from(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.anyio
async def test_guessing_is_throttled_without_slowing_anyone_else(
    app: FastAPI, make_user: MakeUser, throttle_clock: Clock
) -> None:
    alice, bob = await make_user(), await make_user()
    async for attacker in client_from(app, "203.0.113.7"):
        for _ in range(5):
            wrong = await attacker.post(LOGIN, data={"username": alice.username, "password": "guess"})
            assert wrong.status_code == 401
        locked = await attacker.post(LOGIN, data={"username": alice.username, "password": PASSWORD})
        assert locked.status_code == 429  # even the right password waits: no oracle while locked
        assert error_code(locked) == "too_many_attempts"
        assert locked.headers["Retry-After"] == "1"
        unknown = await attacker.post(LOGIN, data={"username": alice.username + "x", "password": "g"})
        assert unknown.status_code == 401  # another name is another budget

        others = await attacker.post(LOGIN, data={"username": bob.username, "password": PASSWORD})
        assert others.status_code == 200  # same address, other account: not throttled
        assert "Retry-After" not in others.headers

    async for home in client_from(app, "198.51.100.20"):
        own = await home.post(LOGIN, data={"username": alice.username, "password": PASSWORD})
        assert own.status_code == 200  # the account from its owner's address: not slowed

    async for attacker in client_from(app, "203.0.113.7"):
        throttle_clock.now += 1
        after_wait = await attacker.post(LOGIN, data={"username": alice.username, "password": "guess"})
        assert after_wait.status_code == 401
        again = await attacker.post(LOGIN, data={"username": alice.username, "password": "guess"})
        assert again.status_code == 429
        assert again.headers["Retry-After"] == "2"  # doubled
        throttle_clock.now += 2
        right = await attacker.post(LOGIN, data={"username": alice.username, "password": PASSWORD})
        assert right.status_code == 200
        cleared = await attacker.post(LOGIN, data={"username": alice.username, "password": "guess"})
        assert cleared.status_code == 401  # a success reset the count


def test_the_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_api.main import create_app
    from agent_api.settings import load_api_settings

    monkeypatch.setenv("DEV_JWT_SECRET", "k" * 40)
    app = create_app(load_api_settings("dev", login_free_failures=2, login_max_delay_seconds=30))
    throttle = app_state(app).login_throttle
    assert (throttle.free_failures, throttle.base_delay, throttle.max_delay) == (2, 1.0, 30.0)
