"""The one place that builds Alembic's ``Config``; every task, test and service goes through it.

It carries the same options as ``packages/db/alembic.ini`` (a test keeps them equal) but does not
need that file, so the installed package (the API's container) migrates without the checkout.
"""

from __future__ import annotations

from typing import Any, TextIO

from alembic.config import Config
from sqlalchemy import Connection

from agent_db.versions import VERSIONS_DIR, versions_dir

SCRIPT_LOCATION = "agent_db:migrations"
FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s"
MAIN_OPTIONS = {
    "script_location": SCRIPT_LOCATION,
    "file_template": FILE_TEMPLATE,
    "truncate_slug_length": "40",
    "timezone": "UTC",
    "path_separator": "os",
}
POST_WRITE_HOOKS = {
    "hooks": "ruff_format, ruff_fix",
    "ruff_fix.type": "module",
    "ruff_fix.module": "ruff",
    "ruff_fix.options": "check --fix-only --unfixable F401 --quiet REVISION_SCRIPT_FILENAME",
    "ruff_format.type": "module",
    "ruff_format.module": "ruff",
    "ruff_format.options": "format --quiet REVISION_SCRIPT_FILENAME",
}


def alembic_config(
    environment: str = "dev",
    *,
    connection: Connection | None = None,
    stdout: TextIO | None = None,
    output_buffer: TextIO | None = None,
    **attributes: Any,
) -> Config:
    """Alembic configuration for ``environment``.

    ``connection`` (when given) is what env.py migrates; otherwise env.py connects with the
    environment's settings. ``output_buffer`` receives offline (``--sql``) output. Extra
    ``attributes`` reach env.py through ``config.attributes``.
    """
    # Alembic's own default stdout is sys.stdout.
    config = (
        Config(output_buffer=output_buffer)
        if stdout is None
        else Config(stdout=stdout, output_buffer=output_buffer)
    )
    for key, value in MAIN_OPTIONS.items():
        config.set_main_option(key, value)
    if versions_dir() != VERSIONS_DIR:
        config.set_main_option("version_locations", str(versions_dir()))
    for key, value in POST_WRITE_HOOKS.items():
        config.set_section_option("post_write_hooks", key, value)
    config.attributes["environment"] = environment
    if connection is not None:
        config.attributes["connection"] = connection
    config.attributes.update(attributes)
    return config
