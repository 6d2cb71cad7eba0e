"""libpq's URL parameters for asyncpg, the API's driver, so that a URL means what it means to
psql and to the toolkit (psycopg, which hands them to libpq as they are).

asyncpg takes some parameters in a DSN (``sslmode`` and the ``ssl*`` files,
``target_session_attrs``...), others under other names (``connect_timeout`` is ``timeout``,
``application_name`` and ``options`` are startup settings), and passing any of them the way
SQLAlchemy does (as keyword arguments) fails every connection with a ``TypeError``. The rest it
cannot honour: those are refused when the API starts, with the reason, never a 500 later.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.engine import URL

from agent_db.errors import ConfigError
from agent_db.urls import ASYNC_DRIVER, hosts_of, query_value

# Parameters asyncpg reads from a DSN itself, with libpq's meaning.
_DSN_PARAMETERS = (
    "sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "sslpassword", "sslnegotiation",
    "ssl_min_protocol_version", "ssl_max_protocol_version", "target_session_attrs",
    "krbsrvname", "gsslib", "service", "passfile", "dbname", "user", "password",
)  # fmt: skip
_ALL_VALUES = None
# Parameters whose listed values ask for what asyncpg does anyway (None: any value); a value
# not listed is refused with the reason.
_NO_OPS: dict[str, tuple[frozenset[str] | None, str]] = {
    "channel_binding": (frozenset({"disable", "prefer"}), "asyncpg does not do SCRAM channel binding"),
    "gssencmode": (frozenset({"disable", "prefer"}), "asyncpg does not do GSSAPI encryption"),
    "sslcertmode": (frozenset({"allow"}), "asyncpg sends a client certificate whenever it has one"),
    "sslsni": (frozenset({"1"}), "asyncpg always sends the host name (SNI) over TLS"),
    "load_balance_hosts": (frozenset({"disable"}), "asyncpg tries the hosts in the order given"),
    "client_encoding": (
        frozenset({"utf8", "UTF8", "utf-8", "UTF-8", "unicode", "UNICODE"}),
        "asyncpg only speaks UTF8",
    ),
    "sslcompression": (_ALL_VALUES, ""),  # ignored by libpq too (compression is gone from TLS)
    "requiressl": (frozenset({"0", "1"}), "libpq takes 0 or 1"),
    "fallback_application_name": (_ALL_VALUES, ""),  # used below when application_name is unset
    "connect_timeout": (_ALL_VALUES, ""),
    "application_name": (_ALL_VALUES, ""),
    "options": (_ALL_VALUES, ""),
    "host": (_ALL_VALUES, ""),
    "port": (_ALL_VALUES, ""),
}
_UNSUPPORTED = {
    "hostaddr": "asyncpg connects to the names in host; put the address there instead",
    "require_auth": "asyncpg cannot restrict the authentication methods it accepts",
    "keepalives": "asyncpg sets no TCP keepalives",
    "keepalives_idle": "asyncpg sets no TCP keepalives",
    "keepalives_interval": "asyncpg sets no TCP keepalives",
    "keepalives_count": "asyncpg sets no TCP keepalives",
    "tcp_user_timeout": "asyncpg has no TCP user timeout",
    "replication": "the API does not open replication connections",
    "sslcrldir": "asyncpg takes one CRL file (sslcrl), not a directory",
    "requirepeer": "asyncpg cannot check the server process's user",
    "gssdelegation": "asyncpg does not delegate GSSAPI credentials",
}


@dataclass(frozen=True)
class AsyncpgConnection:
    """What ``create_async_engine`` takes: a URL without libpq parameters, and the same
    meaning spelt as asyncpg's connect arguments."""

    url: URL
    connect_args: dict[str, Any] = field(default_factory=dict)


def asyncpg_connection(
    url: URL, *, source: str, application_name: str = "agent-api", default_timeout: float = 5.0
) -> AsyncpgConnection:
    """Translate ``url`` (already checked by ``agent_db.urls.parse_url``) for asyncpg.

    ``application_name`` and ``default_timeout`` apply when the URL sets neither, as a libpq
    program's ``fallback_application_name`` and default do. Raises :class:`ConfigError`
    naming ``source`` for a parameter asyncpg cannot honour.
    """
    params = {name: query_value(url, name) or "" for name in url.query}
    for name, value in params.items():
        _refuse_unsupported(name, value, source)
    hosts = hosts_of(url)
    dsn = {name: params[name] for name in _DSN_PARAMETERS if name in params}
    if params.get("requiressl") == "1" and "sslmode" not in dsn:
        dsn["sslmode"] = "require"  # what libpq makes of the deprecated requiressl=1
    connect_args: dict[str, Any] = {
        "timeout": _timeout(params.get("connect_timeout"), len(hosts), default_timeout)
    }
    if dsn.get("sslrootcert") == "system":
        # libpq's "the system's certificate authorities" (with verify-full, checked by
        # parse_url): asyncpg would look for a file named "system".
        connect_args["ssl"] = _system_trust(dsn)
        for name in ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword"):
            dsn.pop(name, None)
    if dsn:
        connect_args["dsn"] = "postgresql://?" + urlencode(dsn)
    server_settings = {
        "application_name": params.get("application_name")
        or params.get("fallback_application_name")
        or application_name
    }
    if params.get("options"):
        server_settings["options"] = params["options"]
    connect_args["server_settings"] = server_settings
    return AsyncpgConnection(_engine_url(url, hosts), connect_args)


def _refuse_unsupported(name: str, value: str, source: str) -> None:
    if name in _DSN_PARAMETERS:
        return
    if name in _UNSUPPORTED:
        why = _UNSUPPORTED[name]
    else:
        allowed, why = _NO_OPS.get(name, (frozenset(), "asyncpg does not know it"))
        if allowed is None or value in allowed:
            return
    raise ConfigError(
        f"{source} sets {name}={value}, which the API cannot honour ({why}); remove it from "
        f"{source} (the toolkit's migrations can keep it in the direct URL, direct_url_env)"
    )


def _timeout(raw: str | None, hosts: int, default: float) -> float | None:
    """libpq's connect_timeout is per host, whole seconds, 0 (or less) for none, 1 counts as 2;
    asyncpg's timeout covers the whole connect."""
    if raw is None:
        return default
    seconds = int(raw.strip())
    if seconds <= 0:
        return None
    return float(max(seconds, 2) * hosts)


def _system_trust(dsn: dict[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if dsn.get("sslcert"):
        password = dsn.get("sslpassword")
        context.load_cert_chain(dsn["sslcert"], keyfile=dsn.get("sslkey"), password=password)
    return context


def _engine_url(url: URL, hosts: list[tuple[str, int | None]]) -> URL:
    """Host, port, user, password and database only (SQLAlchemy passes the query as keyword
    arguments, which is what failed)."""
    bare = URL.create(ASYNC_DRIVER, username=url.username, password=url.password, database=url.database)
    if "host" not in url.query:
        return bare.set(host=url.host, port=url.port or hosts[0][1])
    if len(hosts) == 1:
        host, port = hosts[0]
        query = {"host": host} | ({"port": str(port)} if port else {})
        return bare.set(query=query)
    # SQLAlchemy's multi-host form for asyncpg wants every port spelt out.
    return bare.set(query={"host": tuple(f"{host}:{port or 5432}" for host, port in hosts)})
