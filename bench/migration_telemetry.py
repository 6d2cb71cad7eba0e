"""What migration telemetry costs a run: the project's revisions applied to a fresh database by
``migrate.upgrade`` (the runner: migration lock, ledger, steps) with no OTLP endpoint, with one
set to a local collector (this process), and by the code before telemetry existed.

    uv run python -m bench.migration_telemetry [--baseline cefaa88^ --baseline cefaa88] [--rounds 5]

Each measurement is a fresh process and a fresh database; the versions are run in the same
rounds, alternating. Reported: the process's CPU (imports included: with an endpoint the
OpenTelemetry SDK is imported, without one it must not be) and the upgrade's wall time, and
the spans the collector received (one per run plus one per revision step).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.api import extract_revision
from bench.common import create_database, drop_database, machine, server_url, with_database

# The commit that added commands/telemetry.py and its parent: what telemetry alone costs.
DEFAULT_BASELINES = ["cefaa88^", "cefaa88"]


def child() -> None:
    started = time.perf_counter()
    from agent_db.commands import migrate
    from agent_db.database.target import Target

    migrate.upgrade(Target.resolve("dev"))
    print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time()}))


@contextmanager
def collector() -> Iterator[tuple[str, list[int]]]:
    """A local OTLP/HTTP endpoint; yields its address and the span count of each trace export."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/v1/traces":
                request = ExportTraceServiceRequest.FromString(body)
                spans.append(sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", spans
    finally:
        server.shutdown()
        server.server_close()


def measure(env: dict[str, str]) -> dict[str, float]:
    name = create_database("migtel")
    try:
        url = with_database(server_url(), name)
        done = subprocess.run(
            [sys.executable, "-m", "bench.migration_telemetry", "--child"],
            env={**env, "DEV_DATABASE_URL": url},
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        drop_database(name)
    if done.returncode != 0:
        raise RuntimeError(f"measurement failed: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def cell(values: list[float], scale: float = 1.0) -> str:
    return f"{statistics.median(values) * scale:.0f} ({min(values) * scale:.0f}-{max(values) * scale:.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", action="append", metavar="REV", help="repeatable")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child()
        return 0
    plain = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    versions_dir = str(Path(__file__).resolve().parents[1] / "packages/db/src/agent_db/migrations/versions")
    plain["AGENT_DB_VERSIONS_DIR"] = versions_dir  # the same revisions for every version
    results: dict[str, list[dict[str, float]]] = {}
    exports: list[int] = []
    with tempfile.TemporaryDirectory(prefix="bench-migtel-") as folder, collector() as (endpoint, spans):
        variants = {
            "this checkout, no endpoint": plain,
            "this checkout, endpoint (local collector)": {**plain, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint},
        }
        for revision in arguments.baseline or DEFAULT_BASELINES:
            source = extract_revision(revision, Path(folder) / revision.replace("^", "-parent"))
            old_path = os.pathsep.join([str(source / "packages/db/src"), plain.get("PYTHONPATH", "")])
            variants[f"{revision}, no endpoint"] = {**plain, "PYTHONPATH": old_path.rstrip(os.pathsep)}
        loads = []
        for round_number in range(arguments.rounds):
            loads.append("/".join(f"{x:.2f}" for x in os.getloadavg()))
            order = list(variants.items())
            for label, env in order if round_number % 2 == 0 else order[::-1]:
                before = len(spans)
                result = measure(env)
                if "(local collector)" in label:
                    exports.append(sum(spans[before:]))
                results.setdefault(label, []).append(result)
                print(f"  {label}: {result['cpu']:.2f} s CPU, {result['seconds']:.2f} s", file=sys.stderr)
    print(f"Machine: {machine()}\nLoad average at each round: {', '.join(loads)}\n")
    print(
        "| version | process CPU ms (median, min-max) | upgrade wall ms | CPU / this checkout, no endpoint |"
    )
    print("| --- | --- | --- | --- |")
    base = [r["cpu"] for r in results["this checkout, no endpoint"]]
    for label, rows in results.items():
        cpu = [r["cpu"] for r in rows]
        ratios = [a / b for a, b in zip(cpu, base, strict=True)]
        print(f"| {label} | {cell(cpu, 1000)} | {cell([r['seconds'] for r in rows], 1000)} | "
              f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |")  # fmt: skip
    print(f"\nSpans received per run with the endpoint: {exports}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
