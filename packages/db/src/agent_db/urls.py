"""Database URLs: one driver for the toolkit, one for the API, and never a password in output.

A URL is what libpq takes (``postgresql://USER:PASSWORD@HOST:PORT/DB?param=value``, several
hosts as ``HOST1:PORT1,HOST2:PORT2``), with libpq's query parameters: the toolkit's driver
(psycopg) hands them to libpq as they are, the API's (asyncpg) gets them translated by
``agent_api.database_url``. A name libpq does not know is refused here, once, for both.
"""

from __future__ import annotations

import difflib
import re
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from agent_db.errors import ConfigError

SYNC_DRIVER = "postgresql+psycopg"
ASYNC_DRIVER = "postgresql+asyncpg"
_POSTGRES_NAMES = {"postgres", "postgresql"}

# Every connection parameter of libpq 17 (the manual's "Parameter Key Words", 32.1.2).
LIBPQ_PARAMETERS = frozenset(
    {
        "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "require_auth",
        "channel_binding", "connect_timeout", "client_encoding", "options", "application_name",
        "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslmode",
        "requiressl", "sslnegotiation", "sslcompression", "sslcert", "sslkey", "sslpassword",
        "sslcertmode", "sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer",
        "ssl_min_protocol_version", "ssl_max_protocol_version", "krbsrvname", "gsslib",
        "gssdelegation", "service", "target_session_attrs", "load_balance_hosts",
    }
)  # fmt: skip
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
TARGET_SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")
_NETLOC = re.compile(r"^(?P<scheme>[^:/?#]+)://(?P<netloc>[^/?#]*)(?P<rest>.*)$", re.DOTALL)


def parse_url(raw: str, *, source: str) -> URL:
    """Parse a PostgreSQL URL handed to us in any common spelling.

    ``source`` names where it came from (an environment variable) so errors can point there.
    Messages never quote the URL: a password that was not percent-encoded would show.
    Several hosts (``h1:5432,h2:5433``) become SQLAlchemy's ``?host=h1:5432&host=h2:5433``.
    """
    if raw.split("?", 1)[0].count("@") > 1:
        # A raw '@' in the password: the parser would take the rest of the password for the host
        # and database, and every "cannot reach" message would print that part.
        raise ConfigError(
            f"{source} has more than one '@': percent-encode special characters in the user "
            "name and password ('@' as %40, ':' as %3A, '/' as %2F, '%' as %25)"
        )
    try:
        url = make_url(_move_host_list_to_query(raw.strip()))
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ConfigError(
            f"{source} is not a valid database URL; expected postgresql://USER:PASSWORD@HOST:5432/DBNAME"
        ) from None
    backend = url.drivername.split("+", 1)[0]
    if backend not in _POSTGRES_NAMES:
        raise ConfigError(
            f"{source} points at {backend!r}; this project runs on PostgreSQL only "
            "(postgresql://USER:PASSWORD@HOST:5432/DBNAME)"
        )
    check_parameters(url, source=source)
    return url


def _move_host_list_to_query(raw: str) -> str:
    """libpq's ``postgresql://u:p@h1:5432,h2:5433/db`` in the form SQLAlchemy parses."""
    match = _NETLOC.match(raw)
    if match is None or "," not in match["netloc"]:
        return raw
    userinfo, _, hosts = match["netloc"].rpartition("@")
    rest = match["rest"]
    path, question, query = rest.partition("?")
    entries = "&".join(f"host={entry}" for entry in hosts.split(",") if entry)
    query = f"{entries}&{query}" if query else entries
    prefix = f"{userinfo}@" if userinfo else ""
    return f"{match['scheme']}://{prefix}{path or '/'}?{query}" if question or query else raw


def query_value(url: URL, name: str) -> str | None:
    """One query parameter as text (the last one when repeated, as libpq does)."""
    value = url.query.get(name)
    if isinstance(value, tuple):
        return value[-1] if value else None
    return value


def check_parameters(url: URL, *, source: str) -> None:
    """Refuse a query parameter libpq does not know, and values both drivers would refuse."""
    for name in url.query:
        if name not in LIBPQ_PARAMETERS:
            close = difflib.get_close_matches(name, sorted(LIBPQ_PARAMETERS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{source} has an unknown query parameter {unquote(name)!r}{hint}; a database URL "
                "takes libpq's connection parameters (sslmode, sslrootcert, connect_timeout, "
                "application_name, options, target_session_attrs...): fix the URL"
            )
    mode = query_value(url, "sslmode")
    if mode is not None and mode not in SSL_MODES:
        raise ConfigError(f"{source} has sslmode={mode!r}; use one of {', '.join(SSL_MODES)}")
    if query_value(url, "sslrootcert") == "system" and mode != "verify-full":
        raise ConfigError(
            f"{source} has sslrootcert=system, which libpq only accepts with sslmode=verify-full "
            "(the system's certificate authorities vouch for a host name): add sslmode=verify-full"
        )
    attrs = query_value(url, "target_session_attrs")
    if attrs is not None and attrs not in TARGET_SESSION_ATTRS:
        raise ConfigError(
            f"{source} has target_session_attrs={attrs!r}; use one of {', '.join(TARGET_SESSION_ATTRS)}"
        )
    timeout = query_value(url, "connect_timeout")
    if timeout is not None and not re.fullmatch(r"-?\d+", timeout.strip()):
        raise ConfigError(
            f"{source} has connect_timeout={timeout!r}; it takes whole seconds (0: wait forever)"
        )


def hosts_of(url: URL) -> list[tuple[str, int | None]]:
    """Every host the URL names, with its port (None: the default), in the order tried."""
    raw = url.query.get("host")
    port_text = query_value(url, "port")
    ports = [int(p) if p else None for p in port_text.split(",")] if port_text else []
    if raw is None:
        return [(url.host or "localhost", url.port or (ports[0] if ports else None))]
    entries = list(raw) if isinstance(raw, tuple) else raw.split(",")
    hosts: list[tuple[str, int | None]] = []
    for index, entry in enumerate(entries):
        host, colon, port = entry.rpartition(":") if not entry.startswith("/") else ("", "", "")
        if colon and port.isdigit():
            hosts.append((host, int(port)))
        else:
            fallback = ports[index] if index < len(ports) else (ports[-1] if ports else url.port)
            hosts.append((entry, fallback))
    return hosts


def sync_url(url: URL) -> URL:
    """The URL with the toolkit's driver (psycopg 3), whatever driver it was written with."""
    return url.set(drivername=SYNC_DRIVER)


def async_url(url: URL) -> URL:
    """The URL with the API's driver (asyncpg)."""
    return url.set(drivername=ASYNC_DRIVER)


def redact(url: URL | str) -> str:
    """The URL as text with the password masked, safe for messages and logs."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return "<unparseable URL>"
    text = url.render_as_string(hide_password=True)
    secret = query_value(url, "sslpassword")
    return text.replace(secret, "***") if secret else text


def describe_location(url: URL) -> str:
    """Host and port (or socket directory) and database, for 'cannot reach' messages."""
    places = []
    for host, port in hosts_of(url):
        if host.startswith("/"):
            places.append(f"unix socket in {host}")
        else:
            places.append(f"{host}:{port or 5432}")
    return f"{', '.join(places)}, database {url.database!r}"
