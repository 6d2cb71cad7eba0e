"""The release benchmark's report: what the traffic saw, what HAProxy saw, what the gate said."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.migrations_load import (
    API_APPLICATION,
    MIGRATION_APPLICATION,
    describe_wait,
    failed,
    ms,
    percentile,
    window,
)

if TYPE_CHECKING:
    from bench import dataset
    from bench.haproxy import ReadySampler
    from bench.locks import LockSampler
    from bench.release_builds import Builds


@dataclass(frozen=True)
class ToolRun:
    label: str
    build: str
    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    started: float
    finished: float

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    def said(self, limit: int = 700) -> str:
        """What the command said: the revisions it applied, else its message."""
        try:
            document = json.loads(self.stdout)
        except ValueError:
            document = None
        if isinstance(document, dict):
            applied = document.get("applied")
            if self.exit_code == 0 and isinstance(applied, list):
                held = document.get("held_back") or []
                rest = f"; held back for the contract phase: {', '.join(held)}" if held else ""
                return f"applied {', '.join(applied) or 'nothing'}{rest}"
            message = _message(document)
            if message:
                return _clip(message, limit)
        return _clip(" ".join(self.stderr.split()) or self.stdout.strip(), limit)


def _message(document: dict[str, Any]) -> str:
    for key in ("message", "error", "reason"):
        value = document.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):
            inner = _message(value)
            if inner:
                return inner
    return ""


def _clip(text: str, limit: int) -> str:
    return text[:limit] + "..." if len(text) > limit else text


@dataclass
class Outcome:
    records: list[list[Any]]
    events: list[tuple[float, str]]
    tools: list[ToolRun]
    readiness: list[tuple[str, int, str]]
    sampler: ReadySampler
    counters: dict[str, dict[str, str]]
    locks: LockSampler

    def at(self, prefix: str) -> float | None:
        return next((t for t, label in self.events if label.startswith(prefix)), None)


@dataclass
class Report:
    outcome: Outcome
    builds: Builds
    haproxy: str
    gate: bool
    failure: str | None
    loads: list[str]
    shape: dataset.Shape
    arguments: dict[str, Any] = field(default_factory=dict)
    unreniced: int = 0
    checks: list[tuple[str, bool, str]] = field(default_factory=list)


def _p(records: list[list[Any]], q: float) -> float:
    return percentile([r[1] for r in records], q)


def render(report: Report) -> tuple[str, bool]:
    """The Markdown report and whether every "done when" criterion holds."""
    o = report.outcome
    traffic = o.at("traffic starts") or 0.0
    baseline, begin = o.at("baseline starts") or traffic, o.at("release starts") or traffic
    end = o.at("release done") or o.at("release stopped") or begin
    stop = o.at("traffic stops") or end
    before, during, after = (
        window(o.records, a, b) for a, b in ((baseline, begin), (begin, end), (end, stop))
    )
    p99 = [_p(part, 0.99) for part in (before, during, after)]
    ratio = p99[1] / p99[0] if p99[0] == p99[0] and p99[0] > 0 else float("nan")
    fewest = o.sampler.minimum(traffic, stop)
    none_for = o.sampler.longest_without(traffic, stop)
    backend = o.counters.get("backend", {})
    refused = [t for t in o.tools if t.label.startswith("contract, an N")]
    final = [t for t in o.tools if t.label.startswith("contract, no N")]
    gate_ok = bool(refused and refused[0].exit_code == 3 and final and final[0].exit_code == 0)
    criteria = [
        ("0 failed requests", failed(o.records) == 0, f"{failed(o.records)} of {len(o.records):,}"),
        (
            "never zero ready backends",
            fewest is not None and fewest >= 1,
            f"fewest in rotation: {fewest}; longest with none: {none_for:.2f} s",
        ),
        ("p99 during <= 2x p99 before", ratio <= 2.0, f"{ratio:.2f}x"),
        (
            "contract gate refused while an N process lived, ran once none did",
            gate_ok,
            "; ".join(f"{t.label}: exit {t.exit_code}" for t in (*refused, *final)) or "not exercised",
        ),
    ]
    criteria += report.checks
    if report.failure:
        criteria.append(("the release completed", False, report.failure))
    met = all(ok for _, ok, _ in criteria)
    b = report.builds
    lines = [
        f"Builds: N = `{b.old.short}` ({report.arguments.get('release', 'HEAD')}{'; it had uncommitted changes, in neither build' if b.dirty else ''}), "
        f"N+1 = `{b.new.short}` (branch `bench/release-n1` of a scratch clone: {b.diffstat.splitlines()[-1].strip() if b.diffstat else ''}). "
        f"{report.haproxy}, `option httpchk GET /ready` every 250 ms, rise 2 / fall 2, slowstart 5 s; "
        f"a new process serves {report.arguments.get('min_ready', 0):g} s beside the old one before it drains; "
        "bytecode compiled beforehand, as in the image.",
        "",
        f"Dataset: {report.shape.users:,} users (one in ten a superuser), {report.shape.conversations:,} "
        f"conversations, {report.shape.messages:,} messages. Traffic: {report.arguments.get('rate', 0):g} req/s "
        "open loop through HAProxy (3 in 10 `GET /users/me`, 2 `GET /agents/{id}`, 3 `GET .../messages?limit=20`, "
        "2 `POST .../messages`), 1,000 users; two API processes of 1 uvicorn worker each. "
        f"Load average at the start, the release's start and its end: {', '.join(report.loads)}. "
        f"The release's own work (toolkit runs, processes starting) at niceness {report.arguments.get('deploy_nice', 0)}"
        + (
            f" ({report.unreniced} process(es) could not be put back to 0: not root)."
            if report.unreniced
            else "."
        ),
        "",
        "| criterion | met | measured |",
        "| --- | --- | --- |",
        *(f"| {name} | {'yes' if ok else '**no**'} | {detail} |" for name, ok, detail in criteria),
        "",
        "| window | requests | failed | p50 | p99 | slowest |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, part in (("before (baseline)", before), ("during the release", during), ("after", after)):
        lines.append(
            f"| {name} ({_seconds(part)}) | {len(part):,} | {failed(part)} | {ms(_p(part, 0.5))} | "
            f"{ms(_p(part, 0.99))} | {ms(max((r[1] for r in part), default=float('nan')))} |"
        )
    lines += [
        "",
        f"HAProxy's counters: {backend.get('stot', '?')} sessions to the backend, "
        f"{backend.get('hrsp_5xx', '?')} 5xx answers, {backend.get('econ', '?')} connection errors, "
        f"{backend.get('wretr', '?')} retries, {backend.get('wredis', '?')} redispatches, "
        f"backend downtime {backend.get('downtime', '?')} s; sampler: {len(o.sampler.samples):,} samples "
        f"of `show stat`, {o.sampler.errors} unanswered.",
        "",
        f"Longest lock wait during the release (pg_locks every 50 ms): the API's sessions "
        f"{describe_wait(o.locks.longest(begin, end, API_APPLICATION))}; the migration's "
        f"{describe_wait(o.locks.longest(begin, end, MIGRATION_APPLICATION))}.",
        "",
        "The toolkit's runs (N+1's `invoke db.upgrade --env staging --json`):",
        "",
        "| step | arguments | exit | seconds | said |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {t.label} | `{' '.join(t.args) or '(none)'}` | {t.exit_code} | {t.seconds:.1f} | {_cell(t.said())} |"
            for t in o.tools
        ),
    ]
    if not report.gate:
        lines += [
            "",
            "N+1's toolkit has no `--phase` flag: no contract gate to exercise. The expand revision "
            "ran with `--to`, and the contract only after the last N process had stopped.",
        ]
    if o.readiness:
        lines += ["", "Each process's own `/ready`:", "", "| when | status | reason |", "| --- | --- | --- |"]
        lines += [f"| {when} | {status} | {_cell(reason) or '-'} |" for when, status, reason in o.readiness]
    lines += [
        "",
        "Timeline (seconds from the first request; the traffic due from each event to the next):",
        "",
        "| t | event | requests | failed | p99 | slowest |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for index, (t, label) in enumerate(o.events):
        following = o.events[index + 1][0] if index + 1 < len(o.events) else t
        part = window(o.records, t, following)
        slowest = max((r[1] for r in part), default=float("nan"))
        lines.append(
            f"| {t - traffic:.1f} | {_cell(label)} | {len(part):,} | {failed(part)} | "
            f"{ms(_p(part, 0.99))} | {ms(slowest)} |"
        )
    errors = Counter(str(r[4] or r[2]) for r in o.records if not 200 <= r[2] < 300)
    if errors:
        lines += ["", "Failures: " + "; ".join(f"{what} x{n}" for what, n in errors.most_common(8))]
    return "\n".join(lines), met


def _seconds(records: list[list[Any]]) -> str:
    due = [r[0] for r in records]
    return f"{max(due) - min(due):.0f} s" if len(due) > 1 else "0 s"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def median_ms(records: list[list[Any]]) -> str:
    return ms(statistics.median([r[1] for r in records])) if records else "-"
