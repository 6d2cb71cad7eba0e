"""One throttle for every worker and replica: four API instances (each with its own engine and
pool, as four uvicorn processes have) against one database give an attacker the budget of one,
a restart does not reset it, and X-Forwarded-For names the caller only behind a configured proxy."""

from __future__ import annotations

import secrets
from contextlib import AsyncExitStack
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.support.api import PASSWORD, MakeUser
from tests.support.throttle import attempt, client_from, running_app

pytestmark = pytest.mark.anyio

# Long enough that the 6th attempt is refused however slowly this machine runs the first five.
SLOW: dict[str, Any] = {"login_base_delay_seconds": 60.0}


def an_address() -> str:
    return "10." + ".".join(str(secrets.randbelow(250) + 1) for _ in range(3))


async def test_four_workers_share_five_free_failures_and_a_restart_keeps_them(
    api_database: URL, make_user: MakeUser
) -> None:
    alice = await make_user()
    attacker = an_address()
    async with AsyncExitStack() as stack:
        workers = [await stack.enter_async_context(running_app(api_database, **SLOW)) for _ in range(4)]
        clients = [await stack.enter_async_context(client_from(app, attacker)) for app in workers]
        # Round robin, as a load balancer would spread them: 5 in total, not 5 per worker.
        failed = [await attempt(clients[n % 4], alice.username, "guess") for n in range(5)]
        assert failed == [401] * 5
        for http in clients:  # the 6th gets 429 from whichever worker answers
            assert await attempt(http, alice.username, "guess") == 429
    async with running_app(api_database, **SLOW) as restarted, client_from(restarted, attacker) as http:
        assert await attempt(http, alice.email, "guess") == 429  # a deploy forgets nothing
        async with client_from(restarted, an_address()) as home:
            assert await attempt(home, alice.username, PASSWORD) == 200  # the victim, elsewhere


async def test_forwarded_for_is_ignored_by_default(api_database: URL, make_user: MakeUser) -> None:
    alice = await make_user()
    async with running_app(api_database, **SLOW) as app, client_from(app, "127.0.0.1") as http:
        for _ in range(5):  # a fresh "address" each time buys nothing
            assert await attempt(http, alice.username, "guess", forwarded=an_address()) == 401
        assert await attempt(http, alice.username, "guess", forwarded=an_address()) == 429


async def test_forwarded_for_is_honoured_from_a_configured_proxy_only(
    api_database: URL, make_user: MakeUser
) -> None:
    alice = await make_user()
    proxy, attacker, victim = "192.0.2.10", an_address(), an_address()
    async with running_app(api_database, trusted_proxies=["192.0.2.0/28"], **SLOW) as app:
        async with client_from(app, proxy) as via_proxy:
            # The attacker's own spoofed hop is left of what the proxy appended: the proxy's
            # entry (the rightmost untrusted one) is the caller.
            for _ in range(5):
                forwarded = f"{an_address()}, {attacker}"
                assert await attempt(via_proxy, alice.username, "guess", forwarded=forwarded) == 401
            forwarded = f"{an_address()}, {attacker}"
            assert await attempt(via_proxy, alice.username, "guess", forwarded=forwarded) == 429
            # The victim behind the same proxy is another address: not locked out.
            assert await attempt(via_proxy, alice.username, PASSWORD, forwarded=victim) == 200
        async with client_from(app, an_address()) as direct:
            # Not from a proxy: the header is the caller's own claim, ignored.
            for _ in range(5):
                assert await attempt(direct, alice.username, "guess", forwarded=victim) == 401
        async with client_from(app, proxy) as via_proxy:
            assert await attempt(via_proxy, alice.username, PASSWORD, forwarded=victim) == 200


def test_a_trusted_proxy_that_is_no_address_is_refused() -> None:
    from agent_api.settings import load_api_settings
    from agent_db.errors import ConfigError

    with pytest.raises(ConfigError, match=r"trusted_proxies.*'proxy\.local' is not an IP address or network"):
        load_api_settings("dev", trusted_proxies=["10.0.0.0/8", "proxy.local"])
