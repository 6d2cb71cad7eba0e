"""What a migration run tells monitoring: OpenTelemetry traces and metrics, exported with OTLP
only when an endpoint is configured.

One span per run (``db.upgrade staging``), one child span per revision step carrying the
ledger's outcome, the ledger row of each attempt, the blocker when one was named; waits for the
migration lock and lock-timeout retries are events. Metrics: step and run durations, the wait
for the migration lock, lock timeouts and retries, steps by outcome (:mod:`.otel_export`).

Configured by the standard variables: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``..._METRICS_ENDPOINT``), ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``; ``OTEL_SDK_DISABLED=true`` turns it off.
With no endpoint the runner gets :class:`RunTelemetry`, whose methods do nothing, and the
OpenTelemetry SDK is never imported: a run without telemetry costs nothing.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

from agent_db.commands.telemetry_hooks import RunTelemetry
from agent_db.errors import ConfigError

if TYPE_CHECKING:
    from agent_db.database.target import Target

__all__ = ["RunTelemetry", "configured", "start_telemetry"]

ENDPOINT_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)
SUPPORTED_PROTOCOL = "http/protobuf"


def configured() -> bool:
    """Whether an OTLP endpoint is set (and the SDK not disabled)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def start_telemetry(target: Target, run_id: uuid.UUID) -> RunTelemetry:
    """The telemetry of one run: exporting when configured, doing nothing otherwise.

    Refuses (exit 2) a protocol it cannot speak, before anything runs, rather than drop every
    span silently."""
    if not configured():
        return RunTelemetry()
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", SUPPORTED_PROTOCOL).strip() or SUPPORTED_PROTOCOL
    if protocol != SUPPORTED_PROTOCOL:
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol[:40]!r} is not supported: the toolkit exports "
            f"OTLP over HTTP ({SUPPORTED_PROTOCOL}); point OTEL_EXPORTER_OTLP_ENDPOINT at the "
            "collector's HTTP port (usually 4318) and unset OTEL_EXPORTER_OTLP_PROTOCOL"
        )
    from agent_db.commands.otel_export import OtelRunTelemetry

    return OtelRunTelemetry(target.name, run_id)
