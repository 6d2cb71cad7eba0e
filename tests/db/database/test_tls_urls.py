"""libpq URL parameters for the toolkit (psycopg), against a PostgreSQL the tests start with
TLS on (tests/support/tls_server.py): the server refuses TCP without TLS, so every connection
that works here was encrypted, and its certificate names ``localhost`` only."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import text

from agent_db.commands import migrate
from agent_db.errors import DatabaseUnavailable
from agent_db.revisions.graph import default_graph
from agent_db.urls import parse_url
from tests.support.cli import run_invoke
from tests.support.databases import target_for, url_text
from tests.support.tls_server import CLIENT_CERT_DATABASE, TlsServer

pytestmark = pytest.mark.usefixtures("tls_server")


def _database(tls: TlsServer) -> str:
    name = f"tls_{secrets.token_hex(4)}"
    tls.server.create_database(name)
    return name


def test_verify_full_migrates_and_every_parameter_means_what_libpq_says(tls_server: TlsServer) -> None:
    name = _database(tls_server)
    url = tls_server.url(
        name,
        sslmode="verify-full",
        sslrootcert=str(tls_server.ca),
        connect_timeout="10",
        application_name="deploy-job",
        options="-c work_mem=7MB",
    )
    target = target_for("staging", parse_url(url_text(url), source="STAGING_DATABASE_URL"))
    migrate.upgrade(target)
    head = default_graph().single_head()
    assert tls_server.server.execute("SELECT version_num FROM alembic_version", name) == [(head,)]
    with target.connect() as connection:
        assert connection.scalar(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")) is True
        assert connection.scalar(text("SHOW application_name")) == "deploy-job"
        assert connection.scalar(text("SHOW work_mem")) == "7MB"
        parameters = connection.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
        assert parameters["connect_timeout"] == "10"  # the URL's, not the toolkit's default of 5


def test_toolkit_names_itself_when_the_url_does_not(tls_server: TlsServer) -> None:
    url = tls_server.url(sslmode="require")
    with target_for("dev", url).connect(purpose="agent-db:probe") as connection:
        assert connection.scalar(text("SHOW application_name")) == "agent-db:probe"


def test_verify_full_refuses_a_certificate_for_another_name(tls_server: TlsServer) -> None:
    url = tls_server.url(host="127.0.0.1", sslmode="verify-full", sslrootcert=str(tls_server.ca))
    with (
        pytest.raises(DatabaseUnavailable, match="does not match host name"),
        target_for("dev", url).connect(),
    ):
        pass
    # verify-ca checks the authority and not the name: the same server is accepted.
    trusted = tls_server.url(host="127.0.0.1", sslmode="verify-ca", sslrootcert=str(tls_server.ca))
    with target_for("dev", trusted).connect() as connection:
        assert connection.scalar(text("SELECT 1")) == 1


def test_client_certificate_files_are_sent(tls_server: TlsServer) -> None:
    files = tls_server.certificates
    url = tls_server.url(
        CLIENT_CERT_DATABASE,
        sslmode="verify-full",
        sslrootcert=str(tls_server.ca),
        sslcert=str(files / "client.crt"),
        sslkey=str(files / "client.key"),
    )
    with target_for("dev", url).connect() as connection:
        assert connection.scalar(text("SELECT 1")) == 1
    no_certificate = target_for("dev", tls_server.url(CLIENT_CERT_DATABASE, sslmode="require"))
    with pytest.raises(DatabaseUnavailable, match="client certificate"), no_certificate.connect():
        pass


def test_several_hosts_and_target_session_attrs(tls_server: TlsServer) -> None:
    """The first host refuses (nothing listens on port 1): libpq goes on to the next one;
    ``target_session_attrs=standby`` finds none among them (a primary only)."""
    port = tls_server.server.port
    raw = f"postgresql://postgres@127.0.0.1:1,localhost:{port}/postgres?sslmode=require&target_session_attrs=read-write"
    url = parse_url(raw, source="DEV_DATABASE_URL")
    with target_for("dev", url).connect() as connection:
        assert connection.scalar(text("SELECT inet_server_port()")) == port
    standby = parse_url(raw.replace("read-write", "standby"), source="DEV_DATABASE_URL")
    with pytest.raises(DatabaseUnavailable), target_for("dev", standby).connect():
        pass


def test_a_hosted_url_migrates_with_the_same_command(tls_server: TlsServer) -> None:
    """What a hosted PostgreSQL hands out (``?sslmode=require&connect_timeout=10``), as is."""
    name = _database(tls_server)
    raw = (
        f"postgresql://postgres@localhost:{tls_server.server.port}/{name}?sslmode=require&connect_timeout=10"
    )
    result = run_invoke("db.upgrade", "--env", "staging", env={"STAGING_DATABASE_URL": raw})
    assert result.code == 0, result.output
    assert tls_server.server.execute("SELECT version_num FROM alembic_version", name) == [
        (default_graph().single_head(),)
    ]
    plain = raw.replace("sslmode=require", "sslmode=disable")
    refused = run_invoke("db.current", "--env", "staging", env={"STAGING_DATABASE_URL": plain})
    assert refused.code == 1
    assert "no encryption" in refused.stderr
