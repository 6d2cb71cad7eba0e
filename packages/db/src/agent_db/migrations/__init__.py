"""Alembic environment and revision files, shipped inside the package."""
