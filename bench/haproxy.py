"""A real HAProxy in front of the API processes: installed if absent, configured, started,
steered through its runtime API, and watched.

- :func:`haproxy_path` finds Debian's ``haproxy`` (or ``BENCH_HAPROXY``) and, when it is missing
  and this is root on a Debian-like system, installs it with ``apt-get`` (otherwise it stops
  with the command to run).
- :class:`HAProxy` writes a configuration with one frontend and one backend whose servers are
  health-checked with ``option httpchk GET /ready`` (a server takes traffic only while its
  ``/ready`` answers 200), starts ``haproxy -db`` in a session of its own and stops it by its
  process-group id. Slots beyond the initial servers start in maintenance; a rollout points a
  free slot at a new process (``set server ... addr``), takes it out of maintenance, drains the
  old one and puts it back in maintenance, through the admin socket.
- :class:`ReadySampler` reads ``show stat`` every 50 ms: how many servers HAProxy would send a
  new request to (status UP), so the report can say the longest time with none.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.background import Sampler, stop_group
from tests.support.ports import free_port

BACKEND = "api"
HAPROXY_MISSING = (
    "haproxy is not installed and cannot be installed from here: the release benchmark runs the "
    "API behind a real HAProxy. Install it with `sudo apt-get install haproxy` (Debian/Ubuntu) or "
    "`brew install haproxy` (macOS), or set BENCH_HAPROXY to its path."
)


class HAProxyMissing(RuntimeError):
    pass


def haproxy_path(log: object = None) -> str:
    """The haproxy binary; installed with apt-get when absent and this process may do so."""
    found = os.environ.get("BENCH_HAPROXY") or shutil.which("haproxy") or _sbin("haproxy")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise HAProxyMissing(HAPROXY_MISSING)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "--no-install-recommends", "haproxy"]
    result = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:  # a stale package list: refresh it once, then try again
        subprocess.run([apt, "update"], capture_output=True, text=True, env=env, check=False)
        result = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    found = shutil.which("haproxy") or _sbin("haproxy")
    if result.returncode != 0 or not found:
        raise HAProxyMissing(f"{HAPROXY_MISSING}\napt-get said: {result.stderr.strip()[-500:]}")
    return found


def _sbin(name: str) -> str | None:
    path = Path("/usr/sbin") / name
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def version(binary: str) -> str:
    output = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stdout
    return output.splitlines()[0] if output else "?"


CONFIG = """\
global
    maxconn 4096
    stats socket {socket} mode 600 level admin
    stats timeout 30s

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 10s
    timeout queue 10s
    # A check may take longer than the interval on a loaded machine: a slow /ready is not
    # a failed one.
    timeout check 2s
    option http-keep-alive
    # Only what is always safe to retry: a connection that could not be made (nothing was
    # sent). Retries and redispatches are counted and reported.
    retries 2
    option redispatch 1
    retry-on conn-failure

frontend {backend}_front
    bind 127.0.0.1:{port}
    default_backend {backend}

backend {backend}
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    # slowstart: a server that comes UP (a new process, its pool and caches cold) gets its
    # share of the traffic raised over that time instead of all at once.
    default-server inter {inter_ms}ms fastinter {inter_ms}ms downinter {inter_ms}ms rise 2 fall 2 slowstart {slowstart_s}s
{servers}
"""


@dataclass
class HAProxy:
    """HAProxy with ``slots`` server entries; ``initial`` maps slot name to the port of a
    process already serving (the other slots start in maintenance)."""

    binary: str
    folder: Path
    slots: tuple[str, ...]
    initial: dict[str, int]
    check_interval_ms: int = 250
    slowstart_seconds: int = 5
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.folder / "haproxy.sock"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        servers = []
        for slot in self.slots:
            if slot in self.initial:
                servers.append(f"    server {slot} 127.0.0.1:{self.initial[slot]} check")
            else:  # a placeholder address until a rollout points it at a process
                servers.append(f"    server {slot} 127.0.0.1:9 check disabled")
        return CONFIG.format(
            socket=self.socket_path,
            backend=BACKEND,
            port=self.port,
            inter_ms=self.check_interval_ms,
            slowstart_s=self.slowstart_seconds,
            servers="\n".join(servers),
        )

    def start(self, timeout: float = 15) -> None:
        self.port = self.port or free_port()
        path = self.folder / "haproxy.cfg"
        path.write_text(self.config())
        check = subprocess.run([self.binary, "-c", "-f", str(path)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its configuration:\n{check.stdout}{check.stderr}")
        log = (self.folder / "haproxy.log").open("wb")
        self.process = subprocess.Popen(
            [self.binary, "-db", "-f", str(path)], stdout=log, stderr=log, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.process.returncode}; see {log.name}")
            with contextlib.suppress(OSError):
                self.command("show info")
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"haproxy's admin socket did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        stop_group(self.process, timeout=10)

    def command(self, line: str) -> str:
        """One command on the admin socket (the runtime API); its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(5)
            connection.connect(str(self.socket_path))
            connection.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        answer = b"".join(chunks).decode()
        if answer.strip() and any(
            word in answer for word in ("Unknown command", "No such", "Require", "not found")
        ):
            raise RuntimeError(f"haproxy refused `{line}`: {answer.strip()}")
        return answer

    def stats(self) -> list[dict[str, str]]:
        """``show stat`` as rows (one per frontend, server and backend)."""
        text = self.command("show stat").lstrip("# ")
        return list(csv.DictReader(io.StringIO(text)))

    def servers(self) -> dict[str, dict[str, str]]:
        return {
            row["svname"]: row
            for row in self.stats()
            if row.get("pxname") == BACKEND and row.get("svname") not in ("BACKEND", "FRONTEND")
        }

    def backend(self) -> dict[str, str]:
        return next(r for r in self.stats() if r.get("pxname") == BACKEND and r.get("svname") == "BACKEND")

    def point(self, slot: str, port: int) -> None:
        """Point a slot (in maintenance) at a process on ``port`` and put it in rotation: it
        takes traffic once HAProxy's checks of its ``/ready`` pass."""
        self.command(f"set server {BACKEND}/{slot} addr 127.0.0.1 port {port}")
        self.command(f"set server {BACKEND}/{slot} state ready")

    def drain(self, slot: str) -> None:
        """No new requests to ``slot``; those in flight finish."""
        self.command(f"set server {BACKEND}/{slot} state drain")

    def maintenance(self, slot: str) -> None:
        self.command(f"set server {BACKEND}/{slot} state maint")

    def wait_status(self, slot: str, prefix: str, timeout: float) -> float:
        """Seconds until ``slot``'s status starts with ``prefix`` (UP, MAINT...)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.servers()[slot]["status"].startswith(prefix):
                return time.monotonic() - started
            time.sleep(0.05)
        status = self.servers()[slot]
        raise RuntimeError(
            f"haproxy: {slot} still {status['status']} after {timeout:.0f} s "
            f"(last check: {status.get('check_status')} {status.get('check_desc', '')})"
        )

    def wait_idle(self, slot: str, timeout: float) -> float:
        """Seconds until ``slot`` has no session in flight (after :meth:`drain`)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if int(self.servers()[slot]["scur"] or 0) == 0:
                return time.monotonic() - started
            time.sleep(0.02)
        raise RuntimeError(f"haproxy: {slot} still has sessions after {timeout:.0f} s of draining")


@dataclass
class ReadySampler(Sampler):
    """How many servers are UP, every ``interval`` seconds, from ``show stat``."""

    proxy: HAProxy
    interval: float = 0.05
    samples: list[tuple[float, int, dict[str, str]]] = field(default_factory=list)
    errors: int = 0
    name = "ready-sampler"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                servers = self.proxy.servers()
            except (OSError, RuntimeError, StopIteration):
                self.errors += 1
            else:
                statuses = {name: row["status"] for name, row in servers.items()}
                up = sum(1 for status in statuses.values() if status.startswith("UP"))
                self.samples.append((time.time(), up, statuses))
            self._stop.wait(self.interval)

    def minimum(self, start: float, end: float) -> int | None:
        inside = [up for t, up, _ in self.samples if start <= t < end]
        return min(inside) if inside else None

    def longest_without(self, start: float, end: float) -> float:
        """The longest stretch of samples with no server UP, in seconds (a lone zero sample
        counts as one interval)."""
        longest, since = 0.0, None
        for t, up, _ in self.samples:
            if not start <= t < end:
                continue
            if up == 0:
                since = t if since is None else since
                longest = max(longest, t - since + self.interval)
            else:
                since = None
        return longest
