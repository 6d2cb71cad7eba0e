"""The consoles: data on stdout, progress and messages on stderr.

Every piece of text that comes from outside (revision messages, another session's application
name or query, ledger rows, error messages quoting a flag) is escaped before Rich sees it: Rich
reads ``[...]`` as markup, so ``[wip]`` in a message would vanish and ``[/]`` in another
session's query would stop the run with a MarkupError.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from agent_db.cli.pipes import PipeAwareConsole

err_console = Console(stderr=True, highlight=False)


def stdout_console() -> Console:
    """A console for stdout: as wide as the terminal, or 160 columns when piped."""
    return PipeAwareConsole(width=None if sys.stdout.isatty() else 160)


def say(message: str) -> None:
    """A plain message for the person on stderr (never read as markup)."""
    err_console.print(message, markup=False, soft_wrap=True)


def warn_skipped(message: str) -> None:
    err_console.print(f"[yellow]skipped:[/] {escape(message)}", soft_wrap=True)


def print_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def print_json(data: Any) -> None:
    """One JSON document on stdout, for scripts and CI."""
    print(json.dumps(data, indent=2, default=str))


def confirm_by_typing(question: str, expected: str) -> bool:
    """Ask a person at a terminal to type ``expected``; never asks when stdin or stderr is not a
    terminal (CI, pipes), and then the answer is no."""
    if not (sys.stdin.isatty() and err_console.is_terminal):
        return False
    err_console.print(f"{escape(question)} Type [bold]{escape(expected)}[/] to go on: ", end="")
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip() == expected
