"""The AI Agent Platform's HTTP API."""

__version__ = "0.1.0"
