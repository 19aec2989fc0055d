"""Refinery: when an AI agent's eval fails in CI, tell the team why."""

__version__ = "0.1.0"
