"""The OpenTelemetry side of :mod:`.telemetry`: imported only when an OTLP endpoint is set.

Each run has a tracer and a meter provider of its own (not the process-wide globals), exported
with OTLP over HTTP and shut down when the run ends, which flushes what is left: a CLI run is
short and must not end before its spans are sent. A ``TRACEPARENT`` variable (W3C trace
context, as a CI step or a deploy tool may set it) makes the run's span a child of that trace.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, Status, StatusCode, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import agent_db
from agent_db.commands.telemetry_hooks import RunTelemetry
from agent_db.database import ledger
from agent_db.revisions.phases import phase_of

if TYPE_CHECKING:
    from agent_db.revisions.revision_file import Revision

logger = logging.getLogger(__name__)

SCOPE = "agent_db.migrations"
# Metrics are sent at the end of the run; the period only matters for runs of many minutes.
EXPORT_INTERVAL_MS = 60_000


def ci_attributes() -> dict[str, str]:
    """The CI run this process belongs to, as OpenTelemetry's ``cicd.*`` / ``vcs.*`` names."""
    found: dict[str, str] = {}
    environ = os.environ
    if environ.get("GITHUB_RUN_ID"):
        found["cicd.pipeline.run.id"] = environ["GITHUB_RUN_ID"]
        found["cicd.pipeline.run.attempt"] = environ.get("GITHUB_RUN_ATTEMPT", "1")
        found["cicd.pipeline.name"] = environ.get("GITHUB_WORKFLOW", "")
        found["cicd.pipeline.task.name"] = environ.get("GITHUB_JOB", "")
        found["vcs.repository.name"] = environ.get("GITHUB_REPOSITORY", "")
    run_url = ledger.ci_run()
    if run_url:
        found["cicd.pipeline.run.url.full"] = run_url
    return {key: value for key, value in found.items() if value}


class OtelRunTelemetry(RunTelemetry):
    def __init__(self, environment: str, run_id: uuid.UUID) -> None:
        self.environment = environment
        self.run_id = str(run_id)
        resource = Resource.create(
            {
                "service.name": os.environ.get("OTEL_SERVICE_NAME") or "agent-db",
                "service.version": agent_db.__version__,
                "deployment.environment.name": environment,
            }
        )
        self._tracing = TracerProvider(resource=resource)
        self._tracing.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(), export_interval_millis=EXPORT_INTERVAL_MS
        )
        self._metering = MeterProvider(resource=resource, metric_readers=[reader])
        tracer = self._tracing.get_tracer(SCOPE, agent_db.__version__)
        meter = self._metering.get_meter(SCOPE, agent_db.__version__)
        self._step_duration = meter.create_histogram(
            "agent_db.migration.step.duration", unit="s", description="Time one revision step took"
        )
        self._run_duration = meter.create_histogram(
            "agent_db.migration.run.duration", unit="s", description="Time one migration run took"
        )
        self._lock_wait = meter.create_histogram(
            "agent_db.migration.lock.wait", unit="s", description="Wait for the migration lock"
        )
        self._steps = meter.create_counter("agent_db.migration.steps", description="Steps by outcome")
        self._lock_timeouts = meter.create_counter(
            "agent_db.migration.lock_timeouts", description="Step attempts stopped by lock_timeout"
        )
        self._retries = meter.create_counter(
            "agent_db.migration.retries", description="Step attempts retried"
        )
        self._started = time.monotonic()
        self._base = {"agent_db.environment": environment}
        parent: Context | None = None
        if os.environ.get("TRACEPARENT"):
            parent = TraceContextTextMapPropagator().extract({"traceparent": os.environ["TRACEPARENT"]})
        provenance = ledger.provenance()
        self._run: Span = tracer.start_span(
            f"db.migrate {environment}",
            context=parent,
            attributes={
                **self._base,
                "agent_db.run_id": self.run_id,
                "agent_db.actor": provenance["actor"] or "",
                "vcs.ref.head.revision": provenance["git_commit"] or "",
                "agent_db.tool_version": provenance["tool_version"] or "",
                **ci_attributes(),
            },
        )
        self._tracer = tracer
        self._step: Span | None = None
        self._direction = "upgrade"

    def lock_waiting(self, holder: str | None, remaining_seconds: float) -> None:
        self._run.add_event(
            "migration_lock.wait",
            {"agent_db.lock.holder": holder or "unknown", "agent_db.lock.remaining_s": remaining_seconds},
        )

    def lock_acquired(self, waited_seconds: float) -> None:
        self._run.add_event("migration_lock.acquired", {"agent_db.lock.waited_s": waited_seconds})
        self._lock_wait.record(waited_seconds, self._base)

    wants_positions = True

    def positions_before(self, before: tuple[str, ...]) -> None:
        self._run.set_attribute("agent_db.revisions.before", list(before))

    def run_planned(self, direction: str, revisions: list[str]) -> None:
        self._direction = direction
        self._run.update_name(f"db.{direction} {self.environment}")
        self._run.set_attributes({"agent_db.direction": direction, "agent_db.revisions.pending": revisions})

    def step_attempt(
        self, revision: Revision, direction: str, index: int, total: int, attempt: int, ledger_row: int
    ) -> None:
        if self._step is None:
            attributes: dict[str, Any] = {
                **self._base,
                "agent_db.run_id": self.run_id,
                "agent_db.direction": direction,
                "agent_db.revision": revision.id,
                "agent_db.revision.message": revision.message,
                "agent_db.step.index": index,
                "agent_db.step.total": total,
            }
            if revision.id != "base":
                attributes["agent_db.revision.phase"] = phase_of(revision)
            self._step = self._tracer.start_span(
                f"{direction} {revision.id}", context=set_span_in_context(self._run), attributes=attributes
            )
        self._step.add_event("attempt", {"agent_db.attempt": attempt, "agent_db.ledger.row_id": ledger_row})
        self._step.set_attribute("agent_db.attempts", attempt)

    def step_retrying(self, revision: Revision, message: str, blocker: str | None, delay: float) -> None:
        attributes = {**self._base, "agent_db.revision": revision.id}
        self._lock_timeouts.add(1, attributes)
        self._retries.add(1, attributes)
        if self._step is not None:
            event: dict[str, Any] = {"agent_db.retry.delay_s": delay, "message": message}
            if blocker:
                event["agent_db.blocker"] = blocker
            self._step.add_event("lock_timeout.retry", event)

    def step_finished(
        self,
        revision: Revision,
        outcome: str,
        seconds: float,
        *,
        error: str | None = None,
        blocker: str | None = None,
    ) -> None:
        attributes = {**self._base, "agent_db.direction": self._direction, "agent_db.outcome": outcome}
        self._step_duration.record(seconds, attributes)
        self._steps.add(1, attributes)
        step, self._step = self._step, None
        if step is None:
            return
        step.set_attribute("agent_db.ledger.outcome", outcome)
        if blocker:
            step.set_attribute("agent_db.blocker", blocker)
            self._lock_timeouts.add(1, {**self._base, "agent_db.revision": revision.id})
        if error is not None:
            step.set_status(Status(StatusCode.ERROR, error[:500]))
        step.end()

    def run_finished(self, error: BaseException | None, after: tuple[str, ...] | None = None) -> None:
        if self._step is not None:  # interrupted mid-step (Ctrl-C, a lost connection)
            self._step.set_attribute("agent_db.ledger.outcome", "running")
            self._step.set_status(Status(StatusCode.ERROR, "interrupted"))
            self._step.end()
            self._step = None
        outcome = "success" if error is None else "failed"
        if after is not None:
            self._run.set_attribute("agent_db.revisions.after", list(after))
        self._run.set_attribute("agent_db.outcome", outcome)
        if error is not None:
            self._run.set_status(Status(StatusCode.ERROR, str(error)[:500] or type(error).__name__))
        self._run.end()
        seconds = time.monotonic() - self._started
        self._run_duration.record(seconds, {**self._base, "agent_db.outcome": outcome})
        # Shutting down sends what is left; the exporters report an unreachable collector as a
        # warning. Nothing here may turn a migration's outcome into another one.
        try:
            self._tracing.shutdown()
            self._metering.shutdown()
        except Exception as error:  # pragma: no cover - the SDK logs and swallows its own
            logger.warning("could not export the run's telemetry: %s", error)
