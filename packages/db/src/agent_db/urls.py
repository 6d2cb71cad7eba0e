"""Database URLs: one driver for the toolkit, one for the API, and never a password in output."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from agent_db.errors import ConfigError

SYNC_DRIVER = "postgresql+psycopg"
ASYNC_DRIVER = "postgresql+asyncpg"
_POSTGRES_NAMES = {"postgres", "postgresql"}


def parse_url(raw: str, *, source: str) -> URL:
    """Parse a PostgreSQL URL handed to us in any common spelling.

    ``source`` names where it came from (an environment variable) so errors can point there.
    Messages never quote the URL: a password that was not percent-encoded would show.
    """
    if raw.split("?", 1)[0].count("@") > 1:
        # A raw '@' in the password: the parser would take the rest of the password for the host
        # and database, and every "cannot reach" message would print that part.
        raise ConfigError(
            f"{source} has more than one '@': percent-encode special characters in the user "
            "name and password ('@' as %40, ':' as %3A, '/' as %2F, '%' as %25)"
        )
    try:
        url = make_url(raw.strip())
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
    return url


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
    return url.render_as_string(hide_password=True)


def describe_location(url: URL) -> str:
    """Host and port (or socket directory) and database, for 'cannot reach' messages."""
    host = url.host or url.query.get("host") or "localhost"
    if isinstance(host, tuple):
        host = ",".join(host)
    if str(host).startswith("/"):
        return f"unix socket in {host}, database {url.database!r}"
    return f"{host}:{url.port or 5432}, database {url.database!r}"
