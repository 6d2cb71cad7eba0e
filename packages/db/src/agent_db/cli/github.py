"""GitHub Actions annotations, so a skipped or failed deploy step shows on the run's page."""

from __future__ import annotations

import os


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def annotation(level: str, title: str, message: str) -> str:
    """A workflow command (``::warning title=...::message``) with its data escaped as GitHub
    requires, so a message cannot end the command early or start another one."""

    def escape(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    safe_title = escape(title).replace(":", "%3A").replace(",", "%2C")
    return f"::{level} title={safe_title}::{escape(message)}"


def print_annotation(level: str, title: str, message: str) -> None:
    """Print the annotation on stdout (where the runner reads workflow commands), only when
    running under GitHub Actions: anywhere else it would be noise."""
    if in_github_actions():
        print(annotation(level, title, message))
