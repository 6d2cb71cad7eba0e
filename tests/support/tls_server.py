"""A PostgreSQL of the test's own with TLS on: a throwaway certificate authority (openssl), a
server certificate for ``localhost`` only (so ``verify-full`` to 127.0.0.1 must fail), a client
certificate for ``postgres``, and a ``pg_hba.conf`` that refuses every TCP connection without
TLS (so a test that connects has proved the connection is encrypted).

Built from the system's server binaries (``pg_config --bindir``): those are compiled with
OpenSSL, the embedded wheel's need not be.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from tests.support.own_server import OwnServer

CLIENT_CERT_DATABASE = "clientcert"  # pg_hba.conf asks this database for a client certificate
HBA = f"""
local all all trust
hostssl {CLIENT_CERT_DATABASE} all 127.0.0.1/32 trust clientcert=verify-full
hostssl all all 127.0.0.1/32 trust
host all all 127.0.0.1/32 reject
host all all ::1/128 reject
"""


def system_bin_dir() -> Path | None:
    """The system PostgreSQL's server binaries, or None when there is no pg_config."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    folder = Path(
        subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
    )
    return folder if (folder / "postgres").exists() else None


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, check=True, timeout=60)


def make_certificates(folder: Path) -> None:
    """ca.crt; server.crt/.key for DNS:localhost; client.crt/.key for the user postgres."""
    folder.mkdir(parents=True, exist_ok=True)
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.crt", "-days", "3",
             "-subj", "/CN=agent-test-ca", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)  # fmt: skip
    for name, subject, extension in (
        ("server", "/CN=localhost", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n"),
        ("client", "/CN=postgres", "extendedKeyUsage=clientAuth\n"),
    ):
        (folder / f"{name}.ext").write_text(extension)
        _openssl("req", *curve, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=folder)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", "3", "-extfile", f"{name}.ext",
                 cwd=folder)  # fmt: skip
        (folder / f"{name}.key").chmod(0o600)


@dataclass
class TlsServer:
    server: OwnServer
    certificates: Path

    @property
    def ca(self) -> Path:
        return self.certificates / "ca.crt"

    def url(self, database: str = "postgres", *, host: str = "localhost", **query: str) -> URL:
        """A TCP URL to the server with libpq query parameters (``sslmode=...``...)."""
        return URL.create(
            "postgresql+psycopg",
            username="postgres",
            host=host,
            port=self.server.port,
            database=database,
            query=query,
        )

    def destroy(self) -> None:
        self.server.destroy()


def start_tls_server(bin_dir: Path) -> TlsServer:
    server = OwnServer.create(bin_dir=bin_dir)
    certificates = server.root / "tls"
    make_certificates(certificates)
    owned = [certificates, *certificates.iterdir()]
    server.as_owner(*owned)
    (server.data / "pg_hba.conf").write_text(HBA)
    server.settings.update(
        {
            "ssl": "on",
            "ssl_cert_file": str(certificates / "server.crt"),
            "ssl_key_file": str(certificates / "server.key"),
            "ssl_ca_file": str(certificates / "ca.crt"),
        }
    )
    server.start()
    server.create_database(CLIENT_CERT_DATABASE)
    return TlsServer(server, certificates)
