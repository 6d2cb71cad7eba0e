"""Output piped into a reader that stops early (``| head``) ends the command quietly.

When the reader closes the pipe, the next write raises ``BrokenPipeError``. Every task stops
there without a traceback: what is left to write goes to ``/dev/null`` (so the interpreter's own
flush at exit cannot fail a second time) and the command exits 141, what a shell reports for a
program ended by SIGPIPE (``git log | head`` gives the same under ``set -o pipefail``): the
output was cut short, which a script should not read as success. The recipe is the one the
Python documentation gives (https://docs.python.org/3/library/signal.html#note-on-sigpipe);
SIGPIPE itself stays ignored, so a write to a closed socket never kills the process.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

CLOSED_STDOUT_EXIT = 141  # 128 + SIGPIPE


def discard_stdout() -> None:
    """Point the process's stdout at ``/dev/null``: later writes and the flush at exit succeed."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's StringIO): nothing to do
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


class PipeAwareConsole(Console):
    """A Rich console whose closed pipe ends the command like every other write does (Rich's
    own default exits 1 from inside the console)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(32, "Broken pipe")
