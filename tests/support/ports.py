"""A free loopback port, for every server a test or a benchmark starts (uvicorn, PostgreSQL)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1. Nothing reserves it, so start the
    server right after asking."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
