"""The AI Agent Platform's database package: models, migrations and the migration toolkit."""

__version__ = "0.1.0"
