"""What the fault and chaos tests share: waiting for a condition, and checking that an error is
one clear message that leaks no password."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

SECRET = "pw-Faults-7c1e9"


def wait_for(check: Callable[[], object], seconds: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def assert_one_clear_message(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert stderr.count("error:") == 1, stderr
    assert len(stderr) < 2000, stderr
    assert SECRET not in stderr
