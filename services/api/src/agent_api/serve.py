"""Serve the API with uvicorn the one way the project runs it: ``python -m agent_api`` (the
image's command) and ``invoke api.serve`` (which adds dev's embedded database) both call
:func:`serve`.

Run so, every line the process writes is a structured one (JSON when stderr is not a terminal:
uvicorn's own lines too, see :func:`agent_api.logging_setup.uvicorn_log_config`), uvicorn's
plain-text access log is off (the app writes one richer line per request), a request uvicorn
cannot parse gets the API's error shape, and ``X-Forwarded-For`` is left to the app (read only
from ``[api] trusted_proxies``; uvicorn would trust 127.0.0.1). A setting or URL the API cannot
use stops it before any worker starts.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import tempfile

import uvicorn

from agent_api.boundary_errors import HTTP_PROTOCOL
from agent_api.database import check_api_url
from agent_api.logging_setup import uvicorn_log_config
from agent_api.metrics import MULTIPROCESS_ENV
from agent_api.settings import load_api_settings
from agent_db.database.target import resolve_url
from agent_db.settings import load_settings


def serve(environment: str, host: str, port: int, workers: int) -> None:
    # uvicorn re-raises SIGTERM after its graceful shutdown; with the default handler that kills
    # the process before atexit runs (an embedded PostgreSQL would be left running).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    settings = load_settings(environment)
    api_settings = load_api_settings(environment)  # refused here, before any worker starts
    check_api_url(settings)
    # Resolved once here (dev may start its embedded server) and handed to the workers.
    url = resolve_url(settings, api=True)
    os.environ[settings.database_url_env] = url.render_as_string(hide_password=False)
    os.environ["AGENT_ENV"] = environment
    if workers > 1:
        share_metrics_between_workers()
    uvicorn.run(
        "agent_api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=api_settings.log_level,
        log_config=uvicorn_log_config(api_settings.log_level, api_settings.log_format),
        access_log=False,  # the app logs each request itself, with its id (agent_api.access)
        http=HTTP_PROTOCOL,
        proxy_headers=False,
    )


def share_metrics_between_workers() -> None:
    """Several workers answer /metrics in turn: give them one fresh directory in which the
    Prometheus client sums their values (an inherited one is kept, as the operator set it)."""
    if not os.environ.get(MULTIPROCESS_ENV):
        folder = tempfile.mkdtemp(prefix="agent-api-metrics-")
        os.environ[MULTIPROCESS_ENV] = folder
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
