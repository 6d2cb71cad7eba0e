"""Pydantic request and response models, one module per domain (kept out of the db package)."""
