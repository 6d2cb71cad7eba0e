"""The chaos run: slow fault and concurrency scenarios, each reported as one PASS or FAIL line.

Deselected from the default suite (``-m "not chaos"`` in pyproject's addopts); ``uv run invoke
chaos`` runs them. A scenario records its figures with ``record_property("figures", "...")``;
they end up on its line and in docs/reliability.md.
"""

from __future__ import annotations

import pytest

from tests.reliability.helpers import versions

__all__ = ["versions"]

_LINES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "chaos" not in report.keywords:
        return
    name = report.nodeid.split("::")[-1]
    if report.when == "call" and report.passed:
        figures = dict(report.user_properties).get("figures", "")
        _LINES.append(f"PASS {name}" + (f": {figures}" if figures else ""))
    elif report.failed:
        reason = str(report.longrepr).strip().splitlines()[-1] if report.longrepr else "failed"
        _LINES.append(f"FAIL {name} ({report.when}): {reason[:300]}")
    elif report.skipped and report.when in ("setup", "call"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
        _LINES.append(f"SKIP {name}: {reason}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _LINES:
        return
    terminalreporter.section("chaos scenarios")
    for line in _LINES:
        terminalreporter.write_line(line)
    failed = sum(line.startswith("FAIL") for line in _LINES)
    verdict = "FAIL" if failed else "PASS"
    terminalreporter.write_line(f"{verdict}: {len(_LINES) - failed} of {len(_LINES)} chaos scenarios passed")
