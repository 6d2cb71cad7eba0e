"""The override a test passes to put a protected environment (prod) at its starting position
directly, outside promotion (db.upgrade refuses prod without it)."""

from __future__ import annotations

from agent_db.commands.protected import ProtectedOverride

SETUP_OVERRIDE = ProtectedOverride("test setup: prod is placed at its starting revision directly")
