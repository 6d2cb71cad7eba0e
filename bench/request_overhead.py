"""What the API's request context costs each request (agent_api.request_context: the request id,
the metrics, the JSON access line), measured in-process around a bare ASGI app that answers at
once, so nothing else is in the figure.

    uv run python -m bench.request_overhead [--baseline REV] [--rounds 3] [--requests 20000]

Each measurement is a fresh process: the middleware with the access line at ``info`` (written
as JSON to /dev/null through the handler the API installs), the same with the log level at
``warning`` (no line), and the bare app alone; CPU microseconds per request, the best of five
passes. ``--baseline REV`` measures the code at REV (it must have the request context) in the
same rounds, alternating; code from before d78ff89's successor formatted with python-json-logger,
which the project no longer installs: add it for the run with
``uv run --with python-json-logger python -m bench.request_overhead --baseline d78ff89``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.api import extract_revision, revision_import_path
from bench.common import machine

CASES = ("access line at info", "no access line", "bare app")
ROUTE = "/api/v1/users/me"


async def _measure(requests: int) -> dict[str, float]:
    import logging

    from agent_api.metrics import build_metrics
    from agent_api.request_context import RequestContextMiddleware
    from agent_db.logs import make_handler

    class Route:
        path = ROUTE

    route = Route()

    async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["route"] = route
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    headers = [(b"host", b"bench"), (b"authorization", b"Bearer x")]
    logger = logging.getLogger("agent_api")
    logger.propagate = False
    logger.addHandler(make_handler("json", Path(os.devnull).open("w")))  # noqa: SIM115 (the process's life)
    middleware = RequestContextMiddleware(bare, build_metrics(), {id(route): ROUTE})  # type: ignore[arg-type]

    async def run(app: Any, count: int) -> float:
        started = time.process_time()
        for _ in range(count):
            await app({"type": "http", "method": "GET", "path": ROUTE, "headers": headers}, receive, send)
        return (time.process_time() - started) / count * 1e6

    results: dict[str, float] = {}
    for case, app, level in (
        (CASES[0], middleware, logging.INFO),
        (CASES[1], middleware, logging.WARNING),
        (CASES[2], bare, logging.INFO),
    ):
        logger.setLevel(level)
        await run(app, 2000)  # warm-up
        results[case] = min([await run(app, requests) for _ in range(5)])
    return results


def measure(env: dict[str, str], requests: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.request_overhead", "--child", "--requests", str(requests)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"measurement failed: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def source_env(source: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = revision_import_path(source, env)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", metavar="REV")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(asyncio.run(_measure(arguments.requests))))
        return 0
    figures: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-request-overhead-") as folder:
        versions: list[tuple[str, Path | None]] = [("this checkout", None)]
        if arguments.baseline:
            versions.append((arguments.baseline, extract_revision(arguments.baseline, Path(folder))))
        for round_number in range(arguments.rounds):
            for label, source in versions if round_number % 2 == 0 else versions[::-1]:
                for case, value in measure(source_env(source), arguments.requests).items():
                    figures.setdefault((label, case), []).append(value)
                print(f"  round {round_number + 1} ({label}) done", file=sys.stderr, flush=True)
    print(f"Machine: {machine()}\n")
    labels = [label for label, _ in versions]
    print("| per request, CPU us (median of rounds, min-max) | " + " | ".join(labels) + " |")
    print("| --- |" + " --- |" * len(labels))
    for case in CASES:
        cells = []
        for label in labels:
            values = figures[label, case]
            cells.append(f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})")
        print(f"| {case} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
