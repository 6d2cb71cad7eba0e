"""What the benchmarks run beside the measured work: child process groups they stop, and
sampler threads that poll until stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading


def stop_group(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM the process group of ``process`` (started with ``start_new_session``), SIGKILL
    it when it has not exited within ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class Sampler:
    """A daemon thread running :meth:`_run` until :meth:`stop`; ``_run`` polls ``_stop``."""

    name = "sampler"

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        raise NotImplementedError
